/*
 * test_fatal.c - statistics that survive: a process that a signal kills
 * still leaves its record and dies exactly as it would without zcopy (wait
 * status, core dump included), the dispositions it reads back are its own,
 * and `zcopy stat` shows the live counters of a copier while it runs.
 *
 * The program is build/tool/copier (tests/tool/copier.c, started by
 * copier_run.h); the live pages go to the test's private XDG_RUNTIME_DIR.
 */
#include "copier_run.h"

TCase *fatal_tcase(void);

/* Runs action without zcopy and with it in mode; both must end with the
 * same wait status, a death by sig; the zcopy side leaves its record.
 * send: the test sends sig once the program is ready; what names the case
 * in the messages. */
static void killed_alike(const char *what, const char *mode, const char *action, int sig,
			 int send)
{
	struct run a, b;
	char out_a[4096], out_b[4096];
	int st_a, st_b;

	start(&a, "plain", NULL, action);
	if (send) {
		read_ready(&a);
		kill(a.pid, sig);
	}
	st_a = finish(&a, out_a, sizeof out_a);
	start(&b, "zcopy", mode, action);
	if (send) {
		read_ready(&b);
		kill(b.pid, sig);
	}
	st_b = finish(&b, out_b, sizeof out_b);
	ck_assert_msg(WIFSIGNALED(st_a) && WTERMSIG(st_a) == sig, "%s: plain: status %#x", what,
		      st_a);
	ck_assert_msg(st_a == st_b, "%s: wait status %#x without zcopy, %#x with", what, st_a,
		      st_b);
	ck_assert_str_eq(out_a, out_b);
	check_record("zcopy", b.pid);
}

/* Each case: what the program does, in which mode, and the signal that
 * ends it (sent by the test when send is set, else raised by the program). */
static const struct {
	const char *what, *mode, *action;
	int sig, send;
} killed[] = {
	{ "SIGTERM leaves the record and the same death", "on", "pause", SIGTERM, 1 },
	{ "SIGTERM in observe mode leaves the record", "observe", "pause", SIGTERM, 1 },
	{ "SIGINT leaves the record and the same death", "on", "pause", SIGINT, 1 },
	{ "a SIGSEGV fault leaves the record, the same death and core", "on", "segv", SIGSEGV, 0 },
	{ "SIGABRT leaves the record, the same death and core", "on", "abort", SIGABRT, 0 },
	/* The dispositions read back, signal()'s returns, and a handler
	 * that re-raises after SIG_DFL: the same output and the same death. */
	{ "the program reads back its own dispositions", "on", "view", SIGTERM, 0 },
};

START_TEST(killed_program_leaves_the_record_and_the_same_death)
{
	killed_alike(killed[_i].what, killed[_i].mode, killed[_i].action, killed[_i].sig,
		     killed[_i].send);
}
END_TEST

/* A vfork child shares its parent's memory: its death by a signal writes
 * nothing of the parent's (the parent's record, from its own exit, is the
 * one record, with the parent's pid). */
START_TEST(vfork_child_killed_leaves_the_parent_its_record)
{
	struct run a, b;
	char out_a[256], out_b[256];
	start(&a, "plain", NULL, "vfork");
	int st_a = finish(&a, out_a, sizeof out_a);
	start(&b, "zcopy", "on", "vfork");
	int st_b = finish(&b, out_b, sizeof out_b);
	ck_assert_msg(WIFEXITED(st_a) && WEXITSTATUS(st_a) == 0, "plain: %#x", st_a);
	ck_assert_int_eq(st_a, st_b);
	ck_assert_str_eq(out_a, out_b);
	ck_assert_str_eq(out_a, "child status 0xf\n");
	check_record("zcopy", b.pid);
}
END_TEST

START_TEST(stat_sees_a_running_copier)
{
	struct run r;
	char out[8192], pid[24], page[PATH_MAX + 64], rest[64];
	struct stat st;

	/* observe: every byte of IN counts as copied, in mode on they
	 * would be split between zero-copy and copied */
	start(&r, "live", "observe", "wait");
	read_ready(&r);
	snprintf(pid, sizeof pid, "%ld", (long)r.pid);
	int s = tool(out, sizeof out, "stat", pid);
	ck_assert_msg(WIFEXITED(s) && WEXITSTATUS(s) == 0, "zcopy stat %s: status %#x", pid, s);
	ck_assert_msg(strstr(out, pid) && strstr(out, "/tool/copier"), "stat says: %s", out);
	ck_assert_msg(strstr(out, "observe") && strstr(out, "8.0 MiB"), "stat says: %s", out);
	/* without a PID: every live process, this one among them */
	s = tool(out, sizeof out, "top", NULL);
	ck_assert_msg(WIFEXITED(s) && WEXITSTATUS(s) == 0 && strstr(out, pid), "top: %s", out);
	snprintf(page, sizeof page, "%s/zcopy/%s", dir, pid);
	ck_assert_int_eq(stat(page, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	s = finish(&r, rest, sizeof rest);
	ck_assert_msg(WIFEXITED(s) && WEXITSTATUS(s) == 0, "copier status %#x", s);
	/* removed at exit */
	ck_assert_int_eq(stat(page, &st), -1);
	s = tool(out, sizeof out, "stat", pid);
	ck_assert_msg(WIFEXITED(s) && WEXITSTATUS(s) == 1, "stat after exit: %#x", s);
	check_record("live", r.pid);
}
END_TEST

START_TEST(live_page_is_removed_by_a_fatal_signal)
{
	struct run r;
	char page[PATH_MAX + 64], rest[64];
	struct stat st;

	start(&r, "live", "on", "pause");
	read_ready(&r);
	snprintf(page, sizeof page, "%s/zcopy/%ld", dir, (long)r.pid);
	ck_assert_int_eq(stat(page, &st), 0);
	kill(r.pid, SIGTERM);
	int s = finish(&r, rest, sizeof rest);
	ck_assert(WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM);
	ck_assert_int_eq(stat(page, &st), -1);
}
END_TEST

TCase *fatal_tcase(void)
{
	TCase *tc = fixture_tcase("fatal", 60, f_setup, f_teardown);
	tcase_add_loop_test(tc, killed_program_leaves_the_record_and_the_same_death, 0,
			    sizeof killed / sizeof killed[0]);
	tcase_add_test(tc, vfork_child_killed_leaves_the_parent_its_record);
	tcase_add_test(tc, stat_sees_a_running_copier);
	tcase_add_test(tc, live_page_is_removed_by_a_fatal_signal);
	return tc;
}
