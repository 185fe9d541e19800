/*
 * test_span.c - the partial pages of an unaligned buffer (edges.h): a read
 * into a buffer 16 bytes into a page preads the 4080 bytes before its whole
 * pages and the 16 after them, and zcopy keeps a copy of those bytes; a
 * write of the buffer whose ends still equal the copy goes as one transfer
 * from the file.  tests/programs/span_copy does one thing to those ends, or
 * to the source behind them, between a read and its write.  Every scenario
 * is run without the shim and with ZCOPY_MODE=off, observe and on, compared
 * byte for byte (status, stdout, stderr, outputs), and the stats must show
 * the engagement the scenario allows.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "harness.h"

/* 32 chunks of 128 KiB and a short one. */
#define SIZE (4 * MiB + 12345)
#define EXE "span_copy"

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 11);
}

static void run(const char *mode, const char *const *outputs)
{
	it_four(IT_ARGV(it_prog(EXE), mode, "../src", "out"), IT_ARGV("ZCOPY_GUARD=1"), outputs);
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
}

/* Bytes the on run wrote plainly for no reason it counted: the partial
 * pages of chunks that went plainly. */
static long long plain_ends(void)
{
	long long copied = it_stat("on", EXE, "bytes_copied");
	long long said = it_stat("on", EXE, "fallback_bytes.warmup") +
			 it_stat("on", EXE, "fallback_bytes.transformed");
	return copied - said;
}

/* Unchanged ends: after the warm-up, every byte a write of the buffer
 * carries goes by transfer, the partial pages with the whole ones (the
 * program's own pipe draining is "transformed": other bytes). */
static const char *const unchanged_modes[] = { "copy", "pipe", "neighbour", "partial",
					       "nonblock", "signal", "alternate" };

START_TEST(unchanged_ends_go_with_the_pages)
{
	run(unchanged_modes[_i], IT_ARGV("out"));
	it_same_file("src", "none/out");
	it_expect_zero_copy(EXE, SIZE, 90);
	long long p = plain_ends();
	ck_assert_msg(p == 0, "%lld bytes of partial pages went plainly; stats: %s", p,
		      it_stats_text("on"));
}
END_TEST

/* The program (or another thread) changed the first or last byte: those
 * chunks' ends go from the buffer, the rest by transfer. */
static const char *const changed_modes[] = { "head", "tail", "thread_head" };

START_TEST(changed_ends_go_from_the_buffer)
{
	run(changed_modes[_i], IT_ARGV("out"));
	it_expect_zero_copy(EXE, SIZE, 85);
	long long p = plain_ends();
	ck_assert_msg(p > 0 && p <= 11 * 4096, "%lld bytes of partial pages went plainly; stats: %s",
		      p, it_stats_text("on"));
}
END_TEST

/* This process changed the source under the ends (pwrite, ftruncate)
 * between the read and the write: the write carries the bytes read. */
static const char *const source_modes[] = { "pwrite_head", "pwrite_tail", "truncate" };

START_TEST(source_changed_under_the_ends)
{
	run(source_modes[_i], IT_ARGV("out", "work"));
	it_expect_zero_copy(EXE, SIZE / 8, 50);
}
END_TEST

/* The memory of an end went away or became inaccessible (the write fails
 * with EFAULT after the bytes before it, as the plain one), or the source
 * was replaced by dup2. */
static const char *const memory_modes[] = { "munmap_tail", "mprotect_head", "dup2" };

START_TEST(ends_gone_between_read_and_write)
{
	run(memory_modes[_i], IT_ARGV("out"));
	it_expect_zero_copy(EXE, SIZE / 8, 50);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("span");
	TCase *tc = it_tcase(s, "span", setup, 120);
	tcase_add_loop_test(tc, unchanged_ends_go_with_the_pages, 0, IT_LEN(unchanged_modes));
	tcase_add_loop_test(tc, changed_ends_go_from_the_buffer, 0, IT_LEN(changed_modes));
	tcase_add_loop_test(tc, source_changed_under_the_ends, 0, IT_LEN(source_modes));
	tcase_add_loop_test(tc, ends_gone_between_read_and_write, 0, IT_LEN(memory_modes));
	return it_main(s, "build/programs");
}
