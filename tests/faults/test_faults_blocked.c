/*
 * test_faults_blocked.c - the fault-injection suite, part four: a redirected
 * write that waits for its destination while the program's signal handler,
 * another thread, a forked helper or another process acts on it
 * (fault_blocked), and a program that parks a file at a high descriptor
 * number in the middle of a copy.
 *
 * A handler that siglongjmp()s out of the write or closes the destination
 * leaves the program's buffer and descriptors as the plain write would: the
 * buffer keeps the bytes read, and the reader sees end-of-file once the
 * program's last descriptor of the pipe is closed.  So does a helper forked
 * meanwhile that closes every descriptor it knows of.  The write obeys
 * SO_SNDTIMEO, and the O_NONBLOCK of the open file as it is now, whoever
 * changed it and how; a signal to a write into a named FIFO returns the
 * count so far.  zcopy's own descriptors never take a number the program
 * names.
 *
 * Each scenario runs the program without and with libzcopy and compares the
 * exit status or signal and stdout (the target write's return value, what
 * the program saw afterwards, what the reader received or that it never saw
 * end-of-file; for highfd what the destination file holds, and the file
 * itself); checks that the plain run met the situation as intended; and
 * checks from the stats that the engine engaged in the zcopy run.
 *
 * Short counts into a pipe are compared exactly: the pipe is empty when the
 * write starts and the buffer page-aligned, so a splice and a plain write
 * fill the same pages.  Into a socket only "short" is compared (README,
 * "Partial counts").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "zt.h"

#define RUN_LIMIT 20 /* seconds for one run: a safety net, never the assertion */

static void expect_out(const char *tag, const char *text)
{
	char *o = it_out(tag);
	ck_assert_msg(strstr(o, text) != NULL, "%s run: stdout lacks \"%s\":\n%s", tag, text, o);
	free(o);
}

/* Runs MODE plain and under zcopy and compares the two. */
static void blocked_case(const char *mode)
{
	it_begin();
	int p = it_run("plain", 0, IT_ARGV("fault_blocked", mode), RUN_LIMIT);
	int z = it_run("zc", 1, IT_ARGV("fault_blocked", mode), RUN_LIMIT);
	ck_assert_msg(WIFEXITED(p) && WEXITSTATUS(p) == 0, "plain run: %s", it_describe(p));
	ck_assert_msg(p == z, "%s: plain run %s, zcopy run %s", mode, it_describe(p),
		      it_describe(z));
	it_same_out("plain", "zc");
	it_expect_engaged("zc");
}

/* 1 MiB before the target chunk, then the 64 KiB the pipe took before the
 * signal; the reader got them and then end-of-file. */
#define READER_PARTIAL "reader got 1114112 "
/* All six chunks. */
#define READER_ALL "reader got 1572864 "

/* One scenario: MODE of fault_blocked, run plain and under zcopy, and what
 * the plain run's stdout must hold (the zcopy run's is compared whole). */
static const struct {
	const char *mode;
	const char *out[3];
} blocked_rows[] = {
	/* ---- a signal handler leaves the write ----
	 * After the jump the source's bytes change: the buffer still holds
	 * what read() returned. */
	{ "jump-rewrite",
	  { "target write left by siglongjmp\n",
	    "buffer after the source was rewritten: 0 words not read\n", READER_PARTIAL } },
	/* After the jump the program closes the pipe: nothing of zcopy's keeps
	 * it open. */
	{ "jump-close", { "target write left by siglongjmp\n", READER_PARTIAL } },
	/* The handler closes the pipe while the write waits on it. */
	{ "handler-close",
	  { "target write of 262144 returned 65536 OK\n", "signal handler ran 1 time(s)\n",
	    READER_PARTIAL } },
	/* ---- a helper forked by another thread closes all it knows of ---- */
	{ "fork-closeall", { "target write of 262144 returned 262144 OK\n", READER_ALL } },
	/* ---- the write's own limits: a send timeout, O_NONBLOCK ----
	 * The reader pauses: after 0.5 s the write returns what the socket
	 * took. */
	{ "sndtimeo", { "target write of 262144 returned a short count\n", READER_ALL } },
	/* ioctl(FIONBIO, 1) on a blocking pipe: what the empty pipe takes, at
	 * once. */
	{ "fionbio-on", { "target write of 262144 returned 65536 OK\n", READER_ALL } },
	/* ioctl(FIONBIO, 0) after fcntl(O_NONBLOCK): the write waits for the
	 * reader and completes. */
	{ "fionbio-off", { "target write of 262144 returned 262144 OK\n", READER_ALL } },
	/* A child sets O_NONBLOCK on the pipe's open file: the program's write
	 * is non-blocking too. */
	{ "nonblock-elsewhere", { "target write of 262144 returned 65536 OK\n", READER_ALL } },
	/* ---- a signal to a write into a named FIFO ---- */
	{ "fifo-signal",
	  { "target write of 262144 returned 65536 OK\n", "signal handler ran 1 time(s)\n",
	    READER_ALL } },
	/* ---- a signal while a pipe known to refuse RWF_NOWAIT is full ----
	 * The first 64 KiB fill the pipe; the rest waits for room, and the
	 * signal ends the write with the count so far. */
	{ "full-signal",
	  { "target write of 262144 returned 65536 OK\n", "signal handler ran 1 time(s)\n",
	    READER_ALL } },
};

START_TEST(blocked)
{
	blocked_case(blocked_rows[_i].mode);
	for (size_t k = 0; k < 3 && blocked_rows[_i].out[k]; k++)
		expect_out("plain", blocked_rows[_i].out[k]);
}
END_TEST

/* ---- a file parked at a high descriptor number -------------------------- */

/* Under RLIMIT_NOFILE 1024, dup2(secret, 960) midway: the destination gets
 * only the source's bytes, 960 is the secret's, and 961 stays unopened. */
START_TEST(blocked_high_fd)
{
	it_begin();
	int p = it_run("plain", 0, IT_ARGV("fault_blocked", "highfd"), RUN_LIMIT);
	ck_assert_msg(WIFEXITED(p) && WEXITSTATUS(p) == 0, "plain run: %s", it_describe(p));
	it_copy_file("dst", "dst.plain");
	int z = it_run("zc", 1, IT_ARGV("fault_blocked", "highfd"), RUN_LIMIT);
	ck_assert_msg(p == z, "highfd: plain run %s, zcopy run %s", it_describe(p), it_describe(z));
	it_same_out("plain", "zc");
	it_same_file("dst.plain", "dst");
	expect_out("plain", "after the copy: fcntl(960, F_GETFD) = 0 OK\n");
	expect_out("plain", "close(961) after the copy: -1 EBADF\n");
	expect_out("plain", "destination 8388608 bytes, 0 words not the source's\n");
	it_expect_redirected("zc");
}
END_TEST

TCase *ft_blocked_tcase(void)
{
	TCase *t = tcase_create("blocked");
	tcase_set_timeout(t, 60);
	tcase_add_loop_test(t, blocked, 0, IT_LEN(blocked_rows));
	tcase_add_test(t, blocked_high_fd);
	return t;
}
