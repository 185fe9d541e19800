/*
 * test_ownfd.c - the descriptors zcopy holds for itself (shim/ownfd.c) must
 * stay out of the program's way, and its output files are opened safely.
 *
 *  - ZCOPY_STATS=stderr keeps no copy of stderr: a daemon forked by the
 *    program does not hold the reader of its stderr open;
 *  - dup2 onto zcopy's numbers (512, the top of RLIMIT_NOFILE) and close of
 *    them behave as without zcopy, and zcopy's output never lands in the
 *    program's files;
 *  - with a tiny RLIMIT_NOFILE, open() returns the same numbers, and EMFILE
 *    at the same count;
 *  - the stats and log files: symbolic links are not followed, a FIFO does
 *    not block, new files get mode 0600, a relative path means the
 *    directory the program started in.
 * Each scenario compares a run without zcopy with runs under it, and checks
 * from the stats (or the summary, or the log) that the engine engaged.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

#define SIZE (8 * MiB + 4321)

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 11);
}

/* A run under zcopy with exactly these ZCOPY_* settings. */
static struct it_result run_with(const char *tag, const char *const *argv,
				 const char *const *env, int timeout)
{
	struct it_spec s = { .tag = tag, .mode = IT_ON, .keep_env = 1, .argv = argv,
			     .env = env, .out_fd = -1, .timeout = timeout };
	return it_exec(&s);
}

static void run_plain(const char *const *argv)
{
	struct it_spec s = { .mode = IT_NONE, .argv = argv, .out_fd = -1 };
	it_exec(&s);
	it_expect_plain_success(argv[0]);
}

/* Fails unless run tag ended as the plain run did, with the same stdout. */
static void same_as_plain(const char *tag)
{
	char a[64], b[64];
	snprintf(b, sizeof b, "%s/stderr", tag);
	ck_assert_msg(it_status(tag) == it_status("none"), "run %s: %s, without zcopy %s (stderr: %s)",
		      tag, it_describe(it_status(tag)), it_describe(it_status("none")),
		      it_slurp(b, NULL));
	snprintf(b, sizeof b, "%s/stdout", tag);
	snprintf(a, sizeof a, "none/stdout");
	it_same_file(a, b);
}

static char *env_str(const char *fmt, const char *arg)
{
	char *v;
	ck_assert(asprintf(&v, fmt, arg) > 0);
	return v;
}

/* ---- 11: no copy of stderr ------------------------------------------------ */

/*
 * Runs argv with stdout and stderr on one pipe (as `$(cmd 2>&1)` does) and
 * returns how long the pipe took to reach end-of-file, in ms (at most
 * limit_ms; more means it did not).  What came through goes to *text.
 */
static long eof_after(const char *const *argv, int shim, char **text, long limit_ms)
{
	int p[2];
	ck_assert(pipe(p) == 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		if (chdir(it_dir) != 0)
			_exit(97);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		unsetenv("LD_PRELOAD");
		if (shim) {
			setenv("LD_PRELOAD", it_lib, 1);
			setenv("ZCOPY_MODE", "on", 1);
			setenv("ZCOPY_STATS", "stderr", 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(96);
	}
	close(p[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = calloc(1, cap);
	long ms = limit_ms + 1;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el > limit_ms)
			break;
		struct pollfd pf = { p[0], POLLIN, 0 };
		if (poll(&pf, 1, (int)(limit_ms - el) + 1) <= 0)
			continue;
		ssize_t r = read(p[0], buf + len, cap - 1 - len);
		if (r <= 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			break;
		}
		len += (size_t)r;
	}
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	kill(-pid, SIGKILL); /* the daemon, if it is still there */
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", argv[0], it_describe(st));
	*text = buf;
	return ms;
}

/* The lines of text that do not start with "zcopy[" (the summary). */
static char *without_summary(const char *text)
{
	char *out = calloc(1, strlen(text) + 1), *w = out;
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) + 1 : strlen(l);
		if (strncmp(l, "zcopy[", 6) != 0) {
			memcpy(w, l, n);
			w += n;
		}
		l += n;
	}
	return out;
}

START_TEST(stderr_summary_holds_no_pipe_open)
{
	const char *const *argv = IT_ARGV(it_prog("own_fds"), "daemon", "src", "out");
	char *plain, *zc;
	long tp = eof_after(argv, 0, &plain, 2000);
	ck_assert_msg(tp < 2000, "without zcopy the pipe stayed open %ld ms", tp);
	long tz = eof_after(argv, 1, &zc, 2000);
	ck_assert_msg(tz < 2000,
		      "with ZCOPY_STATS=stderr the pipe stayed open for the daemon (> %ld ms; "
		      "without zcopy %ld ms)", tz - 1, tp);
	ck_assert_str_eq(without_summary(zc), plain);
	it_same_file("src", "out");
	/* The summary was printed, and the copy was redirected. */
	const char *line = strstr(zc, "zcopy[");
	ck_assert_msg(line && strstr(line, " zero-copy") && !strstr(line, ": 0 B zero-copy"),
		      "no summary showing zero-copy bytes:\n%s", zc);
}
END_TEST

/* ---- 12: dup2 onto zcopy's numbers ----------------------------------------- */

static const char *const mine[] = { "mine.0", "mine.1", "mine.2", "mine.3", "mine.4",
				    "mine.5", "mine.6", "mine.7", "mine.8", NULL };

START_TEST(dup2_and_close_over_own_fds)
{
	const char *const *argv = IT_ARGV(it_prog("own_fds"), "dup2-high", "../src", "out");
	run_plain(argv);

	/* The stderr summary, the log file (every redirected call logged), and
	 * the plain stats file. */
	run_with("stderr", argv, IT_ARGV("ZCOPY_MODE=on", "ZCOPY_STATS=stderr"), 60);
	run_with("log", argv,
		 IT_ARGV("ZCOPY_MODE=on", "ZCOPY_LOG=3", "ZCOPY_LOG_FILE=zc.log",
			 env_str("ZCOPY_STATS=%s", it_path("log/stats"))),
		 60);
	for (int t = 0; t < 2; t++) {
		const char *tag = t ? "log" : "stderr";
		same_as_plain(tag);
		char a[64], b[64];
		snprintf(a, sizeof a, "none/out");
		snprintf(b, sizeof b, "%s/out", tag);
		it_same_file(a, b);
		for (int i = 0; mine[i]; i++) {
			snprintf(a, sizeof a, "none/%s", mine[i]);
			snprintf(b, sizeof b, "%s/%s", tag, mine[i]);
			it_same_file(a, b);
		}
	}
	it_same_file("src", "none/out");
	char *err = it_slurp("stderr/stderr", NULL);
	ck_assert_msg(strstr(err, "zcopy[") && !strstr(err, ": 0 B zero-copy"),
		      "no summary with zero-copy bytes on stderr: %s", err);
	ck_assert_int_gt(it_stat("log", "own_fds", "bytes_zero_copy"), 0);
	size_t n;
	char *log = it_slurp("log/zc.log", &n);
	ck_assert_msg(strstr(log, "zcopy[") != NULL, "the log file has no line: %s", log);
}
END_TEST

/* closefrom(3) in the middle of a stream: the program's numbers and results
 * are those of the plain run, the copy engages again afterwards, and the
 * log file (closed by closefrom) keeps receiving lines. */
START_TEST(closefrom_over_own_fds)
{
	const char *const *argv = IT_ARGV(it_prog("own_fds"), "closefrom", "../src", "out");
	run_plain(argv);
	run_with("on", argv,
		 IT_ARGV("ZCOPY_MODE=on", "ZCOPY_LOG=3", "ZCOPY_LOG_FILE=zc.log",
			 env_str("ZCOPY_STATS=%s", it_path("on/stats"))),
		 60);
	same_as_plain("on");
	it_same_file("src", "none/out");
	it_same_file("src", "on/out");
	/* Deferred reads past the middle were logged: the log survived. */
	char *log = it_slurp("on/zc.log", NULL);
	long long last = -1;
	for (const char *p = log; (p = strstr(p, "defer: fd ")) != NULL; p++) {
		const char *o = strstr(p, " off ");
		if (o)
			last = atoll(o + 5);
	}
	ck_assert_msg(last >= SIZE / 2, "no deferred read logged after closefrom (last at %lld)",
		      last);
	ck_assert_int_gt(it_stat("on", "own_fds", "bytes_zero_copy"), SIZE / 2);
}
END_TEST

/* ---- 13: a tiny descriptor limit ------------------------------------------- */

START_TEST(tiny_fd_limit_open_returns_the_same_numbers)
{
	it_four(IT_ARGV(it_prog("own_fds"), "low-limit", "../src", "out"), NULL, IT_ARGV("out"));
	it_same_file("src", "none/out");
	char *o = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(o, " after ") != NULL, "the plain run never reached EMFILE: %s", o);
	it_expect_passive("own_fds");
	/* zcopy would need descriptors of its own to pin the source, and under
	 * a limit this small holds none: it stays out, and says why. */
	it_expect_no_zero_copy("own_fds", 0);
	it_expect_fallback("on", "own_fds", "fd_limit");
}
END_TEST

/* ---- 14: the stats and log files -------------------------------------------- */

#define VICTIM "precious bytes\n"

static void make_victim(void)
{
	FILE *f = fopen(it_path("victim"), "w");
	ck_assert(f && fputs(VICTIM, f) >= 0 && fclose(f) == 0);
}

static void victim_intact(const char *what)
{
	char *v = it_slurp("victim", NULL);
	ck_assert_msg(strcmp(v, VICTIM) == 0, "%s: the file the link points to was changed:\n%s",
		      what, v);
}

/* Lines of text holding both needle and "cannot" (the report of a refused
 * file, not the start-up lines of ZCOPY_LOG=1 that name the setting). */

/* The on run said once, on stderr, that it cannot use name. */
static void expect_one_complaint(const char *name)
{
	char *err = it_slurp("on/stderr", NULL);
	ck_assert_msg(it_count_lines(err, name, "cannot") == 1, "expected one line about %s:\n%s",
		      name, err);
	free(err);
}

/* own_fds copying ../src to out, staying in its directory. */
#define OWN_FDS IT_ARGV(it_prog("own_fds"), "chdir", ".", "../src", "out")

/* The same run with a regular stats file: engaged. */
static void engaged_with_a_stats_file(const char *const *argv)
{
	run_with("file", argv, IT_ARGV("ZCOPY_MODE=on", "ZCOPY_STATS=stats"), 60);
	ck_assert_int_gt(it_stat("file", "own_fds", "bytes_zero_copy"), 0);
}

/* The victim file, a symlink to it at link (in the on run's directory),
 * and the plain run of argv. */
static void victim_behind(const char *link, const char *const *argv)
{
	make_victim();
	ck_assert(mkdir(it_path("on"), 0755) == 0);
	ck_assert(symlink("../victim", it_path(link)) == 0);
	run_plain(argv);
}

START_TEST(stats_path_relative_to_the_start_directory)
{
	const char *const *argv = IT_ARGV(it_prog("own_fds"), "chdir", "sub", "../src", "out");
	ck_assert(mkdir(it_path("none"), 0755) == 0 && mkdir(it_path("none/sub"), 0755) == 0);
	ck_assert(mkdir(it_path("on"), 0755) == 0 && mkdir(it_path("on/sub"), 0755) == 0);
	run_plain(argv);
	/* "stats", relative: the record belongs in on/stats, not on/sub/stats. */
	run_with("on", argv, IT_ARGV("ZCOPY_MODE=on", "ZCOPY_STATS=stats"), 60);
	same_as_plain("on");
	ck_assert_msg(it_file_size("on/sub/stats") < 0, "the record went where the program moved: %s",
		      it_slurp("on/sub/stats", NULL));
	ck_assert_int_gt(it_stat("on", "own_fds", "bytes_zero_copy"), 0);
}
END_TEST

START_TEST(stats_file_new_mode_0600)
{
	const char *const *argv = OWN_FDS;
	umask(022);
	run_plain(argv);
	run_with("on", argv,
		 IT_ARGV("ZCOPY_MODE=on", env_str("ZCOPY_STATS=%s", it_path("on/stats"))), 60);
	same_as_plain("on");
	struct stat st;
	ck_assert(stat(it_path("on/stats"), &st) == 0);
	ck_assert_msg((st.st_mode & 0777) == 0600, "stats file mode %o, expected 600",
		      st.st_mode & 0777);
	ck_assert_int_gt(it_stat("on", "own_fds", "bytes_zero_copy"), 0);
}
END_TEST

START_TEST(stats_symlink_not_followed)
{
	const char *const *argv = OWN_FDS;
	victim_behind("on/stats.link", argv);
	run_with("on", argv, IT_ARGV("ZCOPY_MODE=on", "ZCOPY_LOG=1", "ZCOPY_STATS=stats.link"), 60);
	same_as_plain("on");
	victim_intact("ZCOPY_STATS=symlink");
	/* Reported once, on stderr, because ZCOPY_LOG=1. */
	expect_one_complaint("stats.link");
	/* Without ZCOPY_LOG: silent. */
	run_with("quiet", argv, IT_ARGV("ZCOPY_MODE=on", "ZCOPY_STATS=../on/stats.link"), 60);
	same_as_plain("quiet");
	victim_intact("ZCOPY_STATS=symlink, quiet");
	ck_assert_int_eq(it_file_size("quiet/stderr"), 0);
	engaged_with_a_stats_file(argv);
}
END_TEST

START_TEST(stats_fifo_does_not_block)
{
	const char *const *argv = OWN_FDS;
	ck_assert(mkdir(it_path("on"), 0755) == 0);
	ck_assert(mkfifo(it_path("on/stats.fifo"), 0600) == 0);
	run_plain(argv);
	/* Nobody reads the FIFO: an open that waits for a reader would hang
	 * (the harness kills the run and fails the test after 10 s). */
	run_with("on", argv, IT_ARGV("ZCOPY_MODE=on", "ZCOPY_LOG=1", "ZCOPY_STATS=stats.fifo"), 10);
	same_as_plain("on");
	expect_one_complaint("stats.fifo");
	engaged_with_a_stats_file(argv);
}
END_TEST

START_TEST(log_file_symlink_not_followed)
{
	const char *const *argv = OWN_FDS;
	victim_behind("on/log.link", argv);
	run_with("on", argv,
		 IT_ARGV("ZCOPY_MODE=on", "ZCOPY_LOG=2", "ZCOPY_LOG_FILE=log.link",
			 env_str("ZCOPY_STATS=%s", it_path("on/stats"))),
		 60);
	same_as_plain("on");
	victim_intact("ZCOPY_LOG_FILE=symlink");
	expect_one_complaint("log.link");
	ck_assert_int_gt(it_stat("on", "own_fds", "bytes_zero_copy"), 0);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("ownfd");
	TCase *tc = it_tcase(s, "ownfd", setup, 60);
	it_add(tc, IT_TESTS(stderr_summary_holds_no_pipe_open, dup2_and_close_over_own_fds,
				closefrom_over_own_fds,
				tiny_fd_limit_open_returns_the_same_numbers,
				stats_path_relative_to_the_start_directory,
				stats_file_new_mode_0600, stats_symlink_not_followed,
				stats_fifo_does_not_block, log_file_symlink_not_followed));
	return it_main(s, "build/programs");
}
