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

static void run(const char *kind, const char *mode)
{
	it_four(IT_ARGV(it_prog(EXE), kind, mode, "out"), NULL, IT_ARGV("out"));
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
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

int main(void)
{
	Suite *s = it_suite("sock_edges");
	TCase *tc = it_tcase(s, "sock_edges", setup, 60);
	tcase_add_loop_test(tc, tcp_urgent_data, 0, 3);
	return it_main(s, "build/programs");
}
