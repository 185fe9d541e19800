/*
 * test_detect.c - the stream detector's transitions: when a (fd, buffer)
 * engages, what is and is not a read->write pair, back-off after the program
 * touches its data, slot replacement, and forgetting fds and memory.
 */
#include <string.h>

#include "detect.h"
#include "unit.h"

static struct zc_detector det;

#define BUF   ((uintptr_t)0x7f0000100000)
#define CHUNK ((size_t)65536)

static int fresh(void **state)
{
	zc_det_init(&det);
	return 0;
}

/* One turn of a copy loop: read CHUNK from fd into buf, then write all of
 * it.  Returns what the detector said before the read. */
static enum zc_read_verdict copy_round(int fd, uintptr_t buf, int deferred)
{
	enum zc_read_verdict v = zc_det_before_read(&det, fd, buf);
	zc_det_after_read(&det, fd, buf, CHUNK, deferred);
	assert_non_null(zc_det_on_write(&det, buf, CHUNK));
	return v;
}

static void engage(int fd, uintptr_t buf)
{
	for (int i = 0; i < ZC_ENGAGE_PAIRS; i++)
		copy_round(fd, buf, 0);
	assert_int_equal(zc_det_before_read(&det, fd, buf), ZC_READ_DEFER);
}

static void init_leaves_every_slot_free(void **state)
{
	memset(&det, 0x5a, sizeof det);
	zc_det_init(&det);
	for (int i = 0; i < ZC_STREAMS; i++)
		assert_int_equal(det.s[i].fd, -1);
	assert_null(zc_det_find(&det, BUF, 1));
}

static void reads_alone_never_engage(void **state)
{
	for (int i = 0; i < 100; i++) {
		assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
		zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	}
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void engages_after_enough_pairs(void **state)
{
	for (int i = 0; i < ZC_ENGAGE_PAIRS; i++)
		assert_int_equal(copy_round(3, BUF, 0), ZC_READ_PLAIN);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_DEFER);
}

static void one_pair_short_is_not_engaged(void **state)
{
	for (int i = 0; i < ZC_ENGAGE_PAIRS - 1; i++)
		copy_round(3, BUF, 0);
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void write_returns_the_stream_that_read(void **state)
{
	zc_det_after_read(&det, 7, BUF, CHUNK, 0);
	struct zc_stream *s = zc_det_on_write(&det, BUF, CHUNK);
	assert_non_null(s);
	assert_int_equal(s->fd, 7);
	assert_int_equal(s->buf, BUF);
	assert_int_equal(s->len, CHUNK);
	assert_int_equal(s->pairs, 1);
}

static void write_outside_the_read_range_is_not_a_pair(void **state)
{
	for (int i = 0; i < 2 * ZC_ENGAGE_PAIRS; i++) {
		assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
		zc_det_after_read(&det, 3, BUF, CHUNK, 0);
		assert_null(zc_det_on_write(&det, BUF - 1, 16));          /* starts before */
		assert_null(zc_det_on_write(&det, BUF + CHUNK - 8, 16));  /* runs past the end */
		assert_null(zc_det_on_write(&det, BUF + CHUNK, 1));       /* just after */
		assert_null(zc_det_on_write(&det, BUF + 2 * CHUNK, 100)); /* elsewhere */
		assert_null(zc_det_on_write(&det, BUF, CHUNK + 1));       /* more than was read */
	}
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void empty_write_is_not_a_pair(void **state)
{
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	assert_null(zc_det_on_write(&det, BUF, 0));
}

static void write_after_a_short_read_pairs_only_within_it(void **state)
{
	zc_det_after_read(&det, 3, BUF, 100, 0);
	assert_null(zc_det_on_write(&det, BUF, 101));
	assert_non_null(zc_det_on_write(&det, BUF, 100));
}

static void partial_writes_of_the_read_pair(void **state)
{
	for (int i = 0; i < ZC_ENGAGE_PAIRS; i++) {
		zc_det_before_read(&det, 3, BUF);
		zc_det_after_read(&det, 3, BUF, CHUNK, 0);
		/* a sub-range, as a program writing part of its buffer does */
		assert_non_null(zc_det_on_write(&det, BUF + 100, 200));
	}
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_DEFER);
	zc_det_after_read(&det, 3, BUF, CHUNK, 1);
	assert_non_null(zc_det_on_write(&det, BUF + CHUNK - 1, 1)); /* the last byte */
}

static void same_chunk_to_two_fds_counts_one_pair(void **state)
{
	zc_det_before_read(&det, 3, BUF);
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	struct zc_stream *s = zc_det_on_write(&det, BUF, CHUNK); /* tee: to a file ... */
	assert_non_null(s);
	assert_ptr_equal(zc_det_on_write(&det, BUF, CHUNK), s);  /* ... and to stdout */
	assert_int_equal(s->pairs, 1);
	if (ZC_ENGAGE_PAIRS > 1)
		assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void read_not_written_out_restarts_the_count(void **state)
{
	for (int i = 0; i < ZC_ENGAGE_PAIRS - 1; i++)
		copy_round(3, BUF, 0);
	zc_det_after_read(&det, 3, BUF, CHUNK, 0); /* read, never written */
	for (int i = 0; i < ZC_ENGAGE_PAIRS - 1; i++)
		copy_round(3, BUF, 0);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
	copy_round(3, BUF, 0);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_DEFER);
}

static void unwritten_plain_read_disengages(void **state)
{
	engage(3, BUF);
	zc_det_after_read(&det, 3, BUF, CHUNK, 0); /* a plain read that is not written */
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void write_pairs_with_the_latest_read_into_a_buffer(void **state)
{
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	zc_det_after_read(&det, 4, BUF, CHUNK, 0);
	struct zc_stream *s = zc_det_on_write(&det, BUF, CHUNK);
	assert_non_null(s);
	assert_int_equal(s->fd, 4);
}

static void touched_disengages_and_skips_two_reads(void **state)
{
	engage(3, BUF);
	zc_det_touched(&det, zc_det_find(&det, BUF, CHUNK));
	/* level 1: the next 2^1 reads are not even considered */
	assert_int_equal(copy_round(3, BUF, 0), ZC_READ_BACKOFF);
	assert_int_equal(copy_round(3, BUF, 0), ZC_READ_BACKOFF);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void backoff_ends_and_the_stream_can_engage_again(void **state)
{
	engage(3, BUF);
	zc_det_touched(&det, zc_det_find(&det, BUF, CHUNK));
	int rounds = 0;
	while (zc_det_before_read(&det, 3, BUF) != ZC_READ_DEFER) {
		zc_det_after_read(&det, 3, BUF, CHUNK, 0);
		zc_det_on_write(&det, BUF, CHUNK);
		assert_true(++rounds < 16);
	}
	assert_true(rounds >= 2);
}

/* How many reads in a row the detector answers BACKOFF for. */
static int backoff_length(int fd, uintptr_t buf)
{
	int n = 0;
	while (copy_round(fd, buf, 0) == ZC_READ_BACKOFF)
		n++;
	return n;
}

static void backoff_level_grows_with_each_touch(void **state)
{
	for (int level = 1; level <= 4; level++) {
		engage(3, BUF);
		struct zc_stream *s = zc_det_find(&det, BUF, CHUNK);
		zc_det_touched(&det, s);
		assert_int_equal(s->level, level);
		assert_int_equal(s->engaged, 0);
		assert_int_equal(backoff_length(3, BUF), 1 << level);
	}
}

static void backoff_caps_at_max_level(void **state)
{
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	struct zc_stream *s = zc_det_find(&det, BUF, CHUNK);
	for (int i = 0; i < ZC_BACKOFF_MAX + 8; i++)
		zc_det_touched(&det, s);
	assert_int_equal(s->level, ZC_BACKOFF_MAX);
	assert_int_equal(s->skip, 1u << ZC_BACKOFF_MAX);
	assert_int_equal(backoff_length(3, BUF), 1 << ZC_BACKOFF_MAX);
}

static void calm_deferred_rounds_lower_the_level(void **state)
{
	engage(3, BUF);
	struct zc_stream *s = zc_det_find(&det, BUF, CHUNK);
	zc_det_touched(&det, s);
	zc_det_touched(&det, s);
	assert_int_equal(s->level, 2);
	backoff_length(3, BUF);
	while (zc_det_before_read(&det, 3, BUF) != ZC_READ_DEFER)
		copy_round(3, BUF, 0);
	/* deferred reads written out untouched, ZC_CALM_ROUNDS times */
	zc_det_after_read(&det, 3, BUF, CHUNK, 1);
	zc_det_on_write(&det, BUF, CHUNK);
	for (int i = 1; i < ZC_CALM_ROUNDS; i++) {
		assert_int_equal(s->level, 2);
		assert_int_equal(copy_round(3, BUF, 1), ZC_READ_DEFER);
	}
	assert_int_equal(s->level, 1);
	zc_det_touched(&det, s);
	assert_int_equal(s->level, 2); /* instead of 3 */
}

static void touched_null_is_ignored(void **state)
{
	engage(3, BUF);
	zc_det_touched(&det, NULL);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_DEFER);
}

static void lru_stream_replaced_when_slots_run_out(void **state)
{
	const uintptr_t stride = 0x100000;
	for (int i = 0; i < ZC_STREAMS; i++)
		zc_det_after_read(&det, 10 + i, BUF + i * stride, CHUNK, 0);
	/* stream 0 is used again, so stream 1 is now the least recently used */
	zc_det_after_read(&det, 10, BUF, CHUNK, 0);
	zc_det_after_read(&det, 99, BUF + ZC_STREAMS * stride, CHUNK, 0);

	assert_null(zc_det_find(&det, BUF + 1 * stride, 1));
	for (int i = 0; i <= ZC_STREAMS; i++) {
		if (i == 1)
			continue;
		struct zc_stream *s = zc_det_find(&det, BUF + i * stride, 1);
		assert_non_null(s);
		assert_int_equal(s->fd, i == ZC_STREAMS ? 99 : 10 + i);
	}
}

static void replaced_slot_starts_fresh(void **state)
{
	const uintptr_t stride = 0x100000;
	engage(10, BUF);
	for (int i = 1; i < ZC_STREAMS; i++)
		zc_det_after_read(&det, 10 + i, BUF + i * stride, CHUNK, 0);
	/* the engaged stream is now the oldest and makes room */
	zc_det_after_read(&det, 99, BUF + ZC_STREAMS * stride, CHUNK, 0);
	assert_null(zc_det_find(&det, BUF, 1));
	struct zc_stream *s = zc_det_find(&det, BUF + ZC_STREAMS * stride, 1);
	assert_non_null(s);
	assert_int_equal(s->pairs, 0);
	assert_int_equal(s->engaged, 0);
	assert_int_equal(zc_det_before_read(&det, 10, BUF), ZC_READ_PLAIN);
}

static void forget_fd_ends_only_its_streams(void **state)
{
	const uintptr_t other = BUF + 0x100000;
	engage(3, BUF);
	engage(4, other);
	zc_det_forget_fd(&det, 3);
	assert_null(zc_det_find(&det, BUF, 1));
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
	assert_int_equal(zc_det_before_read(&det, 4, other), ZC_READ_DEFER);
}

static void reused_fd_starts_from_scratch(void **state)
{
	engage(3, BUF);
	zc_det_forget_fd(&det, 3); /* closed; the number comes back for another file */
	for (int i = 0; i < ZC_ENGAGE_PAIRS - 1; i++)
		assert_int_equal(copy_round(3, BUF, 0), ZC_READ_PLAIN);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void forget_range_ends_streams_with_buffers_there(void **state)
{
	engage(3, BUF);
	zc_det_forget_range(&det, BUF + 100, BUF + 101);
	assert_null(zc_det_find(&det, BUF, 1));
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_PLAIN);
}

static void forget_range_keeps_streams_outside_it(void **state)
{
	engage(3, BUF);
	zc_det_forget_range(&det, BUF + CHUNK, BUF + 2 * CHUNK); /* just after */
	zc_det_forget_range(&det, BUF - CHUNK, BUF);             /* just before */
	assert_non_null(zc_det_find(&det, BUF, CHUNK));
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_DEFER);
}

static void forget_range_covering_the_buffer(void **state)
{
	engage(3, BUF);
	zc_det_forget_range(&det, BUF - 4096, BUF + CHUNK + 4096);
	assert_null(zc_det_find(&det, BUF, 1));
}

static void freed_buffer_stream_goes_on_in_the_next_buffer(void **state)
{
	/* python: each read gets a new bytes object, the old one is freed. */
	engage(3, BUF);
	zc_det_release_range(&det, BUF, BUF + CHUNK);
	assert_null(zc_det_find(&det, BUF, 1)); /* no write pairs with freed memory */
	uintptr_t next = BUF + 16 * CHUNK;
	assert_int_equal(zc_det_before_read(&det, 3, next), ZC_READ_DEFER);
	struct zc_stream *s = zc_det_lookup(&det, 3, next);
	assert_non_null(s);
	assert_true(s->adopted);
	zc_det_after_read(&det, 3, next, CHUNK, 1);
	assert_non_null(zc_det_on_write(&det, next, CHUNK));
}

static void alternating_buffers_both_stay_engaged(void **state)
{
	/* The previous buffer is freed only after the next read returned. */
	uintptr_t a = BUF, b = BUF + 16 * CHUNK;
	for (int i = 0; i < 12; i++) {
		uintptr_t cur = i % 2 ? b : a, old = i % 2 ? a : b;
		enum zc_read_verdict v = copy_round(3, cur, 0);
		if (i >= 6)
			assert_int_equal(v, ZC_READ_DEFER);
		zc_det_release_range(&det, old, old + CHUNK);
	}
}

static void freed_buffer_is_not_taken_by_another_fd(void **state)
{
	engage(3, BUF);
	zc_det_release_range(&det, BUF, BUF + CHUNK);
	assert_int_equal(zc_det_before_read(&det, 4, BUF), ZC_READ_PLAIN);
	assert_int_equal(zc_det_before_read(&det, 3, BUF), ZC_READ_DEFER);
}

static void find_counts_nothing(void **state)
{
	zc_det_after_read(&det, 3, BUF, CHUNK, 0);
	struct zc_stream *s = zc_det_find(&det, BUF, CHUNK);
	assert_non_null(s);
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(zc_det_find(&det, BUF, CHUNK), s);
	assert_int_equal(s->pairs, 0);
	assert_int_equal(s->paired, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, fresh)
		T(init_leaves_every_slot_free),
		T(reads_alone_never_engage),
		T(engages_after_enough_pairs),
		T(one_pair_short_is_not_engaged),
		T(write_returns_the_stream_that_read),
		T(write_outside_the_read_range_is_not_a_pair),
		T(empty_write_is_not_a_pair),
		T(write_after_a_short_read_pairs_only_within_it),
		T(partial_writes_of_the_read_pair),
		T(same_chunk_to_two_fds_counts_one_pair),
		T(read_not_written_out_restarts_the_count),
		T(unwritten_plain_read_disengages),
		T(write_pairs_with_the_latest_read_into_a_buffer),
		T(touched_disengages_and_skips_two_reads),
		T(backoff_ends_and_the_stream_can_engage_again),
		T(backoff_level_grows_with_each_touch),
		T(backoff_caps_at_max_level),
		T(calm_deferred_rounds_lower_the_level),
		T(touched_null_is_ignored),
		T(lru_stream_replaced_when_slots_run_out),
		T(replaced_slot_starts_fresh),
		T(forget_fd_ends_only_its_streams),
		T(reused_fd_starts_from_scratch),
		T(forget_range_ends_streams_with_buffers_there),
		T(forget_range_keeps_streams_outside_it),
		T(forget_range_covering_the_buffer),
		T(freed_buffer_stream_goes_on_in_the_next_buffer),
		T(alternating_buffers_both_stay_engaged),
		T(freed_buffer_is_not_taken_by_another_fd),
		T(find_counts_nothing),
#undef T
	};
	return cmocka_run_group_tests_name("detect", tests, NULL, NULL);
}
