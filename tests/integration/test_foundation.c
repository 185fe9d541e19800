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

START_TEST(read_write_loop_file_to_file)
{
	it_four(IT_ARGV(it_prog("rw_loop"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("rw_loop");
	it_expect_would("rw_loop", SIZE, 90);
	it_expect_zero_copy("rw_loop", SIZE, 90);
	it_expect_transfers("rw_loop", "copy_file_range");
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

START_TEST(read_write_loop_file_to_dev_null)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("rw_loop"), "../src", "-"),
			     .out = "/dev/null", .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("rw_loop");
	it_expect_passive("rw_loop");
	it_expect_zero_copy("rw_loop", SIZE, 90);
	it_expect_transfers("rw_loop", "sendfile");
}
END_TEST

START_TEST(read_write_loop_small_reads_stay_plain)
{
	/* 4 KiB reads are below ZCOPY_MIN_CHUNK: never worth deferring. */
	it_four(IT_ARGV(it_prog("rw_loop"), "-b", "4096", "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("rw_loop");
	it_expect_no_zero_copy("rw_loop", 0);
	/* Observe mode names the reason; on mode may take its fast path for
	 * such reads without counting them. */
	it_expect_fallback("observe", "rw_loop", "too_small");
	ck_assert_int_eq(it_stat("observe", "rw_loop", "would_zero_copy_bytes"), 0);
}
END_TEST

START_TEST(min_chunk_setting_raises_the_threshold)
{
	it_four(IT_ARGV(it_prog("rw_loop"), "../src", "out"), IT_ARGV("ZCOPY_MIN_CHUNK=262144"),
		OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("rw_loop");
	it_expect_no_zero_copy("rw_loop", 0);
	it_expect_fallback("observe", "rw_loop", "too_small");
	ck_assert_int_eq(it_stat("observe", "rw_loop", "would_zero_copy_bytes"), 0);
}
END_TEST

START_TEST(read_write_loop_stack_buffer_stays_plain)
{
	it_four(IT_ARGV(it_prog("rw_loop"), "-S", "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("rw_loop");
	it_expect_no_zero_copy("rw_loop", 0);
	it_expect_fallback("on", "rw_loop", "stack_buffer");
	it_expect_fallback("observe", "rw_loop", "stack_buffer");
}
END_TEST

START_TEST(read_write_loop_misaligned_buffer_stays_plain)
{
	/* With guard mode off only buffers aligned like the file offset can
	 * take the file's pages. */
	it_four(IT_ARGV(it_prog("rw_loop"), "-u", "../src", "out"), IT_ARGV("ZCOPY_GUARD=0"), OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("rw_loop");
	it_expect_no_zero_copy("rw_loop", 0);
	it_expect_fallback("on", "rw_loop", "alignment");
	it_expect_fallback("observe", "rw_loop", "alignment");
}
END_TEST

START_TEST(pread_write_loop)
{
	it_four(IT_ARGV(it_prog("pread_loop"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("pread_loop");
	it_expect_would("pread_loop", SIZE, 90);
	it_expect_zero_copy("pread_loop", SIZE, 90);
	it_expect_transfers("pread_loop", "copy_file_range");
}
END_TEST

START_TEST(readv_writev_header_and_body)
{
	it_four(IT_ARGV(it_prog("rwv_loop"), "../src", "out"), NULL, OUT1);
	ck_assert_int_gt(it_file_size("none/out"), SIZE);
	it_expect_passive("rwv_loop");
	it_expect_would("rwv_loop", SIZE, 90);
	it_expect_zero_copy("rwv_loop", SIZE, 90);
	it_expect_transfers("rwv_loop", "copy_file_range");
}
END_TEST

START_TEST(send_recv_over_socketpair)
{
	it_four(IT_ARGV(it_prog("sock_copy"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("sock_copy");
	it_expect_would("sock_copy", SIZE, 90);
	it_expect_zero_copy("sock_copy", SIZE, 90);
	it_expect_transfers("sock_copy", "sendfile");
}
END_TEST

START_TEST(fread_fwrite_loop_is_exact_and_redirected)
{
	it_four(IT_ARGV(it_prog("stdio_copy"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("stdio_copy");
	/* glibc reads and writes 128 KiB requests directly: zcopy makes those
	 * calls (tests/integration/test_stdio.c has the FILE behaviours). */
	it_expect_zero_copy("stdio_copy", SIZE, 80);
	it_expect_transfers("stdio_copy", "copy_file_range");
	it_expect_fallback("observe", "stdio_copy", "stdio");
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

static int count_lines_with(const char *text, const char *needle, const char *also)
{
	int n = 0;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *copy = strndup(line, len);
		if (strstr(copy, needle) && (!also || strstr(copy, also)))
			n++;
		free(copy);
		if (!nl)
			break;
		line = nl + 1;
	}
	return n;
}

/* A mode that is not understood means off (a misspelt "off" must not leave
 * zcopy on), and is reported once, with or without ZCOPY_LOG. */
START_TEST(bad_mode_value_is_reported_once_and_means_off)
{
	struct it_spec s = { .mode = IT_NONE, .argv = IT_ARGV(it_prog("rw_loop"), "../src", "out"),
			     .out_fd = -1 };
	it_exec(&s);
	s.mode = IT_ON;
	s.keep_env = 1;
	s.tag = "logged";
	char stats[4200];
	snprintf(stats, sizeof stats, "ZCOPY_STATS=%s", it_path("logged/stats"));
	s.env = IT_ARGV("ZCOPY_MODE=sideways", "ZCOPY_LOG=1", stats);
	struct it_result r = it_exec(&s);
	ck_assert_int_eq(r.status, it_status("none"));
	it_same_file("none/stdout", "logged/stdout");
	it_same_file("src", "logged/out");
	char *err = it_slurp("logged/stderr", NULL);
	ck_assert_msg(count_lines_with(err, "ZCOPY_MODE", NULL) == 1 &&
			      count_lines_with(err, "ZCOPY_MODE", "sideways") == 1,
		      "expected exactly one line reporting ZCOPY_MODE=sideways, stderr was:\n%s", err);
	ck_assert_str_eq(it_stat_str("logged", "rw_loop", "mode"), "off");
	ck_assert_int_eq(it_stat("logged", "rw_loop", "bytes_zero_copy"), 0);
}
END_TEST

START_TEST(bad_mode_value_is_reported_without_log)
{
	struct it_spec s = { .mode = IT_NONE, .argv = IT_ARGV(it_prog("rw_loop"), "../src", "out"),
			     .out_fd = -1 };
	it_exec(&s);
	s.mode = IT_ON;
	s.keep_env = 1;
	s.tag = "quiet";
	char stats[4200];
	snprintf(stats, sizeof stats, "ZCOPY_STATS=%s", it_path("quiet/stats"));
	s.env = IT_ARGV("ZCOPY_MODE=sideways", stats);
	struct it_result r = it_exec(&s);
	ck_assert_int_eq(r.status, it_status("none"));
	it_same_file("none/stdout", "quiet/stdout");
	it_same_file("src", "quiet/out");
	char *err = it_slurp("quiet/stderr", NULL);
	ck_assert_msg(count_lines_with(err, "ZCOPY_MODE", "sideways") == 1 &&
			      count_lines_with(err, "", NULL) == 1,
		      "expected exactly one line on stderr, it was:\n%s", err);
	ck_assert_str_eq(it_stat_str("quiet", "rw_loop", "mode"), "off");
	ck_assert_int_eq(it_stat("quiet", "rw_loop", "bytes_zero_copy"), 0);
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
	it_global_init();
	Suite *s = suite_create("foundation");
	TCase *tc = tcase_create("foundation");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, read_write_loop_file_to_file);
	tcase_add_test(tc, read_write_loop_file_to_pipe);
	tcase_add_test(tc, read_write_loop_file_to_dev_null);
	tcase_add_test(tc, read_write_loop_small_reads_stay_plain);
	tcase_add_test(tc, min_chunk_setting_raises_the_threshold);
	tcase_add_test(tc, read_write_loop_stack_buffer_stays_plain);
	tcase_add_test(tc, read_write_loop_misaligned_buffer_stays_plain);
	tcase_add_test(tc, pread_write_loop);
	tcase_add_test(tc, readv_writev_header_and_body);
	tcase_add_test(tc, send_recv_over_socketpair);
	tcase_add_test(tc, fread_fwrite_loop_is_exact_and_redirected);
	tcase_add_test(tc, library_constructor_reads_before_ours);
	tcase_add_test(tc, silent_by_default);
	tcase_add_test(tc, bad_mode_value_is_reported_once_and_means_off);
	tcase_add_test(tc, bad_mode_value_is_reported_without_log);
	tcase_add_test(tc, zcopy_run_passes_exit_status_and_signal);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	it_global_cleanup();
	return failed == 0 ? 0 : 1;
}
