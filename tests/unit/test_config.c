/*
 * test_config.c - the settings table: defaults, every variable's accepted
 * values, rejection of bad values (reported once, default kept, counted), the
 * changed-from-default callback, and %p path expansion.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "unit.h"
#include "zcopy.h"

/* ---- a fake environment and recording callbacks ------------------------- */

#define ENV_MAX 8
static struct {
	const char *name, *value;
} env[ENV_MAX];
static int env_n;

struct call {
	char var[64];
	char value[2048];
	char why[128];
};
static struct call reports[ENV_MAX], changes[ENV_MAX];
static int n_reports, n_changes;

static void env_set(const char *name, const char *value)
{
	assert_true(env_n < ENV_MAX);
	env[env_n].name = name;
	env[env_n].value = value;
	env_n++;
}

static const char *fake_getenv(const char *name)
{
	for (int i = 0; i < env_n; i++)
		if (strcmp(env[i].name, name) == 0)
			return env[i].value;
	return NULL;
}

static void record(struct call *c, const char *var, const char *value, const char *why)
{
	snprintf(c->var, sizeof c->var, "%s", var);
	snprintf(c->value, sizeof c->value, "%s", value);
	snprintf(c->why, sizeof c->why, "%s", why ? why : "");
}

static void on_report(const char *var, const char *value, const char *why)
{
	assert_true(n_reports < ENV_MAX);
	record(&reports[n_reports++], var, value, why);
}

static void on_changed(const char *var, const char *value)
{
	assert_true(n_changes < ENV_MAX);
	record(&changes[n_changes++], var, value, NULL);
}

static int reset(void **state)
{
	env_n = n_reports = n_changes = 0;
	return 0;
}

static int parse(struct zc_config *c)
{
	return zc_config_parse(c, fake_getenv, on_report, on_changed);
}

static void assert_is_default(const struct zc_config *c)
{
	struct zc_config def;
	zc_config_defaults(&def);
	assert_int_equal(c->mode, def.mode);
	assert_int_equal(c->guard, def.guard);
	assert_string_equal(c->stats, def.stats);
	assert_int_equal(c->log_level, def.log_level);
	assert_string_equal(c->log_file, def.log_file);
	assert_int_equal(c->min_chunk, def.min_chunk);
	assert_string_equal(c->only, def.only);
	assert_string_equal(c->skip, def.skip);
}

/* Parses a single variable that must be accepted; returns the config. */
static struct zc_config parse_one_good(const char *var, const char *value)
{
	struct zc_config c;
	env_set(var, value);
	assert_int_equal(parse(&c), 0);
	assert_int_equal(n_reports, 0);
	return c;
}

/* ---- defaults ------------------------------------------------------------ */

static void defaults_match_the_contract(void **state)
{
	struct zc_config c;
	memset(&c, 0xa5, sizeof c);
	zc_config_defaults(&c);
	assert_int_equal(c.mode, ZC_MODE_ON);
	assert_int_equal(c.guard, 1);
	assert_string_equal(c.stats, "");
	assert_int_equal(c.log_level, 0);
	assert_string_equal(c.log_file, "");
	assert_int_equal(c.min_chunk, ZC_DEFAULT_MIN_CHUNK);
}

static void empty_environment_gives_defaults_silently(void **state)
{
	struct zc_config c;
	memset(&c, 0xa5, sizeof c);
	assert_int_equal(parse(&c), 0);
	assert_is_default(&c);
	assert_int_equal(n_reports, 0);
	assert_int_equal(n_changes, 0);
}

static void null_callbacks_are_allowed(void **state)
{
	struct zc_config c;
	env_set(ZCOPY_ENV_MODE, "bogus");
	env_set(ZCOPY_ENV_GUARD, "0");
	assert_int_equal(zc_config_parse(&c, fake_getenv, NULL, NULL), 1);
	assert_int_equal(c.mode, ZC_MODE_OFF);
	assert_int_equal(c.guard, 0);
}

/* ---- good values ---------------------------------------------------------- */

static void mode_off(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MODE, "off").mode, ZC_MODE_OFF);
}

static void mode_observe(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MODE, "observe").mode, ZC_MODE_OBSERVE);
}

static void mode_on(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MODE, "on").mode, ZC_MODE_ON);
}

/* Case does not matter, and the usual ways of saying "no" mean off. */
static void mode_words_in_any_case(void **state)
{
	static const struct {
		const char *v;
		enum zc_mode m;
	} ok[] = { { "OFF", ZC_MODE_OFF },   { "Off", ZC_MODE_OFF },	{ "0", ZC_MODE_OFF },
		   { "false", ZC_MODE_OFF }, { "FALSE", ZC_MODE_OFF },	{ "no", ZC_MODE_OFF },
		   { "No", ZC_MODE_OFF },    { "ON", ZC_MODE_ON },	{ "Observe", ZC_MODE_OBSERVE } };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		reset(state);
		assert_int_equal(parse_one_good(ZCOPY_ENV_MODE, ok[i].v).mode, ok[i].m);
	}
}

static void guard_0(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_GUARD, "0").guard, 0);
}

static void guard_1(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_GUARD, "1").guard, 1);
}

static void min_chunk_in_bytes(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "131072").min_chunk, 131072);
}

static void min_chunk_65536(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "65536").min_chunk, 65536);
}

static void min_chunk_k_suffix_is_kib(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "64k").min_chunk, 65536);
	reset(state);
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "128K").min_chunk, 131072);
}

static void min_chunk_m_suffix_is_mib(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "1M").min_chunk, 1048576);
	reset(state);
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "2m").min_chunk, 2097152);
}

static void min_chunk_bounds_are_inclusive(void **state)
{
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "4096").min_chunk, ZC_MIN_CHUNK_LO);
	reset(state);
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "4k").min_chunk, ZC_MIN_CHUNK_LO);
	reset(state);
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "1073741824").min_chunk,
			 ZC_MIN_CHUNK_HI);
	reset(state);
	assert_int_equal(parse_one_good(ZCOPY_ENV_MIN_CHUNK, "1024M").min_chunk, ZC_MIN_CHUNK_HI);
}

static void stats_path_is_kept_as_a_template(void **state)
{
	struct zc_config c = parse_one_good(ZCOPY_ENV_STATS, "/tmp/zc-stats.%p.json");
	/* %p is expanded when the record is written, in the process writing it */
	assert_string_equal(c.stats, "/tmp/zc-stats.%p.json");
}

static void stats_stderr(void **state)
{
	assert_string_equal(parse_one_good(ZCOPY_ENV_STATS, "stderr").stats, "stderr");
}

static void stats_longest_path_fits(void **state)
{
	char path[ZC_PATH_MAX];
	memset(path, 'a', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	assert_string_equal(parse_one_good(ZCOPY_ENV_STATS, path).stats, path);
}

static void log_levels_0_to_3(void **state)
{
	static const char *const v[] = { "0", "1", "2", "3" };
	for (int i = 0; i < 4; i++) {
		reset(state);
		assert_int_equal(parse_one_good(ZCOPY_ENV_LOG, v[i]).log_level, i);
	}
}

static void log_file_path(void **state)
{
	assert_string_equal(parse_one_good(ZCOPY_ENV_LOG_FILE, "/var/tmp/zc.%p.log").log_file,
			    "/var/tmp/zc.%p.log");
}

static void all_variables_at_once(void **state)
{
	struct zc_config c;
	env_set(ZCOPY_ENV_MODE, "observe");
	env_set(ZCOPY_ENV_GUARD, "0");
	env_set(ZCOPY_ENV_STATS, "stderr");
	env_set(ZCOPY_ENV_LOG, "2");
	env_set(ZCOPY_ENV_LOG_FILE, "/tmp/l");
	env_set(ZCOPY_ENV_MIN_CHUNK, "256k");
	assert_int_equal(parse(&c), 0);
	assert_int_equal(c.mode, ZC_MODE_OBSERVE);
	assert_int_equal(c.guard, 0);
	assert_string_equal(c.stats, "stderr");
	assert_int_equal(c.log_level, 2);
	assert_string_equal(c.log_file, "/tmp/l");
	assert_int_equal(c.min_chunk, 256 * 1024);
	assert_int_equal(n_changes, 6);
}

/* ---- bad values: reported once, default kept, counted --------------------- */

/* var=value parsed into c: one report of that pair, with a reason, and
 * no setting changed. */
static void parse_rejecting(struct zc_config *c, const char *var, const char *value)
{
	env_set(var, value);
	assert_int_equal(parse(c), 1);
	assert_int_equal(n_reports, 1);
	assert_string_equal(reports[0].var, var);
	assert_string_equal(reports[0].value, value);
	assert_true(reports[0].why[0] != '\0');
	assert_int_equal(n_changes, 0);
}

static void check_rejected(const char *var, const char *value)
{
	struct zc_config c;
	parse_rejecting(&c, var, value);
	assert_is_default(&c);
}

#define REJECTS(name, var, value)                                                         \
	static void name(void **state)                                                    \
	{                                                                                 \
		check_rejected(var, value);                                               \
	}

/* A mode that is not understood is reported, and zcopy is off: whoever
 * misspelt "off" must not get zcopy on. */
static void check_mode_fails_safe(const char *value)
{
	struct zc_config c;
	parse_rejecting(&c, ZCOPY_ENV_MODE, value);
	assert_int_equal(c.mode, ZC_MODE_OFF);
	c.mode = ZC_MODE_ON; /* everything else is the default */
	assert_is_default(&c);
}

#define MODE_FAILS_SAFE(name, value)                                                      \
	static void name(void **state)                                                    \
	{                                                                                 \
		check_mode_fails_safe(value);                                             \
	}

MODE_FAILS_SAFE(mode_unknown_word, "fast")
MODE_FAILS_SAFE(mode_disabled, "disabled")
MODE_FAILS_SAFE(mode_number, "1")
MODE_FAILS_SAFE(mode_empty, "")
MODE_FAILS_SAFE(mode_trailing_space, "on ")
MODE_FAILS_SAFE(mode_off_trailing_space, "off ")
MODE_FAILS_SAFE(mode_off_leading_space, " off")
REJECTS(guard_2, ZCOPY_ENV_GUARD, "2")
REJECTS(guard_word, ZCOPY_ENV_GUARD, "yes")
REJECTS(guard_empty, ZCOPY_ENV_GUARD, "")
REJECTS(guard_negative, ZCOPY_ENV_GUARD, "-1")
REJECTS(log_4_out_of_range, ZCOPY_ENV_LOG, "4")
REJECTS(log_trailing_junk, ZCOPY_ENV_LOG, "1x")
REJECTS(log_empty, ZCOPY_ENV_LOG, "")
REJECTS(log_overflow, ZCOPY_ENV_LOG, "99999999999999999999999")
REJECTS(min_chunk_not_a_number, ZCOPY_ENV_MIN_CHUNK, "abc")
REJECTS(min_chunk_empty, ZCOPY_ENV_MIN_CHUNK, "")
REJECTS(min_chunk_only_suffix, ZCOPY_ENV_MIN_CHUNK, "k")
REJECTS(min_chunk_below_one_page, ZCOPY_ENV_MIN_CHUNK, "4095")
REJECTS(min_chunk_zero, ZCOPY_ENV_MIN_CHUNK, "0")
REJECTS(min_chunk_above_1g, ZCOPY_ENV_MIN_CHUNK, "1073741825")
REJECTS(min_chunk_2048m_above_1g, ZCOPY_ENV_MIN_CHUNK, "2048M")
REJECTS(min_chunk_overflow_digits, ZCOPY_ENV_MIN_CHUNK, "18446744073709551616")
REJECTS(min_chunk_overflow_by_suffix, ZCOPY_ENV_MIN_CHUNK, "18446744073709551615k")
REJECTS(min_chunk_trailing_junk, ZCOPY_ENV_MIN_CHUNK, "64kb")
REJECTS(min_chunk_space_before_suffix, ZCOPY_ENV_MIN_CHUNK, "64 k")
REJECTS(min_chunk_unknown_suffix, ZCOPY_ENV_MIN_CHUNK, "1G")
REJECTS(min_chunk_hex, ZCOPY_ENV_MIN_CHUNK, "0x10000")
REJECTS(min_chunk_sign, ZCOPY_ENV_MIN_CHUNK, "+65536")
REJECTS(min_chunk_fraction, ZCOPY_ENV_MIN_CHUNK, "1.5M")
REJECTS(stats_empty, ZCOPY_ENV_STATS, "")
REJECTS(log_file_empty, ZCOPY_ENV_LOG_FILE, "")
REJECTS(only_empty, ZCOPY_ENV_ONLY, "")
REJECTS(only_separators_only, ZCOPY_ENV_ONLY, " :, ")
REJECTS(skip_empty, ZCOPY_ENV_SKIP, "")

/* var set to len copies of c (one more than its limit) is rejected. */
static void check_too_long(const char *var, char c, size_t len)
{
	char value[ZC_PATH_MAX + ZC_LIST_MAX + 1];
	assert_true(len < sizeof value);
	memset(value, c, len);
	value[len] = '\0';
	check_rejected(var, value);
}

static void only_list_too_long(void **state)
{
	check_too_long(ZCOPY_ENV_ONLY, 'c', ZC_LIST_MAX);
}

static void stats_path_too_long(void **state)
{
	check_too_long(ZCOPY_ENV_STATS, 'a', ZC_PATH_MAX);
}

static void log_file_path_too_long(void **state)
{
	check_too_long(ZCOPY_ENV_LOG_FILE, 'b', ZC_PATH_MAX);
}

/* Short enough as written, too long once each %p is a pid. */
static void stats_path_too_long_after_expansion(void **state)
{
	char path[ZC_PATH_MAX];
	size_t i = 0;
	while (i + 2 < ZC_PATH_MAX - 1) {
		path[i++] = '%';
		path[i++] = 'p';
	}
	path[i] = '\0';
	check_rejected(ZCOPY_ENV_STATS, path);
}

static void several_bad_values_are_each_counted(void **state)
{
	struct zc_config c;
	env_set(ZCOPY_ENV_MODE, "turbo");
	env_set(ZCOPY_ENV_GUARD, "2");
	env_set(ZCOPY_ENV_LOG, "9");
	env_set(ZCOPY_ENV_MIN_CHUNK, "1M");
	assert_int_equal(parse(&c), 3);
	assert_int_equal(n_reports, 3);
	assert_string_equal(reports[0].var, ZCOPY_ENV_MODE);
	assert_string_equal(reports[1].var, ZCOPY_ENV_GUARD);
	assert_string_equal(reports[2].var, ZCOPY_ENV_LOG);
	assert_int_equal(c.mode, ZC_MODE_OFF);
	assert_int_equal(c.guard, 1); /* the default kept */
	assert_int_equal(c.log_level, 0);
	/* the good value next to them still applies */
	assert_int_equal(c.min_chunk, 1048576);
}

/* ---- changed(): only settings that differ from their default ------------- */

static void changed_called_only_for_non_defaults(void **state)
{
	struct zc_config c;
	env_set(ZCOPY_ENV_MODE, "on");          /* the default, written out */
	env_set(ZCOPY_ENV_GUARD, "0");          /* changed */
	env_set(ZCOPY_ENV_LOG, "0");            /* the default */
	env_set(ZCOPY_ENV_MIN_CHUNK, "65536");  /* the default, spelled differently */
	env_set(ZCOPY_ENV_STATS, "/tmp/s.json"); /* changed */
	assert_int_equal(parse(&c), 0);
	assert_int_equal(n_changes, 2);
	assert_string_equal(changes[0].var, ZCOPY_ENV_GUARD);
	assert_string_equal(changes[0].value, "0");
	assert_string_equal(changes[1].var, ZCOPY_ENV_STATS);
	assert_string_equal(changes[1].value, "/tmp/s.json");
}

static void changed_not_called_for_rejected_values(void **state)
{
	struct zc_config c;
	env_set(ZCOPY_ENV_MODE, "sideways");
	assert_int_equal(parse(&c), 1);
	assert_int_equal(n_changes, 0);
}

/* ---- mode names ------------------------------------------------------------ */

static void mode_names(void **state)
{
	assert_string_equal(zc_mode_name(ZC_MODE_OFF), "off");
	assert_string_equal(zc_mode_name(ZC_MODE_OBSERVE), "observe");
	assert_string_equal(zc_mode_name(ZC_MODE_ON), "on");
	assert_non_null(zc_mode_name((enum zc_mode)42));
}

/* ---- scope: ZCOPY_ONLY / ZCOPY_SKIP ----------------------------------------- */

static struct zc_config scope(const char *only, const char *skip)
{
	struct zc_config c;
	if (only)
		env_set(ZCOPY_ENV_ONLY, only);
	if (skip)
		env_set(ZCOPY_ENV_SKIP, skip);
	assert_int_equal(parse(&c), 0);
	return c;
}

/* ZCOPY_ONLY and ZCOPY_SKIP (NULL: unset), a program (its executable and
 * the name it was started as) and whether it is in scope. */
static const struct {
	const char *only, *skip, *exe, *name;
	int in;
} scopes[] = {
	/* unset: everywhere */
	{ NULL, NULL, "/usr/bin/cat", "cat", 1 },
	{ NULL, NULL, "", NULL, 1 },
	/* names match the last component */
	{ "dd, rsync:cp", NULL, "/usr/bin/dd", "dd", 1 },
	{ "dd, rsync:cp", NULL, "/usr/bin/rsync", "/usr/bin/rsync", 1 },
	{ "dd, rsync:cp", NULL, "/usr/bin/cp", "cp", 1 },
	{ "dd, rsync:cp", NULL, "/usr/bin/cat", "cat", 0 },
	{ "dd, rsync:cp", NULL, "/usr/bin/ddrescue", "ddrescue", 0 },
	/* busybox applets: the executable is busybox, the name is the applet */
	{ "dd", NULL, "/bin/busybox", "dd", 1 },
	{ "dd", NULL, "/bin/busybox", "cat", 0 },
	/* globs and paths; a pattern with a '/' is not matched against a bare name */
	{ "py*:/opt/legacy/*", NULL, "/usr/bin/python3.11", "python3", 1 },
	{ "py*:/opt/legacy/*", NULL, "/opt/legacy/bin/server", "server", 1 },
	{ "py*:/opt/legacy/*", NULL, "/usr/bin/perl", "perl", 0 },
	{ "py*:/opt/legacy/*", NULL, "/srv/legacy/x", "x", 0 },
	/* skip wins over only */
	{ "*", "sh:bash:dash", "/usr/bin/dash", "sh", 0 },
	{ "*", "sh:bash:dash", "/usr/bin/bash", "bash", 0 },
	{ "*", "sh:bash:dash", "/usr/bin/cat", "cat", 1 },
	/* skip alone */
	{ NULL, "sshd", "/usr/sbin/sshd", "sshd", 0 },
	{ NULL, "sshd", "/usr/bin/cat", "cat", 1 },
};

static void scope_table(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(scopes); i++) {
		reset(state);
		struct zc_config c = scope(scopes[i].only, scopes[i].skip);
		int in = zc_config_in_scope(&c, scopes[i].exe, scopes[i].name) != 0;
		if (in != scopes[i].in)
			fail_msg("ONLY=%s SKIP=%s: %s started as %s: in scope %d, wanted %d",
				 scopes[i].only ? scopes[i].only : "(unset)",
				 scopes[i].skip ? scopes[i].skip : "(unset)", scopes[i].exe,
				 scopes[i].name ? scopes[i].name : "(none)", in, scopes[i].in);
	}
}

static void config_var_names_the_table(void **state)
{
	int seen_mode = 0, seen_skip = 0;
	size_t i;
	for (i = 0; zc_config_var(i); i++) {
		seen_mode |= strcmp(zc_config_var(i), ZCOPY_ENV_MODE) == 0;
		seen_skip |= strcmp(zc_config_var(i), ZCOPY_ENV_SKIP) == 0;
	}
	assert_true(seen_mode && seen_skip);
	assert_int_equal(i, 8);
}

/* ---- %p expansion ----------------------------------------------------------- */

/* Templates that fit: %p becomes the pid, every time; %% is a literal %;
 * other % sequences stay; a path without % is copied; a result of exactly
 * the capacity (7 bytes + NUL in 8) fits. */
static void expand_templates(void **state)
{
	static const struct {
		const char *tmpl;
		long pid;
		const char *want;
		size_t cap;
	} cases[] = {
		{ "/tmp/zc.%p.json", 1234, "/tmp/zc.1234.json", 64 },
		{ "%p/%p-%p", 7, "7/7-7", 64 },
		{ "a%%p%%%p", 42, "a%p%42", 64 },
		{ "x%d%", 5, "x%d%", 64 },
		{ "/plain/path", 99, "/plain/path", 64 },
		{ "ab%p", 12345, "ab12345", 8 },
		{ "%p", 0, "0", 64 },
		{ "%p", 4194304, "4194304", 64 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char out[64];
		assert_int_equal(zc_expand_path(out, cases[i].cap, cases[i].tmpl, cases[i].pid), 0);
		assert_string_equal(out, cases[i].want);
	}
}

static void expand_one_byte_short_fails(void **state)
{
	char out[8];
	memset(out, 'z', sizeof out);
	assert_int_equal(zc_expand_path(out, sizeof out, "ab%p", 123456), -1);
	assert_int_equal(out[0], '\0');
	assert_int_equal(zc_expand_path(out, sizeof out, "abcdefgh", 1), -1);
}

static void expand_zero_capacity_fails(void **state)
{
	char out[1] = { 'z' };
	assert_int_equal(zc_expand_path(out, 0, "", 1), -1);
	assert_int_equal(out[0], 'z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, reset)
		T(defaults_match_the_contract),
		T(empty_environment_gives_defaults_silently),
		T(null_callbacks_are_allowed),
		T(mode_off),
		T(mode_observe),
		T(mode_on),
		T(mode_words_in_any_case),
		T(guard_0),
		T(guard_1),
		T(min_chunk_in_bytes),
		T(min_chunk_65536),
		T(min_chunk_k_suffix_is_kib),
		T(min_chunk_m_suffix_is_mib),
		T(min_chunk_bounds_are_inclusive),
		T(stats_path_is_kept_as_a_template),
		T(stats_stderr),
		T(stats_longest_path_fits),
		T(log_levels_0_to_3),
		T(log_file_path),
		T(all_variables_at_once),
		T(mode_unknown_word),
		T(mode_disabled),
		T(mode_number),
		T(mode_off_trailing_space),
		T(mode_off_leading_space),
		T(only_empty),
		T(only_separators_only),
		T(skip_empty),
		T(only_list_too_long),
		T(scope_table),
		T(config_var_names_the_table),
		T(mode_empty),
		T(mode_trailing_space),
		T(guard_2),
		T(guard_word),
		T(guard_empty),
		T(guard_negative),
		T(log_4_out_of_range),
		T(log_trailing_junk),
		T(log_empty),
		T(log_overflow),
		T(min_chunk_not_a_number),
		T(min_chunk_empty),
		T(min_chunk_only_suffix),
		T(min_chunk_below_one_page),
		T(min_chunk_zero),
		T(min_chunk_above_1g),
		T(min_chunk_2048m_above_1g),
		T(min_chunk_overflow_digits),
		T(min_chunk_overflow_by_suffix),
		T(min_chunk_trailing_junk),
		T(min_chunk_space_before_suffix),
		T(min_chunk_unknown_suffix),
		T(min_chunk_hex),
		T(min_chunk_sign),
		T(min_chunk_fraction),
		T(stats_empty),
		T(log_file_empty),
		T(stats_path_too_long),
		T(log_file_path_too_long),
		T(stats_path_too_long_after_expansion),
		T(several_bad_values_are_each_counted),
		T(changed_called_only_for_non_defaults),
		T(changed_not_called_for_rejected_values),
		T(mode_names),
		T(expand_templates),
		T(expand_one_byte_short_fails),
		T(expand_zero_capacity_fails),
#undef T
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
