/*
 * stat.c - `zcopy stat [PID...]`: the live counters of running processes.
 *
 * Each process under zcopy that has counted something keeps a live page
 * (shim/live.h) in the user's directory for them; this reads those pages.
 * A page whose process is gone (killed by SIGKILL, which leaves no chance to
 * remove it) is removed here; one whose pid now runs another program is
 * skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "live.h"
#include "tool.h"

static int is_own_dir(const char *path, unsigned uid)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid;
}

/* Reads the page of pid into p: 1, or 0 when there is none to show. */
static int read_page(const char *dir, long pid, struct zc_live_page *p)
{
	char path[PATH_MAX + 32], exe[sizeof p->exe];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%ld", dir, pid);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, p, sizeof *p);
	close(fd);
	if (n != (ssize_t)sizeof *p || memcmp(p->magic, ZC_LIVE_MAGIC, sizeof p->magic) != 0 ||
	    p->pid != pid)
		return 0;
	p->exe[sizeof p->exe - 1] = '\0';
	p->mode[sizeof p->mode - 1] = '\0';
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
		unlink(path); /* left by a process that could not remove it */
		return 0;
	}
	snprintf(path, sizeof path, "/proc/%ld/exe", pid);
	n = readlink(path, exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (strcmp(exe, p->exe) != 0)
			return 0; /* the pid runs another program now */
	}
	return 1;
}

#define ZT_FB_KEY(name, key, desc) key,
static const char *const fallback_keys[ZC_FB__COUNT] = { ZC_FALLBACK_LIST(ZT_FB_KEY) };
#undef ZT_FB_KEY

static void add(struct zc_stats *d, const struct zc_stats *s)
{
	uint64_t *dv = (uint64_t *)d;
	const uint64_t *sv = (const uint64_t *)s;
	for (size_t i = 0; i < sizeof *d / sizeof *dv; i++)
		dv[i] += sv[i];
}

static void show(const struct zc_live_page *p)
{
	struct zc_stats s = p->base;
	char zc[32], cp[32], would[32], why[80] = "-";
	uint64_t best = 0;

	add(&s, &p->live);
	zt_human_bytes(s.bytes_zero_copy, zc, sizeof zc);
	zt_human_bytes(s.bytes_copied, cp, sizeof cp);
	zt_human_bytes(s.would_zero_copy_bytes, would, sizeof would);
	for (int i = 0; i < ZC_FB__COUNT; i++)
		if (s.fallback_bytes[i] > best) {
			best = s.fallback_bytes[i];
			snprintf(why, sizeof why, "%s", fallback_keys[i]);
		}
	printf("%-8lld %-8s %11s %11s %11s  %-22s %s\n", (long long)p->pid, p->mode, zc, cp, would,
	       why, p->exe);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int zt_cmd_stat(int argc, char **argv)
{
	char dir[PATH_MAX];
	long *pids = NULL;
	size_t n = 0, cap = 0;
	int shown = 0, missing = 0;

	if (argc > 1 && strcmp(argv[1], "--") == 0)
		argc--, argv++;
	for (int i = 1; i < argc; i++) {
		char *end;
		errno = 0;
		long v = strtol(argv[i], &end, 10);
		if (errno || end == argv[i] || *end || v <= 0)
			return zt_usage_error("stat", "'%s' is not a process id", argv[i]);
	}
	if (zc_live_dir(dir, sizeof dir, getenv("XDG_RUNTIME_DIR"), (unsigned)getuid(),
			is_own_dir) != 0) {
		zt_err(0, "stat: the directory of live counters does not fit in a path");
		return ZT_EXIT_INTERNAL;
	}
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if (n == cap && !(pids = realloc(pids, (cap = cap * 2 + 8) * sizeof *pids)))
				return ZT_EXIT_INTERNAL;
			pids[n++] = strtol(argv[i], NULL, 10);
		}
	} else {
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			char *end;
			long v = strtol(e->d_name, &end, 10);
			if (v <= 0 || *end)
				continue;
			if (n == cap && !(pids = realloc(pids, (cap = cap * 2 + 8) * sizeof *pids)))
				return ZT_EXIT_INTERNAL;
			pids[n++] = v;
		}
		if (d)
			closedir(d);
		qsort(pids, n, sizeof *pids, cmp_long);
	}
	for (size_t i = 0; i < n; i++) {
		static struct zc_live_page p;
		if (!read_page(dir, pids[i], &p)) {
			if (argc > 1) {
				zt_err(0, "stat: no live counters for process %ld (not running under "
					  "zcopy, or nothing counted yet)", pids[i]);
				missing = 1;
			}
			continue;
		}
		if (!shown++)
			printf("%-8s %-8s %11s %11s %11s  %-22s %s\n", "PID", "MODE", "ZERO-COPY",
			       "COPIED", "WOULD", "MAIN-FALLBACK", "EXE");
		show(&p);
	}
	free(pids);
	if (!shown && argc <= 1)
		zt_err(0, "stat: no process under zcopy has live counters (%s)", dir);
	if (fflush(stdout) != 0 || ferror(stdout))
		return ZT_EXIT_INTERNAL;
	return shown && !missing ? ZT_EXIT_OK : ZT_EXIT_INTERNAL;
}
