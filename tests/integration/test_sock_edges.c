/*
 * test_sock_edges.c - stream sockets as sources, at their edges: what a
 * plain read(2) of a socket does that one splice(2) does not.  Each
 * scenario runs sock_edges (tests/programs) without the shim and with
 * ZCOPY_MODE=off, observe and on; every read's count or error, the bytes
 * written and the exit status are the same in every run, and the stats
 * show that the socket reads around the edge were deferred.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "harness.h"

#define EXE "sock_edges"

static void setup(void)
{
	it_begin();
}

/* Runs the mode in the four ways, compared; the outputs include the fork
 * mode's child's file. */
static void run_only(const char *kind, const char *mode)
{
	const char *const *outs = strcmp(mode, "fork") == 0 ? IT_ARGV("out", "out.kid")
							   : IT_ARGV("out");
	it_four(IT_ARGV(it_prog(EXE), kind, mode, "out"), NULL, outs);
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
}

static void run(const char *kind, const char *mode)
{
	run_only(kind, mode);
	long long ph = it_stat("on", EXE, "phantom_reads");
	ck_assert_msg(ph > 0, "no socket read was deferred; stats: %s", it_stats_text("on"));
}

/* TCP urgent data in the middle of what is queued: read stops at the mark
 * (the next read skips the urgent byte, or returns it under SO_OOBINLINE),
 * and so must the deferred read, though bytes are queued after the mark.
 * At the head of the queue of a non-blocking socket a splice says EAGAIN
 * where read goes on past the mark: the reads there stay plain. */
static const char *const urgent_modes[] = { "urgent", "inline", "urgenthead" };

START_TEST(tcp_urgent_data)
{
	run("tcp", urgent_modes[_i]);
}
END_TEST

static const char *const kinds[] = { "tcp", "unix" };

/* The user's pipes are over pipe-user-pages-soft: zcopy's pipes cannot be
 * sized for a read, so every read is plain (socket_no_pipe), errno as the
 * plain read leaves it, and zcopy keeps no pipe it cannot use. */
START_TEST(pipe_limit_reached)
{
	run_only(kinds[_i], "pipelimit");
	ck_assert_int_eq(it_stat("on", EXE, "phantom_reads"), 0);
	it_expect_fallback("on", EXE, "socket_no_pipe");
}
END_TEST

/* No descriptor number is left for a pipe (RLIMIT_NOFILE reached): plain
 * reads, errno untouched. */
START_TEST(nofile_limit_reached)
{
	run_only(kinds[_i], "nofile");
	it_expect_no_zero_copy(EXE, 0);
}
END_TEST

/* What a program does with the buffer, the socket or its number between a
 * deferred read and the write, and recv with flags between reads: every
 * byte where the plain program has it, in order. */
static const char *const uses[] = { "stale",   "two",  "part",  "writev", "dup2",   "close",
				    "fork",    "flags", "handler", "thread", "shutrd" };

START_TEST(buffer_and_socket_uses)
{
	const char *mode = uses[_i / 2], *kind = kinds[_i % 2];
	if (strcmp(mode, "shutrd") == 0 && strcmp(kind, "unix") == 0)
		kind = "tcp"; /* a UNIX peer's send fails after SHUT_RD */
	run(kind, mode);
}
END_TEST

/* A 500 us timer's handler sums the buffer while the receiver reads and
 * writes, blocking: a handler that comes while zcopy holds its engine lock
 * waits for the lock's release (shim/sigdefer.c) instead of faulting on a
 * guarded page there, which died of SIGSEGV in most runs. */
START_TEST(timer_handler_reads_the_buffer)
{
	run(kinds[_i], "alarm");
}
END_TEST

/* Socket options changed between reads, by the program, by a forked child
 * sharing the socket, or by another socket taking the number: a read with
 * SO_RCVLOWAT set waits for that many bytes where a splice would not, so
 * those reads stay plain (zcopy read the options once and keeps them only
 * until a setsockopt or a new socket on the number). */
static const char *const option_changes[] = { "lowat", "kidlowat", "swap" };

START_TEST(options_changed_between_reads)
{
	const char *mode = option_changes[_i / 2], *kind = kinds[_i % 2];
	if (strcmp(mode, "swap") == 0)
		kind = "tcp";
	run(kind, mode);
	it_expect_fallback("on", EXE, "socket_options");
}
END_TEST

/* O_NONBLOCK toggled by ioctl(FIONBIO) and by fcntl between reads: the
 * deferred read says EAGAIN as read does, and waits again once blocking. */
START_TEST(nonblocking_toggled_between_reads)
{
	run(kinds[_i], "nbio");
}
END_TEST

/* The soft RLIMIT_NOFILE lowered below 1024 by setrlimit between reads:
 * from then on zcopy keeps no pipe (its limit is cached, and the wrapper
 * makes it read again). */
START_TEST(nofile_limit_lowered_between_reads)
{
	run(kinds[_i], "lownofile");
	it_expect_fallback("on", EXE, "socket_no_pipe");
}
END_TEST

/* 16 reads of an empty socket that the program abandons while they wait
 * (mode): each had a pool pipe for its splice, which must go back to the
 * pool of 8, so the reads after are still deferred (with the pipes kept,
 * 9 of the 40 rounds' reads were, and 29 said socket_no_pipe). */
static void abandoned_reads_give_pipes_back(const char *kind, const char *mode)
{
	run(kind, mode);
	long long ph = it_stat("on", EXE, "phantom_reads");
	ck_assert_msg(ph >= 30, "pool pipes kept by abandoned reads (%s); stats: %s", mode,
		      it_stats_text("on"));
	ck_assert_int_eq(it_stat("on", EXE, "fallbacks.socket_no_pipe"), 0);
}

/* An alarm's handler leaves each read by siglongjmp. */
START_TEST(reads_timed_out_by_siglongjmp)
{
	abandoned_reads_give_pipes_back(kinds[_i], "timeout");
}
END_TEST

/* Another thread makes each read and is cancelled while it waits (the
 * use of the pipe's fds goes back too). */
START_TEST(reads_cancelled_while_waiting)
{
	abandoned_reads_give_pipes_back(kinds[_i], "cancel");
}
END_TEST

int main(void)
{
	Suite *s = it_suite("sock_edges");
	TCase *tc = it_tcase(s, "sock_edges", setup, 60);
	tcase_add_loop_test(tc, tcp_urgent_data, 0, 3);
	tcase_add_loop_test(tc, pipe_limit_reached, 0, 2);
	tcase_add_loop_test(tc, nofile_limit_reached, 0, 2);
	tcase_add_loop_test(tc, buffer_and_socket_uses, 0, 22);
	tcase_add_loop_test(tc, timer_handler_reads_the_buffer, 0, 2);
	tcase_add_loop_test(tc, options_changed_between_reads, 0, 6);
	tcase_add_loop_test(tc, nonblocking_toggled_between_reads, 0, 2);
	tcase_add_loop_test(tc, nofile_limit_lowered_between_reads, 0, 2);
	tcase_add_loop_test(tc, reads_cancelled_while_waiting, 0, 2);
	tcase_add_loop_test(tc, reads_timed_out_by_siglongjmp, 0, 2);
	return it_main(s, "build/programs");
}
