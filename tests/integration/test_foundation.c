/*
 * test_foundation.c - the copy loops of tests/programs under libzcopy, and
 * its settings (issue 2): read/write, pread, readv/writev, send/recv,
 * fread/fwrite, a library constructor that reads before ours; silence by
 * default, bad values, `zcopy run`.
 *
 * Every scenario runs without the shim and with ZCOPY_MODE=off, observe and
 * on, and requires the same exit status, stdout, stderr and output files;
 * then the stats records must show the engine engaged (or stayed out) as
 * the scenario intends, so a shim that does nothing fails as surely as one
 * that engages wrongly.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

/* Not a multiple of the 128 KiB chunk: the short last read is part of
 * every copy. */
#define SIZE (16 * MiB + 12345)
#define OUT1 IT_ARGV("out")

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 1);
}

/* ---- foundation: the copy loops ------------------------------------------- */

/* A copy loop of tests/programs run the four ways (it_four) from ../src to
 * out, and what its stats must show. */
static const struct loop_case {
	const char *prog;
	const char *opt[3];      /* options before SRC DST, NULL-ended */
	const char *env;         /* one extra VAR=VALUE for every run, or NULL */
	int longer;              /* out is src with more (headers), not a copy */
	int would, zc;           /* % of SIZE: would_zero_copy_bytes (observe),
				    bytes_zero_copy (on); 0: not checked */
	const char *transfer;    /* transfers.KIND counted in on mode; NULL: the
				    copy stays plain (no byte, no deferred read) */
	const char *on_reason;   /* fallbacks.REASON counted in on mode */
	const char *obs_reason;  /* ... in observe mode */
	int no_would;            /* observe counts no would-be bytes */
} loops[] = {
	/* read/write, file to file */
	{ "rw_loop", { NULL }, NULL, 0, 90, 90, "copy_file_range", NULL, NULL, 0 },
	/* 4 KiB reads are below ZCOPY_MIN_CHUNK: never worth deferring.
	 * Observe mode names the reason; on mode may take its fast path for
	 * such reads without counting them. */
	{ "rw_loop", { "-b", "4096" }, NULL, 0, 0, 0, NULL, NULL, "too_small", 1 },
	/* The setting raises the threshold above the 128 KiB reads. */
	{ "rw_loop", { NULL }, "ZCOPY_MIN_CHUNK=262144", 0, 0, 0, NULL, NULL, "too_small", 1 },
	/* A stack buffer */
	{ "rw_loop", { "-S" }, NULL, 0, 0, 0, NULL, "stack_buffer", "stack_buffer", 0 },
	/* Without ZCOPY_GUARD only buffers aligned like the file offset can
	 * take the file's pages. */
	{ "rw_loop", { "-u" }, "ZCOPY_GUARD=0", 0, 0, 0, NULL, "alignment", "alignment", 0 },
	{ "pread_loop", { NULL }, NULL, 0, 90, 90, "copy_file_range", NULL, NULL, 0 },
	/* readv/writev of a header and the body */
	{ "rwv_loop", { NULL }, NULL, 1, 90, 90, "copy_file_range", NULL, NULL, 0 },
	/* send/recv over a socketpair */
	{ "sock_copy", { NULL }, NULL, 0, 90, 90, "sendfile", NULL, NULL, 0 },
	/* fread/fwrite: glibc reads and writes 128 KiB requests directly, and
	 * zcopy makes those calls (tests/integration/test_stdio.c has the FILE
	 * behaviours). */
	{ "stdio_copy", { NULL }, NULL, 0, 0, 80, "copy_file_range", NULL, "stdio", 0 },
};

START_TEST(copy_loops)
{
	const struct loop_case *c = &loops[_i];
	const char *argv[8] = { it_prog(c->prog) };
	size_t n = 1;
	for (size_t i = 0; c->opt[i]; i++)
		argv[n++] = c->opt[i];
	argv[n++] = "../src";
	argv[n++] = "out";
	it_four(argv, c->env ? IT_ARGV(c->env) : NULL, OUT1);
	if (c->longer)
		ck_assert_int_gt(it_file_size("none/out"), SIZE);
	else
		it_same_file("src", "none/out");
	it_expect_passive(c->prog);
	if (c->would)
		it_expect_would(c->prog, SIZE, c->would);
	if (c->transfer) {
		it_expect_zero_copy(c->prog, SIZE, c->zc);
		it_expect_transfers(c->prog, c->transfer);
	} else {
		it_expect_no_zero_copy(c->prog, 0);
	}
	if (c->on_reason)
		it_expect_fallback("on", c->prog, c->on_reason);
	if (c->obs_reason)
		it_expect_fallback("observe", c->prog, c->obs_reason);
	if (c->no_would)
		ck_assert_int_eq(it_stat("observe", c->prog, "would_zero_copy_bytes"), 0);
}
END_TEST

START_TEST(read_write_loop_file_to_pipe)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("rw_loop"), "../src", "-"),
			     .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("rw_loop");
	it_same_file("src", "none/piped");
	it_expect_passive("rw_loop");
	it_expect_would("rw_loop", SIZE, 90);
	it_expect_zero_copy("rw_loop", SIZE, 90);
	it_expect_transfers("rw_loop", "splice");
}
END_TEST

START_TEST(errno_is_zero_when_main_starts)
{
	/* zcopy's constructors looked for files that are not there and left
	 * ENOENT in errno, which C promises is 0 at program start-up. */
	it_four(IT_ARGV(it_prog("errno_start"), "../src", "out"), NULL, IT_ARGV("out"));
	it_expect_plain_success("errno_start");
	it_same_file("src", "none/out");
	char *o = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(o, "errno at start: 0\n"), "plain run: %s", o);
	free(o);
	it_expect_zero_copy("errno_start", SIZE, 80);
}
END_TEST

START_TEST(read_write_loop_file_to_dev_null)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("rw_loop"), "../src", "-"),
			     .out = "/dev/null", .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("rw_loop");
	it_expect_passive("rw_loop");
	it_expect_zero_copy("rw_loop", SIZE, 90);
	/* Each read one splice into zcopy's pipe, each write its splice out. */
	it_expect_transfers("rw_loop", "splice");
	ck_assert_int_gt(it_stat("on", "rw_loop", "file_pipe_reads"), 0);
}
END_TEST

START_TEST(library_constructor_reads_before_ours)
{
	it_make_file("early", 4 * MiB, 2);
	it_four(IT_ARGV(it_prog("ctor_read"), "../src", "out"),
		IT_ARGV("CTOR_SRC=../early", "CTOR_DST=early.out"), IT_ARGV("out", "early.out"));
	it_same_file("src", "none/out");
	it_same_file("early", "none/early.out");
	it_expect_passive("ctor_read");
	it_expect_zero_copy("ctor_read", SIZE, 90);
	it_expect_transfers("ctor_read", "copy_file_range");
}
END_TEST

/* ---- foundation: settings and silence ------------------------------------- */

START_TEST(silent_by_default)
{
	/* Only LD_PRELOAD: no ZCOPY_* at all.  cat into a pipe (into a file
	 * coreutils may use copy_file_range itself). */
	struct it_spec plain = { .mode = IT_NONE, .argv = IT_ARGV("cat", "../src"),
				 .consumer = IT_ARGV("cat"), .out_fd = -1 };
	struct it_spec shim = plain;
	shim.mode = IT_ON;
	shim.keep_env = 1;
	it_exec(&plain);
	struct it_result r = it_exec(&shim);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "cat under the shim: %s",
		      it_describe(r.status));
	it_same_file("src", "on/piped");
	ck_assert_msg(it_file_size("on/stderr") == 0, "the library wrote to stderr: %s",
		      it_slurp("on/stderr", NULL));
	it_compare("on", NULL);

	/* And into a regular file. */
	struct it_spec file = { .tag = "file", .mode = IT_ON, .keep_env = 1,
				.argv = IT_ARGV("cat", "../src"), .out_fd = -1 };
	r = it_exec(&file);
	ck_assert_int_eq(r.status, 0);
	it_same_file("src", "file/stdout");
	ck_assert_msg(it_file_size("file/stderr") == 0, "the library wrote to stderr: %s",
		      it_slurp("file/stderr", NULL));

	/* Same default environment plus a stats file: the default mode is on
	 * and the copy was accelerated, so the silent run above was live. */
	struct it_spec stats = shim;
	stats.tag = "stats";
	char env[4200];
	snprintf(env, sizeof env, "ZCOPY_STATS=%s", it_path("stats/stats"));
	stats.env = IT_ARGV(env);
	it_exec(&stats);
	it_same_file("src", "stats/piped");
	ck_assert_int_eq(it_file_size("stats/stderr"), 0);
	ck_assert_str_eq(it_stat_str("stats", "cat", "mode"), "on");
	long long zc = it_stat("stats", "cat", "bytes_zero_copy");
	ck_assert_msg(zc * 10 >= (long long)SIZE * 9, "cat with default settings: bytes_zero_copy %lld",
		      zc);
}
END_TEST


/* A mode that is not understood means off (a misspelt "off" must not leave
 * zcopy on), and is reported once, with or without ZCOPY_LOG. */
/* rw_loop plain, then under ZCOPY_MODE=sideways (with ZCOPY_LOG=1 when
 * log) as run tag: the same status, stdout and copy, and its record says
 * mode off with nothing moved.  Returns the run's stderr. */
static char *run_bad_mode(const char *tag, int log)
{
	struct it_spec s = { .mode = IT_NONE, .argv = IT_ARGV(it_prog("rw_loop"), "../src", "out"),
			     .out_fd = -1 };
	char stats[4200], rel[64];
	it_exec(&s);
	s.mode = IT_ON;
	s.keep_env = 1;
	s.tag = tag;
	snprintf(rel, sizeof rel, "%s/stats", tag);
	snprintf(stats, sizeof stats, "ZCOPY_STATS=%s", it_path(rel));
	s.env = log ? IT_ARGV("ZCOPY_MODE=sideways", "ZCOPY_LOG=1", stats)
		    : IT_ARGV("ZCOPY_MODE=sideways", stats);
	struct it_result r = it_exec(&s);
	ck_assert_int_eq(r.status, it_status("none"));
	snprintf(rel, sizeof rel, "%s/stdout", tag);
	it_same_file("none/stdout", rel);
	snprintf(rel, sizeof rel, "%s/out", tag);
	it_same_file("src", rel);
	ck_assert_str_eq(it_stat_str(tag, "rw_loop", "mode"), "off");
	ck_assert_int_eq(it_stat(tag, "rw_loop", "bytes_zero_copy"), 0);
	snprintf(rel, sizeof rel, "%s/stderr", tag);
	return it_slurp(rel, NULL);
}

START_TEST(bad_mode_value_is_reported_once_and_means_off)
{
	char *err = run_bad_mode("logged", 1);
	ck_assert_msg(it_count_lines(err, "ZCOPY_MODE", NULL) == 1 &&
			      it_count_lines(err, "ZCOPY_MODE", "sideways") == 1,
		      "expected exactly one line reporting ZCOPY_MODE=sideways, stderr was:\n%s", err);
}
END_TEST

START_TEST(bad_mode_value_is_reported_without_log)
{
	char *err = run_bad_mode("quiet", 0);
	ck_assert_msg(it_count_lines(err, "ZCOPY_MODE", "sideways") == 1 &&
			      it_count_lines(err, "", NULL) == 1,
		      "expected exactly one line on stderr, it was:\n%s", err);
}
END_TEST

START_TEST(zcopy_run_passes_exit_status_and_signal)
{
	const char *tool = getenv("ZCOPY_TEST_TOOL");
	char path[4200];
	if (!tool || !*tool) {
		snprintf(path, sizeof path, "%s", it_lib);
		char *slash = strrchr(path, '/');
		snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "zcopy");
		tool = path;
	}
	ck_assert_msg(access(tool, X_OK) == 0, "%s: %s", tool, strerror(errno));
	struct it_spec s = { .tag = "exit", .mode = IT_NONE, .out_fd = -1,
			     .argv = IT_ARGV(tool, "run", "--", "sh", "-c", "exit 7") };
	struct it_result r = it_exec(&s);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7, "zcopy run: %s",
		      it_describe(r.status));
	s.tag = "signal";
	s.argv = IT_ARGV(tool, "run", "--", "sh", "-c", "kill -TERM $$");
	r = it_exec(&s);
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "zcopy run: %s",
		      it_describe(r.status));
	/* And it really runs the command under the shim. */
	s.tag = "stats";
	s.argv = IT_ARGV(tool, "run", "-s", "stats", "--", it_prog("rw_loop"), "../src", "out");
	r = it_exec(&s);
	ck_assert_int_eq(r.status, 0);
	it_same_file("src", "stats/out");
	ck_assert_int_gt(it_stat("stats", "rw_loop", "bytes_zero_copy"), 0);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("foundation");
	TCase *tc = it_tcase(s, "foundation", setup, 120);
	tcase_add_loop_test(tc, copy_loops, 0, sizeof loops / sizeof loops[0]);
	it_add(tc, IT_TESTS(read_write_loop_file_to_pipe, read_write_loop_file_to_dev_null,
			    errno_is_zero_when_main_starts,
			    library_constructor_reads_before_ours, silent_by_default,
			    bad_mode_value_is_reported_once_and_means_off,
			    bad_mode_value_is_reported_without_log,
			    zcopy_run_passes_exit_status_and_signal));
	return it_main(s, "build/programs");
}
