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

/* What the plain run's stdout must hold (1) or must not (0); NULL-ended.
 * The zcopy run's stdout is compared with it whole. */
struct out_want {
	const char *text;
	int present;
};
#define SOURCE_ONLY " source 12582912 other 0 new 0 misplaced 0\n"

/* The plain run sends only the source's bytes, then reads the second file
 * from its end (12 MiB copied, offset 16 MiB: the swap happened). */
static const struct out_want source_swapped[] = {
	{ "reader got 12582912 ", 1 }, { SOURCE_ONLY, 1 },
	{ "copied 12582912 source offset 16777216\n", 1 }, { NULL, 0 } };
static const struct out_want source_kept[] = { { SOURCE_ONLY, 1 }, { NULL, 0 } };
static const struct out_want source_kept_in_file[] = {
	{ "destination got 12582912 ", 1 }, { SOURCE_ONLY, 1 }, { NULL, 0 } };
/* Everything reaches the first pipe; the second one gets nothing. */
static const struct out_want dest_swapped[] = {
	{ "target write of 4194304 returned 4194304 OK\n", 1 }, { "reader got 12582912 ", 1 },
	{ "second reader got 0 ", 1 }, { NULL, 0 } };
/* /dev/null in its place: the write still completes, into the pipe. */
static const struct out_want dest_nulled[] = {
	{ "target write of 4194304 returned 4194304 OK\n", 1 }, { "reader got 12582912 ", 1 },
	{ NULL, 0 } };
static const struct out_want peer_left[] = {
	{ "target write of 4194304 returned a short count\n", 1 }, { NULL, 0 } };
/* A short count, not the whole 1 MiB; after a signal, not -1 either. */
static const struct out_want limit_short[] = {
	{ "target write of 1048576 returned ", 1 },
	{ "target write of 1048576 returned 1048576 OK\n", 0 }, { NULL, 0 } };
static const struct out_want signal_short[] = {
	{ "target write of 1048576 returned ", 1 },
	{ "target write of 1048576 returned 1048576 OK\n", 0 },
	{ "target write of 1048576 returned -1", 0 }, { NULL, 0 } };

/* One scenario: MODE of fault_midwrite, a destination file or not, the
 * plain run's exit status, and what its stdout must show. */
static const struct midwrite_row {
	const char *mode;
	int file_dst, want_exit;
	int uffd;   /* needs userfaultfd (skipped without it) */
	int alarms; /* the plain run reports the one SIGALRM that came */
	const struct out_want *out;
} midwrite_rows[] = {
	/* ---- another thread changes the source while the write blocks:
	 * dup2, or close and open */
	{ "src-dup2", 0, 0, 0, 0, source_swapped },
	{ "src-reopen", 0, 0, 0, 0, source_swapped },
	/* 1 MiB of the chunk, not yet in the pipe (the reader paused 64 KiB
	 * into it), is rewritten: the bytes read go out, not the new ones.
	 * (Bytes the pipe already holds as references to the file's pages are
	 * a limit of splice, docs/design.md: the rewritten range is far past
	 * them.) */
	{ "src-pwrite", 0, 0, 0, 0, source_kept },
	/* The same into a file, the copy held on the destination's inode lock:
	 * here nothing may differ at all. */
	{ "src-pwrite-file", 1, 0, 1, 0, source_kept_in_file },
	/* ---- another thread changes the destination while the write blocks */
	{ "dst-dup2", 0, 0, 0, 0, dest_swapped },
	{ "dst-null", 0, 0, 0, 0, dest_nulled },
	/* ---- the kernel cuts the write short.
	 * The reader of a UNIX stream socket leaves while the write waits: the
	 * plain write returns what was queued, without SIGPIPE (it is at its
	 * default), and the program stops (exit 2).  The count itself depends
	 * on how the socket accounts copies and page references:
	 * fault_midwrite prints only that it was short. */
	{ "peer-close", 0, 2, 0, 0, peer_left },
	/* The file size limit ends inside the write: a short count and no
	 * SIGXFSZ (that comes only with a write starting at the limit). */
	{ "fsize", 1, 2, 0, 0, limit_short },
	/* A SIGALRM reaches the thread blocked in a write to a full pipe: the
	 * plain write returns what the pipe took, at once, handler with
	 * SA_RESTART or not (a write that moved bytes is never restarted). */
	{ "sig-restart", 0, 0, 0, 1, signal_short },
	{ "sig-norestart", 0, 0, 0, 1, signal_short },
};

static void need_userfaultfd(void);

START_TEST(midwrite)
{
	const struct midwrite_row *m = &midwrite_rows[_i];
	if (m->uffd)
		need_userfaultfd();
	midwrite_case(m->mode, m->file_dst, m->want_exit);
	for (const struct out_want *w = m->out; w->text; w++)
		expect_out("plain", w->text, w->present);
	if (m->alarms)
		ck_assert_msg(it_err_count("plain", "alarms") == 1, "plain run: the signal never came");
}
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
			 "src-pwrite-file: userfaultfd: %s (needs root or "
			 "vm.unprivileged_userfaultfd=1)",
			 strerror(errno));
		it_skip(why);
	}
	struct uffdio_api api = { .api = UFFD_API };
	int ok = ioctl(fd, UFFDIO_API, &api) == 0;
	snprintf(why, sizeof why, "src-pwrite-file: UFFDIO_API: %s", strerror(errno));
	close(fd);
	if (!ok)
		it_skip(why);
}

TCase *ft_midwrite_tcase(void)
{
	TCase *t = tcase_create("midwrite");
	tcase_set_timeout(t, 90);
	tcase_add_loop_test(t, midwrite, 0, IT_LEN(midwrite_rows));
	return t;
}
