/*
 * test_log.c - the async-signal-safe formatter (every conversion, length
 * modifiers, truncation, NUL-termination) and the log destination (line
 * format, levels, log file with %p, its fd kept out of the program's way,
 * errno untouched).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "optcache.h"
#include "unit.h"

/* setrlimit as the library's wrapper makes it (interpose.c): the cached
 * limit (optcache.h) is read again afterwards. */
static int set_nofile(const struct rlimit *rl)
{
	zc_limits_changing();
	int r = setrlimit(RLIMIT_NOFILE, rl);
	zc_limits_changed();
	return r;
}

/* ---- formatter ------------------------------------------------------------ */

#define FMT_IS(expect, ...)                                                               \
	do {                                                                              \
		char b_[256];                                                             \
		size_t n_ = zc_fmt(b_, sizeof b_, __VA_ARGS__);                           \
		assert_string_equal(b_, expect);                                          \
		assert_int_equal(n_, strlen(expect));                                     \
	} while (0)

/* No format attribute here: lets a test pass conversions the compiler would
 * (rightly) reject in a literal checked against the arguments. */
static size_t vfmt_unchecked(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = zc_vfmt(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

static void fmt_plain_text(void **state)
{
	FMT_IS("no conversions here", "no conversions here");
	FMT_IS("", "%s", "");
}

static void fmt_s(void **state)
{
	FMT_IS("<abc>", "<%s>", "abc");
}

static void fmt_s_null_prints_null(void **state)
{
	char b[32];
	/* unchecked: the compiler would flag a NULL %s in a checked call */
	assert_int_equal(vfmt_unchecked(b, sizeof b, "[%s]", (const char *)NULL), 8);
	assert_string_equal(b, "[(null)]");
}

static void fmt_c(void **state)
{
	FMT_IS("xyz", "x%cz", 'y');
}

static void fmt_d_and_i(void **state)
{
	FMT_IS("0 -1 42", "%d %d %i", 0, -1, 42);
	FMT_IS("-2147483648 2147483647", "%d %i", INT_MIN, INT_MAX);
}

static void fmt_u(void **state)
{
	FMT_IS("0 4294967295", "%u %u", 0u, UINT_MAX);
}

static void fmt_x_lowercase_no_prefix(void **state)
{
	FMT_IS("0 deadbeef ffffffff", "%x %x %x", 0u, 0xdeadbeefu, UINT_MAX);
}

static void fmt_l_modifier(void **state)
{
	FMT_IS("-9223372036854775808 9223372036854775807", "%ld %li", LONG_MIN, LONG_MAX);
	FMT_IS("18446744073709551615 ffffffffffffffff", "%lu %lx", ULONG_MAX, ULONG_MAX);
}

static void fmt_ll_modifier(void **state)
{
	FMT_IS("-9223372036854775808 9223372036854775807", "%lld %lli", LLONG_MIN, LLONG_MAX);
	FMT_IS("18446744073709551615 123456789abcdef0", "%llu %llx", ULLONG_MAX,
	       0x123456789abcdef0ULL);
}

static void fmt_z_modifier(void **state)
{
	FMT_IS("18446744073709551615 -5 1000", "%zu %zd %zx", SIZE_MAX, (ssize_t)-5,
	       (size_t)0x1000);
}

static void fmt_h_modifier(void **state)
{
	FMT_IS("-2 65535", "%hd %hu", (short)-2, (unsigned short)65535);
}

static void fmt_p_matches_libc(void **state)
{
	int x;
	char expect[64];
	snprintf(expect, sizeof expect, "%p", (void *)&x);
	FMT_IS(expect, "%p", (void *)&x);
	snprintf(expect, sizeof expect, "%p", (void *)NULL);
	FMT_IS(expect, "%p", (void *)NULL);
}

static void fmt_percent(void **state)
{
	FMT_IS("100%", "100%%");
	FMT_IS("%d", "%%d");
}

static void fmt_width_flags_and_precision_are_skipped(void **state)
{
	FMT_IS("42|ab|ff|7", "%5d|%-3s|%08x|%.3u", 42, "ab", 0xffu, 7u);
	FMT_IS("12", "%-10ld", 12L);
}

static void fmt_mixed_matches_snprintf(void **state)
{
	char ours[256], libc[256];
	size_t n = zc_fmt(ours, sizeof ours, "fd=%d len=%zu off=%lld name=%s flags=%x pid=%ld %c%%",
			  -7, (size_t)65536, -(1LL << 40), "in.dat", 0x80241u, 123456L, '!');
	int m = snprintf(libc, sizeof libc, "fd=%d len=%zu off=%lld name=%s flags=%x pid=%ld %c%%",
			 -7, (size_t)65536, -(1LL << 40), "in.dat", 0x80241u, 123456L, '!');
	assert_string_equal(ours, libc);
	assert_int_equal(n, (size_t)m);
}

static void fmt_unknown_conversion_printed_as_written(void **state)
{
	char b[64];
	assert_int_equal(vfmt_unchecked(b, sizeof b, "a%qb"), 4);
	assert_string_equal(b, "a%qb");
	vfmt_unchecked(b, sizeof b, "end%");
	assert_string_equal(b, "end%");
	vfmt_unchecked(b, sizeof b, "end%l");
	assert_string_equal(b, "end%l");
	/* the unknown one consumed no argument: the next one still lines up */
	vfmt_unchecked(b, sizeof b, "%q %d", 5);
	assert_string_equal(b, "%q 5");
}

static void fmt_truncates_and_terminates(void **state)
{
	char b[16];
	memset(b, 'Z', sizeof b);
	size_t n = zc_fmt(b, 5, "hello world");
	assert_int_equal(n, 4);
	assert_string_equal(b, "hell");
	assert_int_equal(b[5], 'Z'); /* nothing written past cap */
}

static void fmt_truncates_inside_a_conversion(void **state)
{
	char b[16];
	memset(b, 'Z', sizeof b);
	assert_int_equal(zc_fmt(b, 4, "%d", 123456), 3);
	assert_string_equal(b, "123");
	assert_int_equal(b[4], 'Z');
	assert_int_equal(zc_fmt(b, 6, "ab%s", "cdefgh"), 5);
	assert_string_equal(b, "abcde");
	assert_int_equal(b[6], 'Z');
	memset(b, 'Z', sizeof b);
	assert_int_equal(zc_fmt(b, 3, "%p", (void *)b), 2);
	assert_string_equal(b, "0x");
	assert_int_equal(b[3], 'Z');
}

static void fmt_cap_one_gives_empty_string(void **state)
{
	char b[4] = { 'Z', 'Z', 'Z', 'Z' };
	assert_int_equal(zc_fmt(b, 1, "abc %d", 1), 0);
	assert_int_equal(b[0], '\0');
	assert_int_equal(b[1], 'Z');
}

static void fmt_cap_zero_writes_nothing(void **state)
{
	char b[2] = { 'Z', 'Z' };
	assert_int_equal(zc_fmt(b, 0, "abc"), 0);
	assert_int_equal(b[0], 'Z');
}

static void fmt_exact_fit(void **state)
{
	char b[4];
	assert_int_equal(zc_fmt(b, sizeof b, "%d", 123), 3);
	assert_string_equal(b, "123");
}

/* ---- log destination -------------------------------------------------------- */

UNIT_TMPDIR_GROUP("/tmp/zc-unit-log.XXXXXX")
static int saved_stderr = -1;
static char capture_path[PATH_MAX];

static int log_teardown(void **state)
{
	zc_log_close();
	return 0;
}

/* fd 2 goes to a file until capture_end(), which returns what was written.
 * Assertions are made after capture_end so their messages stay visible. */
static void capture_start(void)
{
	snprintf(capture_path, sizeof capture_path, "%s/stderr", tmpdir);
	int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
}


static size_t capture_end(char *buf, size_t cap)
{
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	return unit_slurp(capture_path, buf, cap);
}

/* The fd a path is open on in this process, or -1. */
static int fd_of(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char link[PATH_MAX + 32], target[PATH_MAX];
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0)
			found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static void level_0_is_silent(void **state)
{
	char out[256];
	capture_start();
	zc_log_open(NULL, 0);
	zc_log(1, "must not appear %d", 1);
	zc_log_msg(1, "must not appear either");
	assert_int_equal(capture_end(out, sizeof out), 0);
	assert_int_equal(zc_log_level, 0);
}

static void stderr_line_format(void **state)
{
	char out[256], expect[256];
	capture_start();
	zc_log_open(NULL, 1);
	zc_log(1, "hello %d %s", 42, "world");
	capture_end(out, sizeof out);
	snprintf(expect, sizeof expect, "zcopy[%ld]: hello 42 world\n", (long)getpid());
	assert_string_equal(out, expect);
}

static void level_filters_messages(void **state)
{
	char out[256], expect[256];
	long pid = (long)getpid();
	capture_start();
	zc_log_open("", 2);
	zc_log(1, "one");
	zc_log(2, "two");
	zc_log(3, "three");
	capture_end(out, sizeof out);
	snprintf(expect, sizeof expect, "zcopy[%ld]: one\nzcopy[%ld]: two\n", pid, pid);
	assert_string_equal(out, expect);
}

static void log_file_expands_pid_and_appends(void **state)
{
	char tmpl[PATH_MAX], path[PATH_MAX], out[512], expect[512];
	snprintf(tmpl, sizeof tmpl, "%s/zc.%%p.log", tmpdir);
	snprintf(path, sizeof path, "%s/zc.%ld.log", tmpdir, (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "earlier\n", 8), 8);
	close(fd);

	capture_start();
	zc_log_open(tmpl, 1);
	zc_log(1, "msg %u", 7u);
	zc_log_close();
	assert_int_equal(capture_end(out, sizeof out), 0); /* nothing on stderr */

	unit_slurp(path, out, sizeof out);
	snprintf(expect, sizeof expect, "earlier\nzcopy[%ld]: msg 7\n", (long)getpid());
	assert_string_equal(out, expect);
}

static void log_file_fd_stays_out_of_the_programs_way(void **state)
{
	char path[PATH_MAX];
	struct rlimit rl;
	snprintf(path, sizeof path, "%s/high.log", tmpdir);
	int before = lowest_free_fd();

	zc_log_open(path, 1);
	int fd = fd_of(path);
	assert_true(fd >= 0);
	/* the program's next open() gets the fd it would have got without us */
	assert_int_equal(lowest_free_fd(), before);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur > 512)
		assert_true(fd >= 512);
	/* and an exec'd program does not inherit it */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & (O_APPEND | O_ACCMODE), O_APPEND | O_WRONLY);
}

static void log_close_releases_the_file(void **state)
{
	char path[PATH_MAX], out[256];
	snprintf(path, sizeof path, "%s/closed.log", tmpdir);
	zc_log_open(path, 3);
	int fd = fd_of(path);
	assert_true(fd >= 0);
	zc_log_close();
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(zc_log_level, 0);
	capture_start();
	zc_log_msg(1, "after close");
	assert_int_equal(capture_end(out, sizeof out), 0);
}

/* A program that closes every fd it did not open (closefrom) and later gets
 * our old number for a file of its own must not find log lines in it. */
static void reused_log_fd_number_is_left_alone(void **state)
{
	char path[PATH_MAX], theirs[PATH_MAX], out[256];
	snprintf(path, sizeof path, "%s/reuse.log", tmpdir);
	snprintf(theirs, sizeof theirs, "%s/theirs.dat", tmpdir);
	zc_log_open(path, 1);
	int fd = fd_of(path);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	int other = open(theirs, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(other >= 0);
	assert_int_equal(dup2(other, fd), fd);
	close(other);

	zc_log(1, "must not land in the program's file");
	zc_log_close();
	/* still open: our close left the program's fd alone */
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);
	close(fd);
	assert_int_equal(unit_slurp(theirs, out, sizeof out), 0);
}

/* With a small descriptor limit no fd is kept: each line opens the file. */
static void small_fd_limit_keeps_no_log_fd(void **state)
{
	char path[PATH_MAX], out[256], expect[256];
	struct rlimit rl, small;
	snprintf(path, sizeof path, "%s/small.log", tmpdir);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	small = rl;
	small.rlim_cur = 64;
	assert_int_equal(set_nofile(&small), 0);
	zc_log_open(path, 1);
	int held = fd_of(path);
	zc_log(1, "line %d", 1);
	zc_log(1, "line %d", 2);
	int held_after = fd_of(path);
	zc_log_close();
	assert_int_equal(set_nofile(&rl), 0);
	assert_int_equal(held, -1);
	assert_int_equal(held_after, -1);
	unit_slurp(path, out, sizeof out);
	snprintf(expect, sizeof expect, "zcopy[%ld]: line 1\nzcopy[%ld]: line 2\n", (long)getpid(),
		 (long)getpid());
	assert_string_equal(out, expect);
}

/* A symbolic link is not followed: the log goes to stderr, said once. */
static void symlinked_log_file_is_refused(void **state)
{
	char path[PATH_MAX], link[PATH_MAX], out[512];
	snprintf(path, sizeof path, "%s/target.log", tmpdir);
	snprintf(link, sizeof link, "%s/link.log", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink(path, link), 0);
	capture_start();
	zc_log_open(link, 1);
	zc_log(1, "to stderr");
	capture_end(out, sizeof out);
	assert_non_null(strstr(out, "cannot open log file"));
	assert_non_null(strstr(out, ": to stderr\n"));
	assert_int_equal(unit_slurp(path, out, sizeof out), 0);
}

static void unopenable_log_file_falls_back_to_stderr(void **state)
{
	char out[512];
	capture_start();
	zc_log_open("/nonexistent-zc-dir/x.log", 1);
	zc_log(1, "still here");
	capture_end(out, sizeof out);
	assert_non_null(strstr(out, "/nonexistent-zc-dir/x.log"));
	assert_non_null(strstr(out, ": still here\n"));
}

static void logging_preserves_errno(void **state)
{
	char path[PATH_MAX], out[256];
	snprintf(path, sizeof path, "%s/errno.log", tmpdir);
	errno = ENOSPC;
	zc_log_open(path, 1);
	assert_int_equal(errno, ENOSPC);
	errno = EAGAIN;
	zc_log(1, "x");
	assert_int_equal(errno, EAGAIN);
	errno = EINTR;
	zc_log_close();
	assert_int_equal(errno, EINTR);
	/* a failing write (fd 2 closed) must not leak its errno either */
	capture_start();
	close(2);
	zc_log_open(NULL, 1);
	errno = ERANGE;
	zc_log(1, "into a closed fd");
	int e = errno;
	capture_end(out, sizeof out);
	assert_int_equal(e, ERANGE);
}

static void long_message_truncated_to_one_line(void **state)
{
	char big[5000], out[8192];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	capture_start();
	zc_log_open(NULL, 1);
	zc_log(1, "%s", big);
	zc_log(1, "next");
	size_t n = capture_end(out, sizeof out);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_true(nl - out < 1024);
	assert_int_equal(nl[-1], 'x');
	assert_non_null(strstr(nl + 1, "]: next\n"));
	assert_int_equal(out[n - 1], '\n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fmt_plain_text),
		cmocka_unit_test(fmt_s),
		cmocka_unit_test(fmt_s_null_prints_null),
		cmocka_unit_test(fmt_c),
		cmocka_unit_test(fmt_d_and_i),
		cmocka_unit_test(fmt_u),
		cmocka_unit_test(fmt_x_lowercase_no_prefix),
		cmocka_unit_test(fmt_l_modifier),
		cmocka_unit_test(fmt_ll_modifier),
		cmocka_unit_test(fmt_z_modifier),
		cmocka_unit_test(fmt_h_modifier),
		cmocka_unit_test(fmt_p_matches_libc),
		cmocka_unit_test(fmt_percent),
		cmocka_unit_test(fmt_width_flags_and_precision_are_skipped),
		cmocka_unit_test(fmt_mixed_matches_snprintf),
		cmocka_unit_test(fmt_unknown_conversion_printed_as_written),
		cmocka_unit_test(fmt_truncates_and_terminates),
		cmocka_unit_test(fmt_truncates_inside_a_conversion),
		cmocka_unit_test(fmt_cap_one_gives_empty_string),
		cmocka_unit_test(fmt_cap_zero_writes_nothing),
		cmocka_unit_test(fmt_exact_fit),
#define L(f) cmocka_unit_test_teardown(f, log_teardown)
		L(level_0_is_silent),
		L(stderr_line_format),
		L(level_filters_messages),
		L(log_file_expands_pid_and_appends),
		L(log_file_fd_stays_out_of_the_programs_way),
		L(log_close_releases_the_file),
		L(reused_log_fd_number_is_left_alone),
		L(unopenable_log_file_falls_back_to_stderr),
		L(small_fd_limit_keeps_no_log_fd),
		L(symlinked_log_file_is_refused),
		L(logging_preserves_errno),
		L(long_message_truncated_to_one_line),
#undef L
	};
	return cmocka_run_group_tests_name("log", tests, group_setup, group_teardown);
}
