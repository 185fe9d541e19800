/*
 * config.h - the settings table (ZCOPY_* environment variables).
 *
 * Every setting is one row of the table in config.c: its variable, default,
 * parser and description.  Parsing is pure (the environment lookup and the
 * problem report are parameters) so it is unit-tested without preloading.
 * A bad value never aborts anything: it is reported and the default is kept.
 */
#ifndef ZC_CONFIG_H
#define ZC_CONFIG_H

#include <stddef.h>

enum zc_mode { ZC_MODE_OFF = 0, ZC_MODE_OBSERVE = 1, ZC_MODE_ON = 2 };

#define ZC_PATH_MAX 512
/* Room for ZCOPY_ONLY / ZCOPY_SKIP (lists of names or glob patterns). */
#define ZC_LIST_MAX 1024
/* Default smallest read that may be deferred; chosen from the chunk-size
 * sweep of `make bench` (docs/benchmarks.md). */
#define ZC_DEFAULT_MIN_CHUNK (64 * 1024)
/* Bounds accepted for ZCOPY_MIN_CHUNK: one page .. 1 GiB. */
#define ZC_MIN_CHUNK_LO 4096UL
#define ZC_MIN_CHUNK_HI (1UL << 30)

struct zc_config {
	enum zc_mode mode;
	int guard;                   /* 0 | 1 */
	char stats[ZC_PATH_MAX];     /* "" none, "stderr", or a path (may hold %p) */
	int log_level;               /* 0..3 */
	char log_file[ZC_PATH_MAX];  /* "" = stderr */
	size_t min_chunk;
	char only[ZC_LIST_MAX];      /* "" = every program */
	char skip[ZC_LIST_MAX];      /* "" = none */
};

/* Looks a variable up (getenv in the library, a fake table in tests). */
typedef const char *(*zc_getenv_fn)(const char *name);
/* Told about each value that was rejected, and why; may be NULL. */
typedef void (*zc_report_fn)(const char *var, const char *value, const char *why);
/* Told about each setting that differs from its default (for the start-up
 * log line); may be NULL. */
typedef void (*zc_changed_fn)(const char *var, const char *value);

void zc_config_defaults(struct zc_config *c);
/* Fills c from the environment; returns how many values were rejected. */
int zc_config_parse(struct zc_config *c, zc_getenv_fn get, zc_report_fn report,
		    zc_changed_fn changed);

const char *zc_mode_name(enum zc_mode m);

/* The name of the i-th variable of the table, or NULL past the end (for
 * tools that tell a misspelt variable name from a real one). */
const char *zc_config_var(size_t i);

/* The description of the i-th variable: what it accepts, its default (NULL:
 * unset) and what it does.  A literal is written `like this`; the help and
 * the generated manual and README mark it up their own way.  Returns -1 past
 * the end. */
struct zc_setting_doc {
	const char *var, *values, *def, *doc;
};
int zc_config_doc(size_t i, struct zc_setting_doc *out);

/* Does the scope (ZCOPY_ONLY / ZCOPY_SKIP) include a program?  exe is the
 * executable's path (/proc/self/exe), argv0 the name it was started as; either
 * may be "" or NULL.  A pattern with a '/' is matched (fnmatch) against the
 * paths, one without against their last components.  SKIP wins over ONLY.
 * Returns 1 if zcopy applies to the program, 0 if it stays out. */
int zc_config_in_scope(const struct zc_config *c, const char *exe, const char *argv0);

/* Expands %p in a path template with pid; returns 0, or -1 if it does not fit. */
int zc_expand_path(char *out, size_t cap, const char *tmpl, long pid);

/* Settings in force in this process (filled by the constructor). */
extern struct zc_config zc_cfg;

#endif
