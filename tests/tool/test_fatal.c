/*
 * test_fatal.c - statistics that survive: a process that a signal kills
 * still leaves its record and dies exactly as it would without zcopy (wait
 * status, core dump included), the dispositions it reads back are its own,
 * and `zcopy stat` shows the live counters of a copier while it runs.
 *
 * The program is build/tool/copier (tests/tool/copier.c).  Each test has a
 * private directory, which is also XDG_RUNTIME_DIR (the live pages go to
 * its zcopy/ subdirectory).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

TCase *fatal_tcase(void);

#define SIZE (8u << 20)

static char dir[PATH_MAX], copier[PATH_MAX], zlib[PATH_MAX], ztool[PATH_MAX];

static void f_setup(void)
{
	const char *b = getenv("ZT_BUILD");
	ck_assert_ptr_nonnull(b);
	snprintf(copier, sizeof copier, "%s/tool/copier", b);
	snprintf(zlib, sizeof zlib, "%s/libzcopy.so", b);
	snprintf(ztool, sizeof ztool, "%s/zcopy", b);
	ck_assert_msg(access(copier, X_OK) == 0, "%s missing", copier);
	snprintf(dir, sizeof dir, "/tmp/zt-fatal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	unsetenv("LD_PRELOAD");
	unsetenv("ZCOPY_MODE");
	unsetenv("ZCOPY_STATS");
	unsetenv("ZCOPY_LOG");
	unsetenv("ZCOPY_GUARD");

	char path[PATH_MAX + 16], block[65536];
	snprintf(path, sizeof path, "%s/in", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < sizeof block; i++)
		block[i] = (char)(i * 7 + i / 509);
	for (size_t done = 0; done < SIZE; done += sizeof block)
		ck_assert_int_eq(write(fd, block, sizeof block), (ssize_t)sizeof block);
	close(fd);
}

static void f_teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

struct run {
	pid_t pid;
	int out; /* the program's stdout, a pipe */
	int in;  /* its stdin, a pipe */
};

/* Starts copier IN SUBDIR/out ACTION in SUBDIR (made here, the core goes
 * there), with core dumps allowed; with zcopy when mode is not NULL. */
static void start(struct run *r, const char *subdir, const char *mode, const char *action)
{
	char wd[PATH_MAX + 64], in[PATH_MAX + 16], stats[PATH_MAX + 64];
	int o[2], i[2];

	snprintf(wd, sizeof wd, "%s/%s", dir, subdir);
	ck_assert_int_eq(mkdir(wd, 0755), 0);
	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(stats, sizeof stats, "%s/%s.stats", dir, subdir);
	ck_assert_int_eq(pipe(o), 0);
	ck_assert_int_eq(pipe(i), 0);
	r->pid = fork();
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		struct rlimit core = { RLIM_INFINITY, RLIM_INFINITY };
		setrlimit(RLIMIT_CORE, &core);
		if (chdir(wd) != 0 || dup2(o[1], 1) < 0 || dup2(i[0], 0) < 0)
			_exit(120);
		close(o[0]), close(o[1]), close(i[0]), close(i[1]);
		if (mode) {
			setenv("LD_PRELOAD", zlib, 1);
			setenv("ZCOPY_MODE", mode, 1);
			setenv("ZCOPY_STATS", stats, 1);
		}
		execl(copier, copier, in, "out", action, (char *)NULL);
		_exit(121);
	}
	close(o[1]);
	close(i[0]);
	r->out = o[0];
	r->in = i[1];
}

static void read_ready(const struct run *r)
{
	char line[16] = "";
	ssize_t n = read(r->out, line, sizeof line - 1);
	ck_assert_msg(n > 0 && strncmp(line, "ready", 5) == 0, "no ready line (%zd)", n);
}

static int finish(struct run *r, char *out, size_t cap)
{
	int st;
	ssize_t n;
	size_t have = 0;
	close(r->in);
	while (have + 1 < cap && (n = read(r->out, out + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	close(r->out);
	ck_assert_int_eq(waitpid(r->pid, &st, 0), r->pid);
	return st;
}

/* The one record of side's stats file: its process and every byte of IN. */
static void check_record(const char *side, pid_t pid)
{
	char path[PATH_MAX + 64];
	struct zt_records rs;

	snprintf(path, sizeof path, "%s/%s.stats", dir, side);
	long n = zt_records_load(path, &rs);
	ck_assert_msg(n == 1, "%s: %ld records, wanted 1", side, n);
	ck_assert_int_eq(rs.v[0].pid, pid);
	ck_assert_msg(strstr(rs.v[0].exe, "/tool/copier") != NULL, "exe %s", rs.v[0].exe);
	ck_assert_uint_eq(rs.v[0].bytes_zero_copy + rs.v[0].bytes_copied, SIZE);
	zt_records_free(&rs);
}

/* Runs action without zcopy and with it in mode; both must end with the
 * same wait status, a death by sig; the zcopy side leaves its record.
 * send: the test sends sig once the program is ready. */
static void killed_alike(const char *mode, const char *action, int sig, int send)
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
	ck_assert_msg(WIFSIGNALED(st_a) && WTERMSIG(st_a) == sig, "plain: status %#x", st_a);
	ck_assert_msg(st_a == st_b, "wait status %#x without zcopy, %#x with", st_a, st_b);
	ck_assert_str_eq(out_a, out_b);
	check_record("zcopy", b.pid);
}

START_TEST(sigterm_leaves_the_record_and_the_same_death)
{
	killed_alike("on", "pause", SIGTERM, 1);
}
END_TEST

START_TEST(sigterm_in_observe_mode_leaves_the_record)
{
	killed_alike("observe", "pause", SIGTERM, 1);
}
END_TEST

START_TEST(sigint_leaves_the_record_and_the_same_death)
{
	killed_alike("on", "pause", SIGINT, 1);
}
END_TEST

START_TEST(sigsegv_fault_leaves_the_record_and_the_same_death_and_core)
{
	killed_alike("on", "segv", SIGSEGV, 0);
}
END_TEST

START_TEST(sigabrt_leaves_the_record_and_the_same_death_and_core)
{
	killed_alike("on", "abort", SIGABRT, 0);
}
END_TEST

/* The dispositions read back, signal()'s returns, and a handler that
 * re-raises after SIG_DFL: the same output and the same death. */
START_TEST(program_reads_back_its_own_dispositions)
{
	killed_alike("on", "view", SIGTERM, 0);
}
END_TEST

/* Runs the tool with args, stdout into out; returns the wait status. */
static int tool(char *out, size_t cap, const char *a1, const char *a2)
{
	int p[2], st;
	size_t have = 0;
	ssize_t n;
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(p[1], 1);
		dup2(null, 2);
		close(p[0]);
		execl(ztool, ztool, a1, a2, (char *)NULL);
		_exit(121);
	}
	close(p[1]);
	while (have + 1 < cap && (n = read(p[0], out + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

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
	TCase *tc = tcase_create("fatal");
	tcase_add_checked_fixture(tc, f_setup, f_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sigterm_leaves_the_record_and_the_same_death);
	tcase_add_test(tc, sigterm_in_observe_mode_leaves_the_record);
	tcase_add_test(tc, sigint_leaves_the_record_and_the_same_death);
	tcase_add_test(tc, sigsegv_fault_leaves_the_record_and_the_same_death_and_core);
	tcase_add_test(tc, sigabrt_leaves_the_record_and_the_same_death_and_core);
	tcase_add_test(tc, program_reads_back_its_own_dispositions);
	tcase_add_test(tc, stat_sees_a_running_copier);
	tcase_add_test(tc, live_page_is_removed_by_a_fatal_signal);
	return tc;
}
