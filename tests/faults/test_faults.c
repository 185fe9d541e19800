/*
 * test_faults.c - the fault-injection suite, part one: faults on the way to
 * a pipe or a stream socket (EINTR from a 1 ms timer, EAGAIN on
 * non-blocking descriptors, a consumer that leaves early) and the program's
 * own SIGBUS handler.  Part two (test_faults_files.c) has the file faults,
 * part three (test_faults_midwrite.c) one large write hit while it blocks,
 * part four (test_faults_blocked.c) what a handler, a forked helper or
 * another process does to a write that waits.
 *
 * Every scenario runs a program from tests/faults twice, without and with
 * libzcopy, and compares what must not change: stdout (the bytes the reader
 * received, by count and hash; the error the copy ended with), the exit
 * status or the signal that killed it.  Each also checks, from the stats,
 * that the engine engaged in the run the fault hit: otherwise the test would
 * prove nothing.  Counts that depend on timing (EINTRs, EAGAINs, short
 * writes) are not compared; the tests only check the fault happened.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "zt.h"

/* Defined in test_faults_files.c. */
TCase *ft_files_tcase(void);
TCase *ft_enospc_tcase(void);
/* Defined in test_faults_midwrite.c. */
TCase *ft_midwrite_tcase(void);
/* Defined in test_faults_blocked.c. */
TCase *ft_blocked_tcase(void);

#define SRC_SIZE (8 * MiB)
#define RUN_LIMIT 30 /* seconds for one run */

/* "reader got N hash H" for the first n bytes of src. */
static char *reader_line(const char *src, size_t n)
{
	static char line[96];
	size_t len;
	char *p = it_slurp(src, &len);
	if (n > len)
		n = len;
	snprintf(line, sizeof line, "reader got %zu hash %016llx\n", n,
		 (unsigned long long)zt_fnv(ZT_FNV_INIT, p, n));
	free(p);
	return line;
}

static void expect_out_has(const char *tag, const char *text)
{
	char *o = it_out(tag);
	ck_assert_msg(strstr(o, text) != NULL, "%s run: stdout lacks \"%s\":\n%s", tag, text, o);
	free(o);
}

/* In a fresh test directory with an 8 MiB src made from seed, runs argv
 * plain and under zcopy: both must end the same way, with the same stdout,
 * and the plain run with exit status want_exit (unless it is -1).  Returns
 * the plain run's wait status. */
static int both(uint64_t seed, const char *const *argv, int want_exit)
{
	it_begin();
	it_make_file("src", SRC_SIZE, seed);
	int p = it_run("plain", 0, argv, RUN_LIMIT);
	int z = it_run("zc", 1, argv, RUN_LIMIT);
	ck_assert_msg(p == z, "%s: plain run %s, zcopy run %s", argv[0], it_describe(p),
		      it_describe(z));
	it_same_out("plain", "zc");
	if (want_exit >= 0)
		ck_assert_msg(WIFEXITED(p) && WEXITSTATUS(p) == want_exit, "plain run: %s",
			      it_describe(p));
	return p;
}

/* ---- EINTR: a SIGALRM every millisecond while the copy blocks ------------ */

static void eintr_case(const char *kind, const char *restart)
{
	both(1, IT_ARGV("fault_stream", "-t", restart, "-s", "20", kind, "src"), 0);
	expect_out_has("zc", reader_line("src", SRC_SIZE));
	expect_out_has("zc", "copied 8388608\n");
	ck_assert_msg(it_err_count("zc", "signals") > 0, "no timer signal arrived during the copy");
	it_expect_redirected("zc");
}

/* Each sink, with SA_RESTART (r) and without (n). */
static const char *const eintr_rows[][2] = { { "pipe", "r" }, { "pipe", "n" }, { "unix", "r" },
					     { "unix", "n" }, { "tcp", "r" },  { "tcp", "n" } };
START_TEST(eintr) { eintr_case(eintr_rows[_i][0], eintr_rows[_i][1]); }
END_TEST

/* ---- EAGAIN: non-blocking descriptor, slow reader ------------------------ */

static void eagain_case(const char *kind)
{
	both(2, IT_ARGV("fault_stream", "-N", "-s", "20", kind, "src"), 0);
	expect_out_has("zc", reader_line("src", SRC_SIZE));
	ck_assert_msg(it_err_count("zc", "eagain") > 0, "the zcopy run never met EAGAIN");
	it_expect_redirected("zc");
}

static const char *const sinks[] = { "pipe", "unix", "tcp" };
START_TEST(eagain) { eagain_case(sinks[_i]); }
END_TEST

/* ---- a consumer that leaves after 1 MiB ---------------------------------- */

/* SIGPIPE at its default: both runs die of it.  A killed process writes no
 * stats, so engagement is checked in a third run, the same copy with
 * SIGPIPE ignored. */
static void early_sigpipe_case(const char *kind)
{
	int p = both(3, IT_ARGV("fault_stream", "-l", "1048576", kind, "src"), -1);
	ck_assert_msg(WIFSIGNALED(p) && WTERMSIG(p) == SIGPIPE, "plain run: %s", it_describe(p));
	expect_out_has("zc", reader_line("src", MiB));
	int e = it_run("engaged", 1, IT_ARGV("fault_stream", "-P", "-l", "1048576", kind, "src"),
		       RUN_LIMIT);
	ck_assert_msg(WIFEXITED(e) && WEXITSTATUS(e) == 3, "engagement run: %s", it_describe(e));
	it_expect_redirected("engaged");
}

/* SIGPIPE ignored: both runs end with EPIPE (a TCP reset first reported
 * as ECONNRESET is followed by EPIPE, see fault_stream.c). */
static void early_epipe_case(const char *kind)
{
	both(3, IT_ARGV("fault_stream", "-P", "-l", "1048576", kind, "src"), 3);
	expect_out_has("zc", reader_line("src", MiB));
	expect_out_has("zc", "write error EPIPE\n");
	it_expect_redirected("zc");
}

/* No unix-socket case with SIGPIPE at its default: when the reader leaves
 * while a write waits for buffer space, the kernel fails that write with
 * EPIPE without raising SIGPIPE, and otherwise raises it, so plain runs
 * already end either way. */
static const struct {
	void (*run)(const char *kind);
	const char *kind;
} early_rows[] = { { early_sigpipe_case, "pipe" }, { early_epipe_case, "pipe" },
		   { early_epipe_case, "unix" },   { early_sigpipe_case, "tcp" },
		   { early_epipe_case, "tcp" } };
START_TEST(early_close) { early_rows[_i].run(early_rows[_i].kind); }
END_TEST

/* ---- the program's own SIGBUS handler ------------------------------------ */

/* Two real SIGBUSes on the program's own mapping while a phantom of chunk 4
 * is alive in its buffer: its handler runs as without zcopy, sees the same
 * fault and signal mask, and the copy that follows is intact. */
static void sigbus_case(const char *how, int killed)
{
	it_begin();
	it_make_file("src", 2 * MiB + 1000, 4);
	int p = it_run("plain", 0, IT_ARGV("fault_sigbus", how, "src", "dst.plain"), RUN_LIMIT);
	int z = it_run("zc", 1, IT_ARGV("fault_sigbus", how, "src", "dst.zc"), RUN_LIMIT);
	ck_assert_msg(p == z, "plain run %s, zcopy run %s", it_describe(p), it_describe(z));
	it_same_out("plain", "zc");
	if (killed) {
		ck_assert_msg(WIFSIGNALED(p) && WTERMSIG(p) == SIGBUS, "plain run: %s",
			      it_describe(p));
		/* The same copy without the fault: the engine engages in it by
		 * chunk 4, so phantoms were alive when the fault came. */
		int e = it_run("engaged", 1, IT_ARGV("fault_sigbus", "none", "src", "dst.e"),
			       RUN_LIMIT);
		ck_assert_msg(WIFEXITED(e) && WEXITSTATUS(e) == 0, "engagement run: %s",
			      it_describe(e));
		it_same_file("src", "dst.e");
		it_expect_engaged("engaged");
		return;
	}
	ck_assert_msg(WIFEXITED(p) && WEXITSTATUS(p) == 0, "plain run: %s", it_describe(p));
	expect_out_has("zc", "after fault 2\n");
	it_same_file("src", "dst.plain");
	it_same_file("src", "dst.zc");
	it_expect_engaged("zc");
}

/* How the program handles SIGBUS, and whether the fault kills it.  With
 * "+mask", inside the handler the kernel blocks sa_mask and, without
 * SA_NODEFER, SIGBUS itself; the handler reports what is blocked.  The
 * handler returns after fixing the mapping with "fixup". */
static const struct {
	const char *how;
	int killed;
} sigbus_rows[] = { { "sigaction", 0 },      { "siginfo", 0 },     { "signal", 0 },
		    { "fixup", 0 },          { "sigaction+mask", 0 }, { "signal+mask", 0 },
		    { "resethand", 1 },      { "default", 1 } };
START_TEST(sigbus) { sigbus_case(sigbus_rows[_i].how, sigbus_rows[_i].killed); }
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = it_suite("faults");
	TCase *t = tcase_create("streams");
	tcase_set_timeout(t, 90);
	tcase_add_loop_test(t, eintr, 0, IT_LEN(eintr_rows));
	tcase_add_loop_test(t, eagain, 0, IT_LEN(sinks));
	tcase_add_loop_test(t, early_close, 0, IT_LEN(early_rows));
	suite_add_tcase(s, t);

	t = tcase_create("sigbus");
	tcase_set_timeout(t, 90);
	tcase_add_loop_test(t, sigbus, 0, IT_LEN(sigbus_rows));
	suite_add_tcase(s, t);

	suite_add_tcase(s, ft_files_tcase());
	suite_add_tcase(s, ft_enospc_tcase());
	suite_add_tcase(s, ft_midwrite_tcase());
	suite_add_tcase(s, ft_blocked_tcase());
	return s;
}

int main(void)
{
	return it_main(faults_suite(), "build/faults");
}
