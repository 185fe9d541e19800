/*
 * config.c - the settings table: every ZCOPY_* variable, its default, its
 * parser and its description, in one place (see config.h).
 *
 * Invariants: a parser either stores a valid value in its own field of the
 * config and returns 0, or leaves the config untouched and says why; so a bad
 * value keeps the default without any undo step - or, for a row with a
 * fail-safe value (ZCOPY_MODE: off), that value.  Defaults are the table's
 * own default strings run through the same parsers, so the documented
 * default and the one in force cannot drift apart (the unit tests pin the
 * min-chunk row to ZC_DEFAULT_MIN_CHUNK).  No malloc and no stdio: this runs
 * in the library constructor.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zcopy.h"

/* Settings in force; all zero (mode off, nothing written) until the
 * constructor fills it, so anything that runs before it passes through. */
struct zc_config zc_cfg;

/* field: the setting's own field in c (its off below), for the parsers
 * that several settings share; the others set their field by name. */
typedef int (*parse_fn)(struct zc_config *c, void *field, const char *v, const char **why);

struct setting {
	const char *var;
	const char *def;  /* default, written as the variable would be */
	const char *bad;  /* value in force after a rejected one; NULL = the default */
	parse_fn parse;
	size_t off, size; /* the field it sets, to tell a changed value */
	const char *values; /* what it accepts, in a few words */
	const char *doc;    /* what it does; `x` marks a literal (see config.h) */
};

/* Decimal digits only (no sign, no spaces); *end gets the first non-digit. */
static int parse_decimal(const char *v, uint64_t *out, const char **end, const char **why)
{
	uint64_t n = 0;
	const char *p = v;

	if (*p < '0' || *p > '9') {
		*why = *p ? "not a number" : "empty value";
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10) {
			*why = "number too large";
			return -1;
		}
		n = n * 10 + d;
	}
	*out = n;
	*end = p;
	return 0;
}

static int parse_int_range(const char *v, uint64_t lo, uint64_t hi, uint64_t *out,
			   const char **why)
{
	const char *end;
	if (parse_decimal(v, out, &end, why) < 0)
		return -1;
	if (*end) {
		*why = "trailing characters after the number";
		return -1;
	}
	if (*out < lo || *out > hi) {
		*why = "out of range";
		return -1;
	}
	return 0;
}

/* Case does not matter; besides "off", the usual ways of saying no mean off.
 * Anything else is rejected, and the table then puts mode off in force. */
static int parse_mode(struct zc_config *c, void *field, const char *v, const char **why)
{
	static const struct {
		const char *name;
		enum zc_mode mode;
	} modes[] = { { "off", ZC_MODE_OFF },   { "0", ZC_MODE_OFF },
		      { "false", ZC_MODE_OFF }, { "no", ZC_MODE_OFF },
		      { "observe", ZC_MODE_OBSERVE }, { "on", ZC_MODE_ON } };

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		if (strcasecmp(v, modes[i].name) == 0) {
			c->mode = modes[i].mode;
			return 0;
		}
	}
	*why = *v ? "unknown mode (expected off, observe or on)" : "empty value";
	return -1;
}

static int parse_guard(struct zc_config *c, void *field, const char *v, const char **why)
{
	uint64_t n;
	if (parse_int_range(v, 0, 1, &n, why) < 0)
		return -1;
	c->guard = (int)n;
	return 0;
}

static int parse_log(struct zc_config *c, void *field, const char *v, const char **why)
{
	uint64_t n;
	if (parse_int_range(v, 0, 3, &n, why) < 0)
		return -1;
	c->log_level = (int)n;
	return 0;
}

static int parse_min_chunk(struct zc_config *c, void *field, const char *v, const char **why)
{
	uint64_t n, unit = 1;
	const char *end;

	if (parse_decimal(v, &n, &end, why) < 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		unit = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		unit = 1024 * 1024, end++;
	if (*end) {
		*why = "trailing characters (expected a number with optional k or m)";
		return -1;
	}
	if (n > UINT64_MAX / unit) {
		*why = "number too large";
		return -1;
	}
	n *= unit;
	if (n < ZC_MIN_CHUNK_LO || n > ZC_MIN_CHUNK_HI) {
		*why = "out of range (4096 .. 1G)";
		return -1;
	}
	c->min_chunk = (size_t)n;
	return 0;
}

/* Longest decimal pid the kernel hands out (PID_MAX_LIMIT is 2^22). */
#define WIDEST_PID 4194304L

/* A path template must still fit once every %p became a pid, so the check
 * happens here rather than failing silently at exit. */
static int parse_path(struct zc_config *c, void *field, const char *v, const char **why)
{
	char probe[ZC_PATH_MAX];
	size_t n = strlen(v);

	if (n == 0) {
		*why = "empty value";
		return -1;
	}
	if (n >= ZC_PATH_MAX || zc_expand_path(probe, sizeof probe, v, WIDEST_PID) < 0) {
		*why = "path too long";
		return -1;
	}
	memset(field, 0, ZC_PATH_MAX);
	memcpy(field, v, n);
	return 0;
}

/* Items of ZCOPY_ONLY / ZCOPY_SKIP are separated by ':', ',' or blanks. */
static int is_sep(char ch)
{
	return ch == ':' || ch == ',' || ch == ' ' || ch == '\t' || ch == '\n';
}

static int parse_list(struct zc_config *c, void *field, const char *v, const char **why)
{
	size_t n = strlen(v);
	const char *p;

	for (p = v; *p && is_sep(*p); p++)
		;
	if (!*p) {
		*why = "empty list";
		return -1;
	}
	if (n >= ZC_LIST_MAX) {
		*why = "list too long";
		return -1;
	}
	memset(field, 0, ZC_LIST_MAX);
	memcpy(field, v, n);
	return 0;
}

#define FIELD(f) offsetof(struct zc_config, f), sizeof(((struct zc_config *)0)->f)

/* NULL default = the field's zero value (no stats, log on stderr).  The
 * values and doc strings are the one description of each variable: `zcopy
 * help env` prints them, and the manual's ENVIRONMENT section and the
 * README's table are generated from them (make regen-docs; make test fails
 * when they differ). */
static const struct setting settings[] = {
	{ ZCOPY_ENV_MODE, "on", "off", parse_mode, FIELD(mode), "`off`, `observe`, `on`",
	  "`off`: pure pass-through (the A side of an A/B run). `observe`: detect and count "
	  "what would be redirected, change nothing. `on`: redirect. Case does not matter; "
	  "`0`, `false` and `no` also mean `off`; anything else (a misspelling, a stray "
	  "blank) means `off` and is reported." },
	{ ZCOPY_ENV_GUARD, "1", NULL, parse_guard, FIELD(guard), "`0`, `1`",
	  "Also defer reads into buffers whose alignment does not match the file offset "
	  "(malloc'd buffers, which start 16 bytes into a page; static buffers; a new buffer "
	  "per read, as python, perl and node allocate them): the whole pages inside the "
	  "buffer are made inaccessible until the program or a system call needs them "
	  "(README, Limitations, Guard mode). `0`: such buffers are read plainly, and "
	  "observe mode counts what guards would have moved." },
	{ ZCOPY_ENV_STATS, NULL, NULL, parse_path, FIELD(stats), "PATH or `stderr`",
	  "At exit, append one JSON line of counters per process to PATH (`%p` becomes the "
	  "pid); `stderr` prints a one-line summary on standard error instead, for each "
	  "process that went through zcopy, while descriptor 2 is still the file it was at "
	  "start-up. A relative PATH is taken from the directory the process started in. "
	  "The file is opened without following a symbolic link and must be a regular file "
	  "(a FIFO or device is refused without waiting); a new file gets mode 0600; a "
	  "refused or unwritable path is reported once when `ZCOPY_LOG` is 1 or more." },
	{ ZCOPY_ENV_LOG, "0", NULL, parse_log, FIELD(log_level), "`0` to `3`",
	  "Diagnostics on standard error: `1` problems and the settings that differ from "
	  "their defaults, `2` also decisions (among them each stream starting, going "
	  "through memory for a new reason or backing off, and ending, with its source and "
	  "destination paths), `3` also every redirected call." },
	{ ZCOPY_ENV_LOG_FILE, NULL, NULL, parse_path, FIELD(log_file), "PATH",
	  "Write the diagnostics to PATH (`%p` becomes the pid) instead of standard error. "
	  "It is opened as the `ZCOPY_STATS` file is; a refused file is reported on standard "
	  "error, where the diagnostics then go." },
	{ ZCOPY_ENV_MIN_CHUNK, "64k", NULL, parse_min_chunk, FIELD(min_chunk),
	  "bytes, with a `k` or `m` suffix",
	  "The smallest read that may be deferred, from 4096 to 1G. The default comes from "
	  "the chunk-size sweep of `make bench` (docs/benchmarks.md)." },
	{ ZCOPY_ENV_ONLY, NULL, NULL, parse_list, FIELD(only), "names or globs",
	  "Apply only to the programs this list matches, for when `LD_PRELOAD` is set for a "
	  "whole shell, service or container. Its items are program names or glob(7) "
	  "patterns, separated by colons, commas or blanks. A pattern with a `/` is matched "
	  "against the executable's path (/proc/self/exe) and the path it was started as; one "
	  "without, against their last components (so `dd` matches /usr/bin/dd and a busybox "
	  "applet started as dd). Checked once at start-up: a program left out behaves "
	  "exactly as without the library (mode off, no statistics record, nothing on "
	  "standard error)." },
	{ ZCOPY_ENV_SKIP, NULL, NULL, parse_list, FIELD(skip), "names or globs",
	  "Stay out of the programs this list matches (written as for `ZCOPY_ONLY`); wins "
	  "over `ZCOPY_ONLY`." },
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static const char *env_get(const char *name)
{
	return getenv(name);
}

void zc_config_defaults(struct zc_config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *why;
		if (settings[i].def)
			(void)settings[i].parse(c, (char *)c + settings[i].off, settings[i].def, &why);
	}
}

int zc_config_parse(struct zc_config *c, zc_getenv_fn get, zc_report_fn report,
		    zc_changed_fn changed)
{
	struct zc_config def;
	int rejected = 0;

	if (!get)
		get = env_get;
	zc_config_defaults(&def);
	*c = def;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v = get(s->var);
		const char *why = "invalid value";

		if (!v)
			continue;
		if (s->parse(c, (char *)c + s->off, v, &why) < 0) {
			const char *ignored;
			rejected++;
			if (s->bad)
				(void)s->parse(c, (char *)c + s->off, s->bad, &ignored);
			if (report)
				report(s->var, v, why);
			continue;
		}
		if (changed && memcmp((char *)c + s->off, (char *)&def + s->off, s->size) != 0)
			changed(s->var, v);
	}
	return rejected;
}

const char *zc_config_var(size_t i)
{
	return i < NSETTINGS ? settings[i].var : NULL;
}

int zc_config_doc(size_t i, struct zc_setting_doc *out)
{
	if (i >= NSETTINGS)
		return -1;
	out->var = settings[i].var;
	out->values = settings[i].values;
	out->def = settings[i].def;
	out->doc = settings[i].doc;
	return 0;
}

static const char *last_part(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Does one item (len bytes at item) match the program? */
static int item_matches(const char *item, size_t len, const char *exe, const char *argv0)
{
	char pat[ZC_LIST_MAX];
	const char *names[2] = { exe, argv0 };

	memcpy(pat, item, len);
	pat[len] = '\0';
	for (int i = 0; i < 2; i++) {
		const char *name = names[i];
		if (!name || !*name)
			continue;
		if (strchr(pat, '/') ? fnmatch(pat, name, 0) == 0
				     : fnmatch(pat, last_part(name), 0) == 0)
			return 1;
	}
	return 0;
}

static int list_matches(const char *list, const char *exe, const char *argv0)
{
	const char *p = list;

	while (*p) {
		size_t len = 0;
		while (*p && is_sep(*p))
			p++;
		while (p[len] && !is_sep(p[len]))
			len++;
		if (len && item_matches(p, len, exe, argv0))
			return 1;
		p += len;
	}
	return 0;
}

int zc_config_in_scope(const struct zc_config *c, const char *exe, const char *argv0)
{
	if (c->skip[0] && list_matches(c->skip, exe, argv0))
		return 0;
	if (c->only[0] && !list_matches(c->only, exe, argv0))
		return 0;
	return 1;
}

const char *zc_mode_name(enum zc_mode m)
{
	switch (m) {
	case ZC_MODE_OFF:
		return "off";
	case ZC_MODE_OBSERVE:
		return "observe";
	case ZC_MODE_ON:
		return "on";
	}
	return "unknown";
}

int zc_expand_path(char *out, size_t cap, const char *tmpl, long pid)
{
	char digits[24];
	size_t nd = 0, len = 0;
	unsigned long u = pid < 0 ? 0UL - (unsigned long)pid : (unsigned long)pid;

	do
		digits[nd++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (pid < 0)
		digits[nd++] = '-';

	if (cap == 0)
		return -1;
	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			if (cap - len <= nd)
				goto overflow;
			for (size_t i = nd; i-- > 0;)
				out[len++] = digits[i];
			p++;
			continue;
		}
		if (p[0] == '%' && p[1] == '%')
			p++;
		if (cap - len <= 1)
			goto overflow;
		out[len++] = *p;
	}
	out[len] = '\0';
	return 0;
overflow:
	out[0] = '\0';
	return -1;
}
