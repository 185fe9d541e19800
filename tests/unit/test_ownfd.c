/*
 * test_ownfd.c - the registry of zcopy's own descriptors: where a taken fd
 * lands, how it gets out of the way of dup2 and close_range, the wait for a
 * thread inside a call on it, and the safe opening of output files.
 * Linked with shim/ownfd.c and shim/real.c directly (nothing preloaded).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "optcache.h"
#include "ownfd.h"
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

static char tmpdir[PATH_MAX];

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "%s/zc-ownfd-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	zc_ownfd_init();
	return 0;
}

static int group_teardown(void **state)
{
	return unit_tmpdir_remove(tmpdir);
}

static int limit(void)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return (int)rl.rlim_cur;
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int same_file(int a, int b)
{
	struct stat x, y;
	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static void take_lands_on_the_highest_free_number(void **state)
{
	int slot = -1, before = lowest_free_fd();
	int fd = open("/dev/null", O_RDONLY);
	int top = limit() - 1;
	assert_false(is_open(top));
	int r = zc_ownfd_take(fd, &slot, 0);
	assert_int_equal(r, top);
	assert_int_equal(slot, top);
	assert_false(is_open(fd)); /* keep_src 0: the original is closed */
	assert_true(fcntl(top, F_GETFD) & FD_CLOEXEC);
	assert_true(zc_ownfd_is(top));
	assert_false(zc_ownfd_is(fd));
	assert_int_equal(lowest_free_fd(), before);
	/* A second one goes just below. */
	int slot2 = -1;
	assert_int_equal(zc_ownfd_take(open("/dev/null", O_RDONLY), &slot2, 0), top - 1);
	assert_int_equal(zc_ownfd_count(), 2);
	zc_ownfd_close(&slot);
	zc_ownfd_close(&slot2);
	assert_int_equal(slot, -1);
	assert_false(is_open(top));
	assert_false(is_open(top - 1));
	assert_false(zc_ownfd_is(top));
	assert_int_equal(zc_ownfd_count(), 0);
}

static void take_keep_src_leaves_the_program_fd(void **state)
{
	int slot = -1, fd = open("/dev/null", O_RDONLY);
	assert_true(zc_ownfd_take(fd, &slot, 1) >= 0);
	assert_true(is_open(fd));
	assert_true(same_file(fd, slot));
	zc_ownfd_close(&slot);
	assert_true(is_open(fd));
	close(fd);
}

static void take_twice_on_one_slot_keeps_the_first(void **state)
{
	int slot = -1;
	int a = zc_ownfd_take(open("/dev/null", O_RDONLY), &slot, 0);
	int extra = open("/dev/null", O_RDONLY);
	assert_int_equal(zc_ownfd_take(extra, &slot, 0), a);
	assert_int_equal(slot, a);
	assert_false(is_open(extra));
	assert_int_equal(zc_ownfd_count(), 1);
	zc_ownfd_close(&slot);
}

static void dup2_target_is_moved_out_of_the_way(void **state)
{
	int slot = -1;
	int first = zc_ownfd_take(open("/dev/null", O_RDONLY), &slot, 0);
	int keep = dup(first); /* to recognise the file after the move */
	zc_ownfd_before_take(first);
	assert_int_not_equal(slot, first);
	assert_true(slot > first - 64 && slot < first);
	assert_false(is_open(first)); /* free for the program's dup2 */
	assert_true(same_file(slot, keep));
	assert_true(zc_ownfd_is(slot));
	assert_false(zc_ownfd_is(first));
	/* Not ours: nothing happens. */
	int s = slot;
	zc_ownfd_before_take(first);
	assert_int_equal(slot, s);
	close(keep);
	zc_ownfd_close(&slot);
}

static void close_range_moves_below_or_closes(void **state)
{
	int slot = -1, top = limit() - 1;
	assert_int_equal(zc_ownfd_take(open("/dev/null", O_RDONLY), &slot, 0), top);
	/* The top 10 numbers: it moves below them. */
	zc_ownfd_before_close_range((unsigned)top - 9, (unsigned)top);
	assert_true(slot >= 0 && slot < top - 9);
	assert_false(is_open(top));
	/* Everything from 3 on (closefrom(3)): no room left, so it is closed
	 * and its owner does without. */
	int was = slot;
	zc_ownfd_before_close_range(3, ~0u);
	assert_int_equal(slot, -1);
	assert_false(is_open(was));
	assert_int_equal(zc_ownfd_count(), 0);
	assert_int_equal(zc_ownfd_use(&slot), -1);
	zc_ownfd_unuse(&slot); /* harmless after a -1 */
}

struct mover {
	int fd;
	volatile int done;
};

static void *move_it(void *arg)
{
	struct mover *m = arg;
	zc_ownfd_before_take(m->fd);
	m->done = 1;
	return NULL;
}

static void move_waits_for_a_call_in_progress(void **state)
{
	int slot = -1;
	int fd = zc_ownfd_take(open("/dev/null", O_RDONLY), &slot, 0);
	assert_int_equal(zc_ownfd_use(&slot), fd); /* this thread is "inside a call" */
	struct mover m = { fd, 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, move_it, &m), 0);
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	assert_false(m.done);
	assert_int_equal(slot, fd); /* the number used is still the one */
	assert_true(is_open(fd));
	zc_ownfd_unuse(&slot);
	pthread_join(t, NULL);
	assert_true(m.done);
	assert_int_not_equal(slot, fd);
	assert_false(is_open(fd));
	/* A use after the move gets the new number. */
	assert_int_equal(zc_ownfd_use(&slot), slot);
	zc_ownfd_unuse(&slot);
	zc_ownfd_close(&slot);
}

static void a_forked_child_keeps_the_registry(void **state)
{
	int slot = -1;
	int fd = zc_ownfd_take(open("/dev/null", O_RDONLY), &slot, 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = zc_ownfd_is(fd) && zc_ownfd_use(&slot) == fd && is_open(fd);
		zc_ownfd_unuse(&slot);
		zc_ownfd_before_take(fd);
		ok = ok && slot != fd && slot >= 0 && !is_open(fd);
		_exit(ok ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(slot, fd); /* the parent's is untouched */
	zc_ownfd_close(&slot);
}

static void small_limit_keeps_nothing_and_stays_high(void **state)
{
	struct rlimit rl, small;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	small = rl;
	small.rlim_cur = 64;
	assert_int_equal(set_nofile(&small), 0);
	assert_false(zc_ownfd_keep_ok());
	int slot = -1;
	assert_int_equal(zc_ownfd_take(open("/dev/null", O_RDONLY), &slot, 0), 63);
	zc_ownfd_close(&slot);
	assert_int_equal(set_nofile(&rl), 0);
	assert_int_equal(zc_ownfd_keep_ok(), rl.rlim_cur >= ZC_OWNFD_KEEP_MIN_LIMIT);
}

static void output_file_is_opened_safely(void **state)
{
	char path[PATH_MAX + 32], link[PATH_MAX + 32], fifo[PATH_MAX + 32];
	int slot = -1;
	mode_t old = umask(022);
	snprintf(path, sizeof path, "%s/out.json", tmpdir);
	assert_true(zc_ownfd_open_output(path, &slot) >= 0);
	struct stat st;
	assert_int_equal(fstat(slot, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	int fl = fcntl(slot, F_GETFL);
	assert_int_equal(fl & (O_APPEND | O_NONBLOCK | O_ACCMODE), O_APPEND | O_WRONLY);
	assert_true(fcntl(slot, F_GETFD) & FD_CLOEXEC);
	zc_ownfd_close(&slot);

	snprintf(link, sizeof link, "%s/link", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(zc_ownfd_open_output(link, &slot), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(slot, -1);

	snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(zc_ownfd_open_output(fifo, &slot), -1); /* and does not block */
	assert_int_equal(errno, ENXIO);

	assert_int_equal(zc_ownfd_open_output("/dev/null", &slot), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(zc_ownfd_open_output(tmpdir, &slot), -1);
	assert_int_equal(zc_ownfd_count(), 0);
	umask(old);
}

static void relative_templates_become_absolute(void **state)
{
	char out[PATH_MAX + 64], cwd[PATH_MAX], expect[PATH_MAX + 64];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(zc_abs_template(out, sizeof out, "s.%p.json"), 0);
	snprintf(expect, sizeof expect, "%s/s.%%p.json", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(out, expect);
	assert_int_equal(zc_abs_template(out, sizeof out, "/abs/x"), 0);
	assert_string_equal(out, "/abs/x");
	assert_int_equal(zc_abs_template(out, 4, "relative"), -1);
}

/* fcntl(F_DUPFD) gives the program the lowest number at or above its
 * argument that it does not hold: zcopy's fds stay where they are unless
 * the answer would have been one of them (then only that one moves). */
static void dupfd_moves_only_an_fd_in_the_way(void **state)
{
	int slot = -1, fd = open("/dev/null", O_RDONLY);
	int top = limit() - 1;
	assert_int_equal(zc_ownfd_take(fd, &slot, 0), top);
	int low = lowest_free_fd();
	int r = zc_ownfd_dupfd(fcntl, 0, F_DUPFD, 3);
	assert_int_equal(r, low);
	assert_int_equal(slot, top); /* a small argument moves nothing */
	assert_true(zc_ownfd_is(top));
	close(r);
	/* The answer would have been zcopy's number: the program gets it. */
	r = zc_ownfd_dupfd(fcntl, 0, F_DUPFD_CLOEXEC, top);
	assert_int_equal(r, top);
	assert_false(zc_ownfd_is(top));
	assert_true(slot >= 0 && slot != top && is_open(slot));
	assert_true(zc_ownfd_is(slot));
	close(r);
	zc_ownfd_close(&slot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(take_lands_on_the_highest_free_number),
		cmocka_unit_test(take_keep_src_leaves_the_program_fd),
		cmocka_unit_test(take_twice_on_one_slot_keeps_the_first),
		cmocka_unit_test(dup2_target_is_moved_out_of_the_way),
		cmocka_unit_test(close_range_moves_below_or_closes),
		cmocka_unit_test(dupfd_moves_only_an_fd_in_the_way),
		cmocka_unit_test(move_waits_for_a_call_in_progress),
		cmocka_unit_test(a_forked_child_keeps_the_registry),
		cmocka_unit_test(small_limit_keeps_nothing_and_stays_high),
		cmocka_unit_test(output_file_is_opened_safely),
		cmocka_unit_test(relative_templates_become_absolute),
	};
	return cmocka_run_group_tests_name("ownfd", tests, group_setup, group_teardown);
}
