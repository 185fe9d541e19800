/*
 * test_faults_midwrite.c - the fault-injection suite, part three: one large
 * write of a deferred chunk while something happens to it (fault_midwrite).
 *
 * A redirected write behaves as one system call on the descriptors the
 * program named when it called: another thread that dup2()s or reopens the
 * source or the destination while the write blocks must not change where
 * the bytes come from or go to, and bytes the source gets after the read
 * must not replace the ones read.  A write the kernel cuts short (a peer
 * that leaves, the file size limit, a signal) returns that short count and
 * raises no signal the plain write would not; it does not go on and block,
 * or die, on the rest.
 *
 * Each scenario runs the program without and with libzcopy and compares the
 * exit status or signal, stdout (what each reader or the destination file
 * received, told apart by origin; the target write's return value; the
 * source offset), and the destination file where there is one; checks that
 * the plain run met the fault as intended; and checks from the stats that
 * the engine engaged in the zcopy run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "zt.h"

#define RUN_LIMIT 30 /* seconds for one run: a safety net, never the assertion */

static void expect_out(const char *tag, const char *text, int present)
{
	char *o = it_out(tag);
	ck_assert_msg((strstr(o, text) != NULL) == present, "%s run: stdout %s \"%s\":\n%s", tag,
		      present ? "lacks" : "has", text, o);
	free(o);
}

/* Runs MODE plain and under zcopy (with DST.plain / DST.zc as the
 * destination file when file_dst), and compares the two; want_exit is the
 * plain run's exit status. */
static void midwrite_case(const char *mode, int file_dst, int want_exit)
{
	it_begin();
	int p, z;
	if (file_dst) {
		p = it_run("plain", 0, IT_ARGV("fault_midwrite", mode, "dst.plain"), RUN_LIMIT);
		z = it_run("zc", 1, IT_ARGV("fault_midwrite", mode, "dst.zc"), RUN_LIMIT);
	} else {
		p = it_run("plain", 0, IT_ARGV("fault_midwrite", mode), RUN_LIMIT);
		z = it_run("zc", 1, IT_ARGV("fault_midwrite", mode), RUN_LIMIT);
	}
	ck_assert_msg(WIFEXITED(p) && WEXITSTATUS(p) == want_exit, "plain run: %s (expected exit %d)",
		      it_describe(p), want_exit);
	ck_assert_msg(p == z, "%s: plain run %s, zcopy run %s", mode, it_describe(p),
		      it_describe(z));
	it_same_out("plain", "zc");
	if (file_dst)
		it_same_file("dst.plain", "dst.zc");
	it_expect_engaged("zc");
}

/* ---- another thread changes the source while the write blocks ----------- */

/* The plain run sends only the source's bytes, then reads the second file
 * from its end (12 MiB copied, offset 16 MiB: the dup2 happened). */
static void source_swapped(const char *mode)
{
	midwrite_case(mode, 0, 0);
	expect_out("plain", "reader got 12582912 ", 1);
	expect_out("plain", " source 12582912 other 0 new 0 misplaced 0\n", 1);
	expect_out("plain", "copied 12582912 source offset 16777216\n", 1);
}

START_TEST(midwrite_source_dup2) { source_swapped("src-dup2"); }
END_TEST
START_TEST(midwrite_source_close_open) { source_swapped("src-reopen"); }
END_TEST

/* 1 MiB of the chunk, not yet in the pipe (the reader paused 64 KiB into
 * it), is rewritten: the bytes read go out, not the new ones.  (Bytes the
 * pipe already holds as references to the file's pages are a limit of
 * splice, docs/design.md: the rewritten range is far past them.) */
START_TEST(midwrite_source_pwrite_pipe)
{
	midwrite_case("src-pwrite", 0, 0);
	expect_out("plain", " source 12582912 other 0 new 0 misplaced 0\n", 1);
}
END_TEST

/* The same into a file, the copy held on the destination's inode lock: here
 * nothing may differ at all. */
static void need_userfaultfd(void);

START_TEST(midwrite_source_pwrite_file)
{
	need_userfaultfd();
	midwrite_case("src-pwrite-file", 1, 0);
	expect_out("plain", "destination got 12582912 ", 1);
	expect_out("plain", " source 12582912 other 0 new 0 misplaced 0\n", 1);
}
END_TEST

/* ---- another thread changes the destination while the write blocks ------ */

/* Everything reaches the first pipe; the second one gets nothing. */
START_TEST(midwrite_dest_dup2_pipe)
{
	midwrite_case("dst-dup2", 0, 0);
	expect_out("plain", "target write of 4194304 returned 4194304 OK\n", 1);
	expect_out("plain", "reader got 12582912 ", 1);
	expect_out("plain", "second reader got 0 ", 1);
}
END_TEST

/* /dev/null in its place: the write still completes, into the pipe. */
START_TEST(midwrite_dest_dup2_devnull)
{
	midwrite_case("dst-null", 0, 0);
	expect_out("plain", "target write of 4194304 returned 4194304 OK\n", 1);
	expect_out("plain", "reader got 12582912 ", 1);
}
END_TEST

/* ---- the kernel cuts the write short ------------------------------------ */

/* The reader of a UNIX stream socket leaves while the write waits: the plain
 * write returns what was queued, without SIGPIPE (it is at its default),
 * and the program stops (exit 2).  The count itself depends on how the
 * socket accounts copies and page references: fault_midwrite prints only
 * that it was short. */
START_TEST(midwrite_peer_leaves)
{
	midwrite_case("peer-close", 0, 2);
	expect_out("plain", "target write of 4194304 returned a short count\n", 1);
}
END_TEST

/* The file size limit ends inside the write: a short count and no SIGXFSZ
 * (that comes only with a write starting at the limit). */
START_TEST(midwrite_fsize_limit)
{
	midwrite_case("fsize", 1, 2);
	expect_out("plain", "target write of 1048576 returned ", 1);
	expect_out("plain", "target write of 1048576 returned 1048576 OK\n", 0);
}
END_TEST

/* A SIGALRM reaches the thread blocked in a write to a full pipe: the plain
 * write returns what the pipe took, at once, handler with SA_RESTART or
 * not (a write that moved bytes is never restarted). */
static void signal_case(const char *mode)
{
	midwrite_case(mode, 0, 0);
	expect_out("plain", "target write of 1048576 returned ", 1);
	expect_out("plain", "target write of 1048576 returned 1048576 OK\n", 0);
	expect_out("plain", "target write of 1048576 returned -1", 0);
	ck_assert_msg(it_err_count("plain", "alarms") == 1, "plain run: the signal never came");
}

START_TEST(midwrite_signal_restart) { signal_case("sig-restart"); }
END_TEST
START_TEST(midwrite_signal_norestart) { signal_case("sig-norestart"); }
END_TEST

/* The file variant holds the copy on the destination's inode lock with a
 * write from a userfaultfd page, which needs kernel-mode faults (root, or
 * vm.unprivileged_userfaultfd=1); without them the test is skipped. */
static void need_userfaultfd(void)
{
	char why[160];
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, sizeof why,
			 "midwrite_source_pwrite_file: userfaultfd: %s (needs root or "
			 "vm.unprivileged_userfaultfd=1)",
			 strerror(errno));
		it_skip(why);
	}
	struct uffdio_api api = { .api = UFFD_API };
	int ok = ioctl(fd, UFFDIO_API, &api) == 0;
	snprintf(why, sizeof why, "midwrite_source_pwrite_file: UFFDIO_API: %s", strerror(errno));
	close(fd);
	if (!ok)
		it_skip(why);
}

TCase *ft_midwrite_tcase(void)
{
	TCase *t = tcase_create("midwrite");
	tcase_set_timeout(t, 90);
	it_add(t, IT_TESTS(midwrite_source_dup2, midwrite_source_close_open,
				midwrite_source_pwrite_pipe, midwrite_source_pwrite_file,
				midwrite_dest_dup2_pipe, midwrite_dest_dup2_devnull,
				midwrite_peer_leaves, midwrite_fsize_limit,
				midwrite_signal_restart, midwrite_signal_norestart));
	return t;
}
