/*
 * test_edges.c - zcopy's own files and signal handlers must not change how
 * a program runs or ends, at the edges a hostile environment reaches:
 *
 *  - a file size limit below one page: the live page (shim/live.c) would
 *    grow a file past it, and the kernel raises SIGXFSZ;
 *  - a full filesystem under the live page's directory: a sparse page would
 *    raise SIGBUS at the first counter stored into it;
 *  - the init of a PID namespace, to which a signal at SIG_DFL is not
 *    fatal: zcopy's handler (shim/fatal.c) would interrupt a poll() with
 *    EINTR and write the record before the end;
 *  - a stats file already past the file size limit: the record's write
 *    raised SIGXFSZ at exit;
 *  - a child made by _Fork(), which runs no fork handlers: its write after
 *    a dup2 went to the file the number named before;
 *  - a vfork child (its own fd table, its parent's memory) that dup2s a new
 *    file onto fd 1, or closes fd 1, or closes every fd from 3 up, and
 *    writes bytes read before the vfork: they went to the file fd 1 named
 *    in the parent, or by a pin the child had closed;
 *  - diagnostics (ZCOPY_LOG) into a log file past the file size limit, or
 *    into a stderr pipe whose reader is gone: SIGXFSZ or SIGPIPE killed the
 *    program for a line it never asked for;
 *  - two processes with the same pid in two PID namespaces that share the
 *    live pages' directory: one must not take over the other's page (it
 *    zeroed the other's counters, added its own to them and removed the
 *    file under the other).
 * Each scenario compares a run without zcopy with runs under it, and checks
 * from the stats that the engine engaged.  The namespaces come from
 * unshare(1) with a user namespace, as an unprivileged user has them.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SIZE (1 * MiB + 4321)

static char xdg_env[4096 + 64];

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 23);
	ck_assert_int_eq(mkdir(it_path("xdg"), 0700), 0);
	snprintf(xdg_env, sizeof xdg_env, "XDG_RUNTIME_DIR=%s", it_path("xdg"));
}

/* The files left in the live pages' directory (none once every process of
 * the run has ended). */
static void expect_no_pages_left(void)
{
	DIR *d = opendir(it_path("xdg/zcopy"));
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		/* the page names its program (struct zc_live_page: exe at 32) */
		char rel[300], exe[1024] = "";
		snprintf(rel, sizeof rel, "xdg/zcopy/%s", e->d_name);
		char *text = it_slurp(rel, NULL);
		if (text)
			snprintf(exe, sizeof exe, "%s", text + 32);
		ck_abort_msg("a live page left behind: %s, of %s", e->d_name, exe);
	}
	closedir(d);
}

/* unshare(1) with a user namespace must work here: without it these
 * scenarios test nothing, which is a failure, not a pass. */
static void need_unshare(const char *flags)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "unshare %s true 2>/dev/null", flags);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "unshare %s does not work here: the scenario cannot run", flags);
}

static void expect_engaged(void)
{
	ck_assert_msg(it_stat("on", "review_edges", "bytes_zero_copy") > 0,
		      "the engine did not engage: %s", it_stats_text("on"));
}

START_TEST(fsize_limit_below_a_page)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("review_edges"), "-f", "3000", "copy",
					     "../src"),
			     .env = IT_ARGV(xdg_env), .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("review_edges -f 3000 copy");
	it_same_file("src", "on/piped");
	expect_engaged();
	expect_no_pages_left();
}
END_TEST

START_TEST(full_runtime_dir)
{
	need_unshare("-Urm");
	char script[8192];
	const char *x = it_path("full");
	/* only the program's runtime directory is the full one; unshare and
	 * sh keep the others' (the page unshare leaves at its exec is another
	 * scenario's) */
	ck_assert_int_eq(mkdir(x, 0700), 0);
	snprintf(script, sizeof script,
		 "mount -t tmpfs -o size=64k none '%s' && mkdir -m 700 '%s/zcopy' || exit 97; "
		 "head -c 1000000 /dev/zero > '%s/fill' 2>/dev/null; "
		 "XDG_RUNTIME_DIR='%s' exec '%s' copy ../src",
		 x, x, x, x, it_prog("review_edges"));
	struct it_spec s = { .argv = IT_ARGV("unshare", "-Urm", "sh", "-c", script),
			     .env = IT_ARGV(xdg_env), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("review_edges copy on a full XDG_RUNTIME_DIR");
	it_same_file("src", "on/stdout");
	expect_engaged();
}
END_TEST

START_TEST(namespace_init_ignores_sigalrm)
{
	need_unshare("-Urpf");
	struct it_spec s = { .argv = IT_ARGV("unshare", "-Urpf", it_prog("review_edges"), "alarm",
					     "../src"),
			     .env = IT_ARGV(xdg_env), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("review_edges alarm as a namespace's init");
	char *err = it_slurp("none/stderr", NULL);
	ck_assert_msg(strstr(err, "poll 0 OK"), "plain run: %s", err);
	free(err);
	expect_engaged();
}
END_TEST

START_TEST(fork_child_writes_where_its_fd_points)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("review_edges"), "fork", "../src"),
			     .env = IT_ARGV(xdg_env), .out_fd = -1 };
	it_four_spec(&s, IT_ARGV("child.out"));
	it_expect_plain_success("review_edges fork");
	ck_assert_int_eq(it_file_size("none/stdout"), 6 * 65536);
	ck_assert_int_eq(it_file_size("none/child.out"), 65536);
	expect_engaged();
}
END_TEST

/* vfork_write ACTION: the runs agree (stdout, stderr with each child's
 * status, the children's files), the parent's copy engaged the engine, and
 * stdout holds src and `extra` bytes more (a child's writes to it). */
static void vfork_scenario_argv(const char *const *argv, const char *action,
				const char *const *outputs, off_t extra)
{
	struct it_spec s = { .argv = argv, .env = IT_ARGV(xdg_env), .out_fd = -1 };
	it_four_spec(&s, outputs);
	it_expect_plain_success(action);
	ck_assert_int_eq(it_file_size("none/stdout"), SIZE + extra);
	ck_assert_msg(it_stat("on", "vfork_write", "bytes_zero_copy") > 0,
		      "the engine did not engage: %s", it_stats_text("on"));
}

static void vfork_scenario(const char *action, const char *const *outputs, off_t extra)
{
	vfork_scenario_argv(IT_ARGV(it_prog("vfork_write"), action, "../src"), action, outputs,
			    extra);
}

static void expect_err(const char *want)
{
	char *err = it_slurp("none/stderr", NULL);
	ck_assert_msg(strstr(err, want), "plain run: %s", err);
	free(err);
}

START_TEST(vfork_child_dup2_writes_to_its_new_file)
{
	vfork_scenario("dup2", IT_ARGV("child.out"), 0);
	ck_assert_int_eq(it_file_size("none/child.out"), 65536);
	expect_err("child 1: ok");
}
END_TEST

/* The same with a buffer that starts inside a page: its pages are guarded,
 * and get their bytes before the child's plain write. */
START_TEST(vfork_child_dup2_guarded_buffer)
{
	vfork_scenario_argv(IT_ARGV(it_prog("vfork_write"), "-u", "dup2", "../src"), "-u dup2",
			    IT_ARGV("child.out"), 0);
	ck_assert_int_eq(it_file_size("none/child.out"), 65536);
	expect_err("child 1: ok");
	ck_assert_msg(it_stat("on", "vfork_write", "materialized_bytes") > 0,
		      "no guarded page got its bytes: %s", it_stats_text("on"));
}
END_TEST

/* A vfork child that puts another file on the source's number reads that
 * file. */
START_TEST(vfork_child_dup2_reads_its_new_file)
{
	it_make_file("other", 5 * 65536 + 99, 7);
	vfork_scenario("reread", IT_ARGV("child.out"), 0);
	it_same_file("other", "none/child.out");
	expect_err("child 1: ok");
}
END_TEST

/* The same file opened again at the same offset and put on the source's
 * number: the child's read moves its own description's offset, not the
 * parent's (a deferred read went by the pin of the parent's). */
START_TEST(vfork_child_reads_its_own_description)
{
	vfork_scenario("reopen", IT_ARGV("child.out"), 0);
	expect_err("child 1: ok");
}
END_TEST

START_TEST(vfork_child_reads_its_own_description_guarded)
{
	vfork_scenario_argv(IT_ARGV(it_prog("vfork_write"), "-u", "reopen", "../src"), "-u reopen",
			    IT_ARGV("child.out"), 0);
	expect_err("child 1: ok");
}
END_TEST

START_TEST(vfork_child_write_to_closed_fd_fails)
{
	vfork_scenario("close", NULL, 0);
	expect_err("child 1: EBADF");
}
END_TEST

/* closefrom(3) in a vfork child closes zcopy's pins in its fd table too:
 * its write to fd 1 must not go by one, and guarded pages of the buffer
 * must get their bytes before the pin they are read through is gone. */
START_TEST(vfork_child_closefrom_then_writes)
{
	vfork_scenario("closefrom", NULL, 65536);
	expect_err("child 1: ok");
}
END_TEST

START_TEST(vfork_child_closefrom_guarded_buffer)
{
	vfork_scenario_argv(IT_ARGV(it_prog("vfork_write"), "-u", "closefrom", "../src"),
			    "-u closefrom", NULL, 65536);
	expect_err("child 1: ok");
	ck_assert_msg(it_stat("on", "vfork_write", "materialized_bytes") > 0,
		      "no guarded page got its bytes: %s", it_stats_text("on"));
}
END_TEST

/* dup2 in a vfork child onto the number where zcopy keeps a pin: the
 * child's file is there in the child, and in the parent the number stays
 * zcopy's (EBADF to the program) and its pin keeps working. */
START_TEST(vfork_child_dup2_over_zcopys_number)
{
	vfork_scenario("high", IT_ARGV("child.out"), 0);
	ck_assert_int_eq(it_file_size("none/child.out"), 65536);
	expect_err("highest fd: EBADF");
}
END_TEST

/* The same with guarded pages read through that pin: they get their bytes
 * before the child's dup2 replaces it. */
START_TEST(vfork_child_dup2_over_zcopys_number_guarded)
{
	vfork_scenario_argv(IT_ARGV(it_prog("vfork_write"), "-u", "high", "../src"), "-u high",
			    IT_ARGV("child.out"), 0);
	expect_err("child 1: ok");
	ck_assert_msg(it_stat("on", "vfork_write", "materialized_bytes") > 0,
		      "no guarded page got its bytes: %s", it_stats_text("on"));
}
END_TEST

START_TEST(vfork_children_in_a_row)
{
	vfork_scenario("twice", IT_ARGV("child.out", "child2.out"), 65536);
	ck_assert_int_eq(it_file_size("none/child.out"), 65536);
	ck_assert_int_eq(it_file_size("none/child2.out"), 65536);
	expect_err("child 3: ok");
}
END_TEST

START_TEST(vfork_child_execs)
{
	vfork_scenario("exec", IT_ARGV("child.out"), 0);
	expect_err("child 1: ok");
}
END_TEST

START_TEST(posix_spawn_opens_onto_fd1)
{
	vfork_scenario("spawn", IT_ARGV("child.out"), 0);
	expect_err("child 1: ok");
}
END_TEST

/* A run under zcopy whose stats file holds `had` bytes before it starts. */
static void run_with_stats_of(const char *tag, size_t had)
{
	char rel[64];
	ck_assert_int_eq(mkdir(it_path(tag), 0755), 0);
	snprintf(rel, sizeof rel, "%s/stats", tag);
	FILE *f = fopen(it_path(rel), "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i + 1 < had; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	struct it_spec s = { .tag = tag, .mode = IT_ON,
			     .argv = IT_ARGV(it_prog("review_edges"), "-f", "5000", "copy", "../src"),
			     .env = IT_ARGV(xdg_env), .consumer = IT_ARGV("cat"), .out_fd = -1 };
	struct it_result r = it_exec(&s);
	ck_assert_msg(r.status == it_status("none"), "stats file of %zu bytes: %s, without zcopy %s",
		      had, it_describe(r.status), it_describe(it_status("none")));
	/* no record: the write failed with EFBIG */
	ck_assert_int_eq(it_file_size(rel), (off_t)had);
	snprintf(rel, sizeof rel, "%s/piped", tag);
	it_same_file("src", rel);
}

START_TEST(stats_file_at_the_fsize_limit)
{
	/* a fresh stats file takes the record: the engine engaged */
	struct it_spec s = { .argv = IT_ARGV(it_prog("review_edges"), "-f", "5000", "copy",
					     "../src"),
			     .env = IT_ARGV(xdg_env), .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("review_edges -f 5000 copy");
	expect_engaged();
	run_with_stats_of("past", 6000);
}
END_TEST

/* ZCOPY_LOG=2 into a log file already past the limit the program sets:
 * each line's write fails (EFBIG) and the program runs on, as it does
 * without zcopy. */
START_TEST(log_file_past_the_fsize_limit)
{
	const char *const argv[] = { it_prog("review_edges"), "-f", "5000", "copy", "../src",
				     NULL };
	struct it_spec s = { .tag = "none", .mode = IT_NONE, .argv = argv,
			     .env = IT_ARGV(xdg_env), .consumer = IT_ARGV("cat"), .out_fd = -1 };
	struct it_result plain = it_exec(&s);
	ck_assert_msg(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 0, "plain run: %s",
		      it_describe(plain.status));
	ck_assert_int_eq(mkdir(it_path("on"), 0755), 0);
	FILE *f = fopen(it_path("on/zc.log"), "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 6000; i++)
		fputc(i % 80 == 79 ? '\n' : 'x', f);
	fclose(f);
	s.tag = "on";
	s.mode = IT_ON;
	s.env = IT_ARGV(xdg_env, "ZCOPY_LOG=2", "ZCOPY_LOG_FILE=zc.log");
	struct it_result r = it_exec(&s);
	ck_assert_msg(r.status == plain.status, "under zcopy: %s, without: %s",
		      it_describe(r.status), it_describe(plain.status));
	it_same_file("src", "on/piped");
	/* The start-up lines came before the program set the limit; the
	 * stream's lines after it, and failed. */
	char *log = it_slurp("on/zc.log", NULL);
	ck_assert_msg(strstr(log, "ready: mode on") && !strstr(log, "stream"), "log: %s", log + 6000);
	free(log);
	expect_engaged();
}
END_TEST

/* ZCOPY_LOG=2 on a stderr pipe whose reader is gone: the program never
 * writes to stderr itself, so without zcopy it exits 0. */
START_TEST(log_to_stderr_without_a_reader)
{
	const char *const argv[] = { it_prog("dead_stderr"), it_prog("rw_loop"), "../src", "out",
				     NULL };
	struct it_spec s = { .tag = "none", .mode = IT_NONE, .argv = argv,
			     .env = IT_ARGV(xdg_env), .out_fd = -1 };
	struct it_result plain = it_exec(&s);
	ck_assert_msg(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 0, "plain run: %s",
		      it_describe(plain.status));
	s.tag = "on";
	s.mode = IT_ON;
	s.env = IT_ARGV(xdg_env, "ZCOPY_LOG=2");
	struct it_result r = it_exec(&s);
	ck_assert_msg(r.status == plain.status, "under zcopy: %s, without: %s",
		      it_describe(r.status), it_describe(plain.status));
	it_same_out("none", "on");
	it_same_file("src", "on/out");
	ck_assert_msg(it_stat("on", "rw_loop", "bytes_zero_copy") > 0,
		      "the engine did not engage: %s", it_stats_text("on"));
}
END_TEST

#define SMALL (300 * 1024 + 17)

START_TEST(same_pid_in_two_namespaces)
{
	need_unshare("-Urpf");
	it_make_file("small", SMALL, 5);
	char script[8192];
	const char *p = it_prog("review_edges");
	/* A (pid 1 of its namespace) copies and waits; B (pid 1 of another)
	 * copies SMALL while A waits; then A copies again. */
	snprintf(script, sizeof script,
		 "unshare -Urpf '%s' hold ../src > a.out & "
		 "i=0; while [ ! -e ready ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
		 "unshare -Urpf '%s' copy ../small > /dev/null; touch go; wait $!",
		 p, p);
	struct it_spec s = { .argv = IT_ARGV("sh", "-c", script), .env = IT_ARGV(xdg_env),
			     .out_fd = -1 };
	it_four_spec(&s, IT_ARGV("a.out"));
	it_expect_plain_success("two namespaces' pid 1 at once");
	ck_assert_int_eq(it_file_size("none/a.out"), 2LL * SIZE);
	expect_engaged();
	/* Each record counts its own process's copies, every byte once. */
	long long all = it_stat("on", "review_edges", "bytes_zero_copy") +
			it_stat("on", "review_edges", "bytes_copied");
	ck_assert_msg(all == 2LL * SIZE + SMALL, "the records count %lld bytes, not %lld: %s", all,
		      2LL * SIZE + SMALL, it_stats_text("on"));
	ck_assert_int_eq(it_stat_records("on", "review_edges"), 2);
	expect_no_pages_left();
}
END_TEST

int main(void)
{
	Suite *s = it_suite("edges");
	TCase *tc = it_tcase(s, "edges", setup, 60);
	it_add(tc, IT_TESTS(fsize_limit_below_a_page, full_runtime_dir, stats_file_at_the_fsize_limit,
			    fork_child_writes_where_its_fd_points, namespace_init_ignores_sigalrm,
			    same_pid_in_two_namespaces, vfork_child_dup2_writes_to_its_new_file,
			    vfork_child_dup2_guarded_buffer, vfork_child_dup2_reads_its_new_file,
			    vfork_child_closefrom_then_writes, vfork_child_closefrom_guarded_buffer,
			    vfork_child_reads_its_own_description,
			    vfork_child_reads_its_own_description_guarded,
			    vfork_child_dup2_over_zcopys_number,
			    vfork_child_dup2_over_zcopys_number_guarded,
			    vfork_child_write_to_closed_fd_fails, vfork_children_in_a_row,
			    vfork_child_execs, posix_spawn_opens_onto_fd1, log_file_past_the_fsize_limit,
			    log_to_stderr_without_a_reader));
	return it_main(s, "build/programs");
}
