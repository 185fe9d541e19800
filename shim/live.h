/*
 * live.h - the live page: a process's counters while it runs (live.c).
 *
 * A process that goes through zcopy (its first counter) creates one small
 * file, named after its pid, in a directory of the user's own:
 * $XDG_RUNTIME_DIR/zcopy, else /run/user/UID/zcopy, else /tmp/zcopy-UID
 * (each mode 0700, owned by the user, not a symbolic link).  The file holds
 * one struct zc_live_page, mapped shared: the process counts into it, and
 * `zcopy stat` reads it.  It is removed at exit and on the way to a fatal
 * signal's default action; a process killed by SIGKILL leaves it behind,
 * and readers skip a file whose process is gone (or runs another program).
 *
 * This header is shared with the zcopy command (the layout and the
 * directory rule), so it keeps to plain C and libc.
 */
#ifndef ZC_LIVE_H
#define ZC_LIVE_H

#include <stdint.h>
#include <string.h>

#include "stats.h"

#define ZC_LIVE_MAGIC "zclive1"
#define ZC_LIVE_SIZE 4096

struct zc_live_page {
	char magic[8];   /* ZC_LIVE_MAGIC, written last */
	int64_t pid;
	char mode[16];
	char exe[1024];  /* /proc/self/exe when the page was made */
	struct zc_stats base; /* what was counted before the page existed */
	struct zc_stats live; /* counted since (relaxed atomics) */
};

_Static_assert(sizeof(struct zc_live_page) <= ZC_LIVE_SIZE, "the live page is one page");

/*
 * The directory of live pages for uid: the first of $XDG_RUNTIME_DIR (an
 * absolute path), /run/user/UID that is_own_dir accepts (a directory owned
 * by uid, not a link), plus "/zcopy"; else /tmp/zcopy-UID.  Returns 0, or -1
 * if it does not fit.
 */
/* Appends s to out[*n] (bounded; *n past cap when it did not fit). */
static inline void zc_live_cat(char *out, size_t cap, size_t *n, const char *s)
{
	for (; *s; s++, ++*n)
		if (*n + 1 < cap)
			out[*n] = *s;
	out[*n < cap ? *n : cap - 1] = '\0';
}

static inline void zc_live_cat_uint(char *out, size_t cap, size_t *n, unsigned v)
{
	char tmp[16];
	size_t i = sizeof tmp - 1;
	tmp[i] = '\0';
	do
		tmp[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	zc_live_cat(out, cap, n, tmp + i);
}

static inline int zc_live_dir(char *out, size_t cap, const char *xdg, unsigned uid,
			      int (*is_own_dir)(const char *path, unsigned uid))
{
	char run[32];
	size_t n = 0, r = 0;

	if (cap == 0)
		return -1;
	zc_live_cat(run, sizeof run, &r, "/run/user/");
	zc_live_cat_uint(run, sizeof run, &r, uid);
	if (xdg && xdg[0] == '/' && is_own_dir(xdg, uid)) {
		zc_live_cat(out, cap, &n, xdg);
		zc_live_cat(out, cap, &n, "/zcopy");
	} else if (is_own_dir(run, uid)) {
		zc_live_cat(out, cap, &n, run);
		zc_live_cat(out, cap, &n, "/zcopy");
	} else {
		zc_live_cat(out, cap, &n, "/tmp/zcopy-");
		zc_live_cat_uint(out, cap, &n, uid);
	}
	return n < cap ? 0 : -1;
}

/* The library: where the page goes (at start-up, ZCOPY_STATS or not). */
void zc_live_init(void);
/* The counters to add to: the page once it exists (made on first use). */
struct zc_stats *zc_live_start(void);
/* Removes the page's file (exit, fatal signal).  Async-signal-safe. */
void zc_live_remove(void);
/* A forked child: the parent's page is not its own. */
void zc_live_after_fork_child(void);
/* Adds what the page counted into s (the record at exit). */
void zc_live_add_to(struct zc_stats *s);

#endif
