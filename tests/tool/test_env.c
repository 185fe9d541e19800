/*
 * test_env.c - how libzcopy.so reads its settings when a user preloads it by
 * hand: a misspelt ZCOPY_MODE means off and is said once on stderr,
 * ZCOPY_ONLY / ZCOPY_SKIP leave other programs of a pipeline untouched, and a
 * library preloaded twice counts once.
 *
 * Every scenario is a small shell pipeline run without the library and with
 * it; the output files must be identical, and the stats records
 * (ZCOPY_STATS) tell whether zcopy engaged in each process.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

#define BIG (3 << 20) /* enough for a stream to engage */

static char lib[PATH_MAX], dir[PATH_MAX];

/* test_tool.c */
char *path_in(const char *base, const char *name);
void clear_zcopy_env(void);
void remove_tree(const char *dir);
TCase *fixture_tcase(const char *name, int timeout, SFun set_up, SFun tear_down);

static char *at(const char *name)
{
	return path_in(dir, name);
}

static void env_setup(void)
{
	const char *b = getenv("ZT_BUILD");
	char cmd[PATH_MAX * 3];

	ck_assert_ptr_nonnull(b);
	snprintf(lib, sizeof lib, "%s/libzcopy.so", b);
	snprintf(dir, sizeof dir, "/tmp/zt-env.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	clear_zcopy_env();
	snprintf(cmd, sizeof cmd, "head -c %d /dev/urandom > '%s'", BIG, at("in"));
	ck_assert_int_eq(system(cmd), 0);
}

static void env_teardown(void)
{
	remove_tree(dir);
}

struct outcome {
	int status;
	char err[8192];
	struct zt_records recs;
};

/* Runs script with sh -c in dir; preload NULL runs it without the library.
 * env: "NAME=VALUE" strings.  stderr is captured, stats are loaded. */
static void sh_run(struct outcome *o, const char *preload, const char *const *env,
		   const char *script)
{
	char errp[PATH_MAX + 64];
	pid_t pid;
	int fd;
	ssize_t n;

	snprintf(errp, sizeof errp, "%s", at("stderr"));
	unlink(at("stats"));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (e < 0 || dup2(e, 2) < 0 || chdir(dir) != 0)
			_exit(120);
		if (preload) {
			setenv("LD_PRELOAD", preload, 1);
			setenv("ZCOPY_STATS", at("stats"), 1);
		}
		for (; env && *env; env++)
			putenv((char *)*env);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(121);
	}
	ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
	fd = open(errp, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, o->err, sizeof o->err - 1);
	o->err[n > 0 ? n : 0] = '\0';
	close(fd);
	memset(&o->recs, 0, sizeof o->recs);
	if (preload && access(at("stats"), F_OK) == 0)
		ck_assert_int_ge(zt_records_load(at("stats"), &o->recs), 0);
}

static int same_files(const char *a, const char *b)
{
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && strcmp(s + a - b, tail) == 0;
}

static uint64_t zero_copy_total(const struct zt_records *rs)
{
	uint64_t t = 0;
	for (size_t i = 0; i < rs->n; i++)
		t += rs->v[i].bytes_zero_copy;
	return t;
}

static const char pipeline[] = "cat in | cat > out";

/* The reference: the same pipeline without the library (out.plain). */
static void plain_reference(void)
{
	struct outcome o;
	sh_run(&o, NULL, NULL, "cat in | cat > out.plain");
	ck_assert_int_eq(o.status, 0);
	ck_assert(same_files(at("in"), at("out.plain")));
}

/* ------------------------------------------------------------ ZCOPY_MODE */

/* The scenario does engage with the default mode: what "off" is checked against. */
START_TEST(pipeline_engages_by_default)
{
	struct outcome o;
	plain_reference();
	sh_run(&o, lib, NULL, pipeline);
	ck_assert_int_eq(o.status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
	ck_assert_str_eq(o.err, "");
	ck_assert_uint_gt(zero_copy_total(&o.recs), 0);
	zt_records_free(&o.recs);
}
END_TEST

static const char *const misspelt[] = {"disabled", "off ", " off", "of", "onn", "1", "",
				       "Observ"};

/* The pipeline with ZCOPY_MODE=value: it succeeds with the plain run's
 * output. */
static void run_with_mode(const char *value, struct outcome *o)
{
	char var[64];
	const char *env[] = {var, NULL};

	snprintf(var, sizeof var, "ZCOPY_MODE=%s", value);
	plain_reference();
	sh_run(o, lib, env, pipeline);
	ck_assert_int_eq(o->status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
}

/* Every process (sh and both cats) wrote a record in mode off, and nothing
 * moved by kernel transfer. */
static void expect_all_off(struct outcome *o)
{
	ck_assert_uint_ge(o->recs.n, 2);
	for (size_t i = 0; i < o->recs.n; i++)
		ck_assert_str_eq(o->recs.v[i].mode, "off");
	ck_assert_uint_eq(zero_copy_total(&o->recs), 0);
	zt_records_free(&o->recs);
}

START_TEST(misspelt_mode_runs_off_and_says_so_once)
{
	struct outcome o;

	/* sh and both cats run with zcopy off, and the setting is named once:
	 * by sh, and not again by the commands it starts */
	run_with_mode(misspelt[_i], &o);
	ck_assert_msg(lines(o.err) == 1 && strstr(o.err, "ZCOPY_MODE=\"") &&
			      strstr(o.err, "zcopy is off"),
		      "ZCOPY_MODE='%s': stderr: %s", misspelt[_i], o.err);
	expect_all_off(&o);
}
END_TEST

static const char *const spelt_off[] = {"off", "OFF", "Off", "0", "false", "FALSE", "no"};

START_TEST(ways_of_saying_off_run_off_silently)
{
	struct outcome o;

	run_with_mode(spelt_off[_i], &o);
	ck_assert_str_eq(o.err, "");
	expect_all_off(&o);
}
END_TEST

START_TEST(bad_min_chunk_is_said_and_default_used)
{
	static const char *const env[] = {"ZCOPY_MIN_CHUNK=64kb", NULL};
	struct outcome o;

	plain_reference();
	sh_run(&o, lib, env, pipeline);
	ck_assert_int_eq(o.status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
	ck_assert_msg(strstr(o.err, "ZCOPY_MIN_CHUNK=\"64kb\"") && strstr(o.err, "using the default"),
		      "stderr: %s", o.err);
	ck_assert_uint_gt(zero_copy_total(&o.recs), 0);
	zt_records_free(&o.recs);
}
END_TEST

/* ----------------------------------------------------- ZCOPY_ONLY / SKIP */

static void check_only_dd(const char *var)
{
	const char *env[] = {var, NULL};
	struct outcome o;

	sh_run(&o, NULL, NULL, "cat in | dd of=out.plain bs=64k status=none");
	ck_assert_int_eq(o.status, 0);
	sh_run(&o, lib, env, "cat in | dd of=out bs=64k status=none");
	ck_assert_int_eq(o.status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
	ck_assert(same_files(at("in"), at("out")));
	ck_assert_str_eq(o.err, "");
	/* dd wrote its record; cat (and sh) behaved as mode off and wrote none */
	ck_assert_uint_eq(o.recs.n, 1);
	ck_assert_msg(ends_with(o.recs.v[0].exe, "/dd"), "record of %s", o.recs.v[0].exe);
	zt_records_free(&o.recs);
}

START_TEST(only_dd_leaves_cat_untouched)
{
	struct outcome o;
	/* without a scope, cat engages in this very pipeline */
	sh_run(&o, lib, NULL, "cat in | dd of=out bs=64k status=none");
	ck_assert_int_eq(o.status, 0);
	ck_assert_uint_ge(o.recs.n, 2);
	for (size_t i = 0; i < o.recs.n; i++)
		if (ends_with(o.recs.v[i].exe, "/cat"))
			ck_assert_uint_gt(o.recs.v[i].bytes_zero_copy, 0);
	zt_records_free(&o.recs);
	check_only_dd("ZCOPY_ONLY=dd");
}
END_TEST

START_TEST(only_by_glob_and_path)
{
	check_only_dd("ZCOPY_ONLY=/usr/*/d?");
}
END_TEST

START_TEST(skip_cat_and_shells)
{
	check_only_dd("ZCOPY_SKIP=cat,sh:dash, bash");
}
END_TEST

/* ------------------------------------------------- ZCOPY_STATS=stderr */

/* One line per process that went through zcopy, none for the others. */
START_TEST(stats_on_stderr_names_only_processes_that_did_something)
{
	static const char *const env[] = {"ZCOPY_STATS=stderr", NULL};
	struct outcome o;

	plain_reference();
	sh_run(&o, lib, env, "/bin/true; cat in | cat > out");
	ck_assert_int_eq(o.status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
	ck_assert_msg(strstr(o.err, "/cat mode=on: ") && strstr(o.err, "zero-copy"), "%s", o.err);
	ck_assert_msg(!strstr(o.err, "/true"), "a line for a process that did nothing: %s", o.err);
	ck_assert_int_le(lines(o.err), 2);
}
END_TEST

/* ------------------------------------------------------- loaded twice */

START_TEST(library_loaded_twice_counts_once)
{
	char copy[PATH_MAX + 64], both[PATH_MAX * 3], cmd[PATH_MAX * 3];
	struct outcome once, twice;

	snprintf(copy, sizeof copy, "%s", at("libzcopy-copy.so"));
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", lib, copy);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(both, sizeof both, "%s:%s", lib, copy);
	plain_reference();
	sh_run(&once, lib, NULL, pipeline);
	ck_assert_int_eq(once.status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
	sh_run(&twice, both, NULL, pipeline);
	ck_assert_int_eq(twice.status, 0);
	ck_assert(same_files(at("out.plain"), at("out")));
	ck_assert_str_eq(twice.err, "");
	ck_assert_uint_eq(twice.recs.n, once.recs.n);
	ck_assert_uint_gt(zero_copy_total(&once.recs), 0);
	/* Counted once: a second copy that counted too would report about
	 * twice the bytes, more than the input holds.  (The two runs need not
	 * agree to the byte: while the pipe is full, a page of each write goes
	 * by the program's own call.) */
	struct stat in;
	ck_assert_int_eq(stat(at("in"), &in), 0);
	ck_assert_uint_gt(zero_copy_total(&twice.recs), 0);
	ck_assert_uint_le(zero_copy_total(&twice.recs), (unsigned long long)in.st_size);
	ck_assert_uint_ge(zero_copy_total(&twice.recs) * 2, zero_copy_total(&once.recs));
	zt_records_free(&once.recs);
	zt_records_free(&twice.recs);
}
END_TEST

TCase *env_tcase(void)
{
	TCase *tc = fixture_tcase("library settings", 30, env_setup, env_teardown);
	tcase_add_test(tc, pipeline_engages_by_default);
	tcase_add_loop_test(tc, misspelt_mode_runs_off_and_says_so_once, 0,
			    sizeof misspelt / sizeof misspelt[0]);
	tcase_add_loop_test(tc, ways_of_saying_off_run_off_silently, 0,
			    sizeof spelt_off / sizeof spelt_off[0]);
	tcase_add_test(tc, bad_min_chunk_is_said_and_default_used);
	tcase_add_test(tc, only_dd_leaves_cat_untouched);
	tcase_add_test(tc, only_by_glob_and_path);
	tcase_add_test(tc, skip_cat_and_shells);
	tcase_add_test(tc, library_loaded_twice_counts_once);
	tcase_add_test(tc, stats_on_stderr_names_only_processes_that_did_something);
	return tc;
}
