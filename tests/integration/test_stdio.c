/*
 * test_stdio.c - fread()/fwrite() loops (issue 10): copiers whose stdio
 * calls zcopy replays with the engine making glibc's direct system call,
 * the FILE behaviours that replay must keep (ftell, fseek, ungetc, the
 * end-of-file and error indicators, setvbuf modes, freopen, output mixed
 * with fprintf/fputs, read(2)/write(2) on the same descriptors), and real
 * stdio tools, whose output must not change.
 *
 * Every scenario runs tests/programs/stdio_cp (or the tool) without the
 * shim and with ZCOPY_MODE=off, observe and on; status, stdout, stderr (the
 * program's log of every count and position) and outputs must be identical,
 * and the stats must show the engagement the scenario calls for.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

/* Not a multiple of the request size: the short read at the end, the end of
 * file indicator and the tail kept in the stream's buffer are in every
 * copy. */
#define SIZE (16 * MiB + 12345)
#define OUT1 IT_ARGV("out")
#define CP "stdio_cp"

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 10);
}

/* A copy to the file "out": identical everywhere, the copy exact, and at
 * least pct% of it by kernel transfer. */
static void copy_engaged(const char *const *argv, int pct)
{
	it_four(argv, NULL, OUT1);
	it_expect_passive(CP);
	it_expect_zero_copy(CP, SIZE, pct);
}

/* ---- copiers -------------------------------------------------------------- */

START_TEST(fread_fwrite_aligned_buffer_file_to_file)
{
	copy_engaged(IT_ARGV(it_prog(CP), "../src", "out"), 80);
	it_same_file("src", "none/out");
	it_expect_transfers(CP, "copy_file_range");
	it_expect_would(CP, SIZE, 80); /* observe mode sees what on mode does */
}
END_TEST

START_TEST(fread_fwrite_file_to_stdout_pipe)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog(CP), "../src", "-"),
			     .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success(CP);
	it_same_file("src", "none/piped");
	it_expect_passive(CP);
	it_expect_zero_copy(CP, SIZE, 80);
	it_expect_transfers(CP, "splice");
	it_expect_would(CP, SIZE, 80);
}
END_TEST

START_TEST(fread_fwrite_file_to_socket)
{
	copy_engaged(IT_ARGV(it_prog(CP), "../src", "sock:out"), 80);
	it_same_file("src", "none/out");
	it_expect_transfers(CP, "sendfile");
}
END_TEST

START_TEST(fread_requests_of_the_minimum_chunk_engage)
{
	/* ZCOPY_MIN_CHUNK (64 KiB by default) applies to the program's request,
	 * as for read(), not to the part zcopy reads without glibc. */
	copy_engaged(IT_ARGV(it_prog(CP), "-c", "65536", "../src", "out"), 80);
	it_same_file("src", "none/out");
}
END_TEST

/* Requests of whole buffer blocks, the loop of a copier: after the first
 * fread the stream is as glibc's direct read leaves it, so zcopy makes all
 * of each later direct read (no last block read by glibc through user
 * memory).  To a file, everything but the first chunks (warm-up) and the
 * tail goes by transfer, and almost nothing through user memory. */
static void whole_blocks_to_file(const char *chunk)
{
	it_four(IT_ARGV(it_prog(CP), "-c", chunk, "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive(CP);
	it_expect_zero_copy(CP, SIZE, 97);
	long long copied = it_stat("on", CP, "bytes_copied");
	ck_assert_msg(copied <= SIZE / 50, "bytes_copied %lld of %d; stats: %s", copied, SIZE,
		      it_stats_text("on"));
}

START_TEST(fread_of_64k_whole_blocks_goes_all_by_transfer)
{
	whole_blocks_to_file("65536");
}
END_TEST

START_TEST(fread_of_128k_whole_blocks_goes_all_by_transfer)
{
	whole_blocks_to_file("131072");
}
END_TEST

START_TEST(fread_of_whole_blocks_to_a_pipe_goes_all_by_transfer)
{
	/* To a pipe, glibc's fwrite first writes the block that fills its
	 * buffer (at most PIPE_BUF: a write of its own), then the blocks.
	 * That block is the first page of the chunk, which a splice keeps
	 * whole as one pipe buffer: it goes with the blocks in one engine
	 * write of two, and nothing of the chunk through user memory (it
	 * was 1/16 with the block written by itself). */
	struct it_spec s = { .argv = IT_ARGV(it_prog(CP), "-q", "-c", "65536", "../src", "-"),
			     .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success(CP);
	it_same_file("src", "none/piped");
	it_expect_passive(CP);
	it_expect_zero_copy(CP, SIZE, 97);
	long long copied = it_stat("on", CP, "bytes_copied");
	ck_assert_msg(copied <= SIZE / 50, "bytes_copied %lld of %d; stats: %s", copied, SIZE,
		      it_stats_text("on"));
}
END_TEST

START_TEST(fwrite_to_a_pipe_that_does_not_start_on_a_page_is_exact)
{
	/* A malloc'd buffer starts 16 bytes into a page (guards take its
	 * whole pages): the block that fills the stream's buffer spans two
	 * pages, and is glibc's own write of at most PIPE_BUF, as it is.  Its
	 * bytes in a guarded page are given to it first (that write once
	 * failed with EFAULT). */
	struct it_spec s = { .argv = IT_ARGV(it_prog(CP), "-q", "-b", "malloc", "-c", "65536",
					     "../src", "-"),
			     .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success(CP);
	it_same_file("src", "none/piped");
	it_expect_passive(CP);
	it_expect_deferred(CP, 0);
}
END_TEST

START_TEST(fwrite_into_a_full_nonblocking_pipe_counts_as_glibc)
{
	/* Deferred chunks into a non-blocking pipe with room for 1, 0, 2 and
	 * 15 pages, and for less than a page (no free slot): every fwrite's
	 * count, error indicator and errno, and the bytes the pipe then
	 * holds, are glibc's. */
	it_four(IT_ARGV(it_prog("stdio_pipe_full"), "../src", "out"), NULL, OUT1);
	it_expect_passive("stdio_pipe_full");
	it_expect_deferred("stdio_pipe_full", 4);
	it_expect_transfers("stdio_pipe_full", "splice");
}
END_TEST

/* stdio_pipe_full in a blocking mode (see the program): every count,
 * error indicator, errno, signal and byte the reader got is glibc's; the
 * chunks were deferred, and `line` is in the output (the count glibc gives
 * for that mode, checked here so that a plain run that changes is seen);
 * spliced: the least number of splices zcopy made into the pipe (the
 * chunk written after the mode's own, where the reader stays, goes whole). */
static void blocking_mode_env(const char *mode, const char *const *env, const char *line,
			      int spliced)
{
	it_four(IT_ARGV(it_prog("stdio_pipe_full"), "../src", "out", mode), env, OUT1);
	it_expect_passive("stdio_pipe_full");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, line) != NULL, "%s: no \"%s\" in: %s", mode, line, text);
	free(text);
	it_expect_deferred("stdio_pipe_full", 4);
	long long sp = it_stat("on", "stdio_pipe_full", "transfers.splice");
	ck_assert_msg(sp >= spliced, "%s: %lld splices, expected %d at least; stats: %s", mode, sp,
		      spliced, it_stats_text("on"));
}

static void blocking_mode(const char *mode, const char *line, int spliced)
{
	blocking_mode_env(mode, NULL, line, spliced);
}

START_TEST(fwrite_into_a_blocking_pipe_ends_at_the_first_signal_as_glibc)
{
	/* Room for one page: glibc's write of the block that fills its buffer
	 * goes, its write of the blocks waits, and the first signal (no
	 * SA_RESTART) ends it: fwrite returns 4096, EINTR.  zcopy sends the
	 * block and the blocks as one engine write of two (the block by
	 * splice); at the block's end its next call is the blocks' write's
	 * first, which waits as that write would: one signal, not two.  Then
	 * a chunk into the drained pipe: one splice. */
	blocking_mode("blocking", "blocking: fwrite 4096 ferror 1 errno EINTR after 1 signal(s)", 1);
}
END_TEST

START_TEST(fwrite_of_changed_pages_into_a_blocking_pipe_ends_at_the_first_signal_as_glibc)
{
	/* The same with the chunk's first two pages changed by the program,
	 * its pages mapped (ZCOPY_GUARD=0): they go from its memory, the block
	 * by a write of its own and the second page as the first call of the
	 * blocks' write (one plain write of both pages would have written the
	 * block, waited, and returned its count at the signal, and the next
	 * write waited for another). */
	blocking_mode_env("dirty", IT_ARGV("ZCOPY_GUARD=0"),
			  "dirty: fwrite 4096 ferror 1 errno EINTR after 1 signal(s)", 0);
	long long dirty = it_stat("on", "stdio_pipe_full", "fallback_bytes.dirty_pages");
	ck_assert_msg(dirty > 0, "the engine did not send the changed pages; stats: %s",
		      it_stats_text("on"));
}
END_TEST

START_TEST(fwrite_of_changed_guarded_pages_into_a_blocking_pipe_ends_as_glibc)
{
	/* The same at default settings, where the stream's reads (its bytes
	 * went to a file before) are guarded: the program's change faults,
	 * the two pages get their bytes first, the stream backs off, and the
	 * chunk goes by glibc's own fwrite, with its counts. */
	blocking_mode("dirty", "dirty: fwrite 4096 ferror 1 errno EINTR after 1 signal(s)", 0);
	long long mat = it_stat("on", "stdio_pipe_full", "materialized_bytes");
	long long through = it_stat("on", "stdio_pipe_full", "fallback_bytes.transformed");
	ck_assert_msg(mat >= 8192 && through >= 61440,
		      "the changed guarded pages were not read in, or the chunk did not go "
		      "through memory; stats: %s", it_stats_text("on"));
}
END_TEST

START_TEST(fwrite_of_a_chunk_read_inside_a_file_page_keeps_the_block_whole)
{
	/* The chunk read by read(2) 100 bytes into a page of the file: its
	 * guarded pages' file offsets lie inside file pages, so a splice of
	 * the block would take two pipe buffers, and with room for one it
	 * would put 3996 bytes of it in the pipe.  The block goes by a plain
	 * write of its own, the blocks by transfer after it. */
	blocking_mode("oddread", "oddread: fwrite 4096 ferror 1 errno EINTR after 1 signal(s)", 1);
}
END_TEST

START_TEST(fwrite_into_a_full_blocking_pipe_ends_at_the_first_signal_as_glibc)
{
	/* No room: the block's own write waits, the first signal ends it
	 * (glibc's fwrite counts the block as taken). */
	blocking_mode("before", "before: fwrite 4096 ferror 1 errno EINTR after 1 signal(s)", 1);
}
END_TEST

START_TEST(fwrite_cut_short_after_some_blocks_ends_at_the_second_signal_as_glibc)
{
	/* Room for three pages: the block and two blocks go in one splice,
	 * the first signal cuts the blocks' write short (8192), glibc's next
	 * write waits until the second signal fails it. */
	blocking_mode("after", "after: fwrite 12288 ferror 1 errno EINTR after 2 signal(s)", 2);
}
END_TEST

START_TEST(fwrite_with_sa_restart_waits_through_signals_as_glibc)
{
	/* SA_RESTART: the blocks' write waits through the signals until a
	 * thread drains the pipe, and all of the chunk goes. */
	blocking_mode("restart", "restart: fwrite 65536 ferror 0 errno 0 after 3 signal(s)", 1);
}
END_TEST

START_TEST(fwrite_whose_reader_leaves_between_block_and_blocks_raises_one_sigpipe)
{
	/* The reader closes its end while the blocks' write waits: that write
	 * fails with EPIPE and one SIGPIPE, and fwrite returns the block's
	 * count.  (Taken as a short count of one write, the end of the block
	 * would have made another write, and a second SIGPIPE.) */
	blocking_mode("epipe", "epipe: fwrite 4096 ferror 1 errno EPIPE after 0 signal(s), 1 SIGPIPE",
		      0);
}
END_TEST

START_TEST(fwrite_into_a_pipe_without_reader_raises_one_sigpipe)
{
	blocking_mode("closed", "closed: fwrite 4096 ferror 1 errno EPIPE after 0 signal(s), 1 SIGPIPE",
		      0);
}
END_TEST

START_TEST(fwrite_cancelled_in_the_blocks_write_leaves_the_block_in_the_pipe)
{
	/* The writing thread is cancelled while the blocks' write waits: the
	 * pipe holds the fill and the block, and the stream writes again. */
	blocking_mode("cancel", "cancel: cancelled", 1);
}
END_TEST

START_TEST(fwrite_cancelled_in_the_write_of_its_start_keeps_the_start_in_the_buffer)
{
	/* No room: the thread is cancelled while the write of the block that
	 * fills glibc's buffer waits.  glibc had copied the block into its
	 * buffer and its write never ended, so the stream writes the block
	 * before the next 10 bytes.  (zcopy wrote the block from the caller's
	 * memory, and lost it when cancelled.) */
	blocking_mode("cancelstart", "after cancel: drained 4106 bytes", 1);
}
END_TEST

START_TEST(fwrite_left_by_siglongjmp_in_the_write_of_its_start_keeps_the_start)
{
	/* The same with a timer whose handler leaves the fwrite by siglongjmp. */
	blocking_mode("jumpstart", "after the jump: drained 4106 bytes", 1);
}
END_TEST

START_TEST(fwrite_left_by_siglongjmp_after_its_start_went_holds_nothing)
{
	/* Room for one page: the block went, the handler leaves the blocks'
	 * write: glibc had emptied its buffer, so only the next 10 bytes
	 * follow (a start kept in the buffer there would be written twice). */
	blocking_mode("jumpblocks", "after the jump: drained 10 bytes", 1);
}
END_TEST

/* stdio_jump_nested: a handler's fwrite to a second stream while the
 * program's waits, both left by siglongjmp (one jump each, or one for
 * both); A's buffer glibc's default (its start goes inside the engine) or
 * 2048 bytes (by a plain write).  Each stream keeps its own start.  And
 * one jump out of an 8192-byte start of which one page went: glibc keeps
 * all of it, and errno is the program's (not the EAGAIN of zcopy's own
 * call that found the pipe full before its wait). */
static const char *const nested_jumps[][2] = { { "2048", NULL }, { "2048", "both" },
					       { "0", NULL },    { "0", "both" },
					       { "8192", "one" } };

START_TEST(fwrites_left_by_nested_jumps_keep_each_start)
{
	const char *abuf = nested_jumps[_i][0], *how = nested_jumps[_i][1];
	if (how)
		it_four(IT_ARGV(it_prog("stdio_jump_nested"), "../src", "out", abuf, how), NULL,
			OUT1);
	else
		it_four(IT_ARGV(it_prog("stdio_jump_nested"), "../src", "out", abuf), NULL, OUT1);
	it_expect_passive("stdio_jump_nested");
	char *text = it_slurp("none/stdout", NULL);
	const char *want = strcmp(abuf, "2048") == 0   ? "P1 then: drained 2058 bytes"
			   : strcmp(abuf, "8192") == 0 ? "P1 then: drained 8202 bytes"
						       : "P1 then: drained 4106 bytes";
	ck_assert_msg(strstr(text, want) && (how && strcmp(how, "one") == 0
						     ? strstr(text, "left after 1 ticks, errno 0") != NULL
						     : strstr(text, "P2 then: drained 4106 bytes") != NULL),
		      "glibc's run changed: %s", text);
	free(text);
	it_expect_deferred("stdio_jump_nested", 4);
}
END_TEST

/* stdio_fork_start: a fork while another thread's fwrite waits in the
 * write of its start.  glibc's buffer holds the start then, so the child
 * has it pending and its exit writes it once more; zcopy's buffer was
 * empty (the start went from the caller's memory) and the child wrote
 * nothing. */
START_TEST(a_fork_while_an_fwrite_writes_its_start_gives_the_child_the_start)
{
	it_four(IT_ARGV(it_prog("stdio_fork_start"), "../src", "out"), NULL, OUT1);
	it_expect_passive("stdio_fork_start");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, "child: 4 KiB pending at the fork") &&
			      strstr(text, "pipe: 69632 bytes after the fill"),
		      "glibc's run changed: %s", text);
	free(text);
	it_expect_deferred("stdio_fork_start", 4);
}
END_TEST

START_TEST(fwrite_waiting_while_dup2_renames_its_descriptor_goes_on_into_its_pipe)
{
	/* The blocks' write waits on the first pipe when the stream's number
	 * is made to name another: the write goes on into the first pipe (as
	 * write(2) does, having taken its file), the next chunk into the
	 * other. */
	blocking_mode("dup2", "dup2: fwrite 65536 ferror 0 errno 0", 1);
}
END_TEST

/* stdio_pipe_full with its warm-up into the pipe itself (DST "-"): the
 * stream's destination is a pipe from the start, so zcopy reads each later
 * chunk into a pipe of its own (the buffer's pages guarded, and kept so
 * from one fread to the next) and the fwrite splices that pipe out, its
 * first page as the whole unit glibc's write of the block that fills its
 * buffer is.  Every count, error indicator, errno, signal and byte is
 * glibc's, in the non-blocking mode and each blocking one. */
static const char *const pipe_of_zcopys_modes[] = { NULL,   "blocking", "before", "after",
						    "restart", "epipe", "closed",  "cancel",
						    "dup2",    "dirty" };

START_TEST(fwrite_out_of_a_pipe_of_zcopys_counts_as_glibc)
{
	const char *mode = pipe_of_zcopys_modes[_i];
	if (mode)
		it_four(IT_ARGV(it_prog("stdio_pipe_full"), "../src", "-", mode), NULL, NULL);
	else
		it_four(IT_ARGV(it_prog("stdio_pipe_full"), "../src", "-"), NULL, NULL);
	it_expect_passive("stdio_pipe_full");
	long long fp = it_stat("on", "stdio_pipe_full", "file_pipe_reads");
	ck_assert_msg(fp >= 4, "%s: %lld reads into a pipe of zcopy's; stats: %s",
		      mode ? mode : "non-blocking", fp, it_stats_text("on"));
	it_expect_transfers("stdio_pipe_full", "splice");
}
END_TEST

START_TEST(fwrite_into_its_own_file_without_room_for_a_pin_keeps_old_bytes)
{
	/* The copier has written to 40 files, and zcopy has no room left to
	 * pin the next destination: its source file, where another buffer's
	 * deferred bytes stand for the range written.  The write goes
	 * plainly, and that buffer must keep the old bytes (it once showed
	 * the new ones, for write(2) and pwrite(2) as for a replayed fwrite). */
	it_four(IT_ARGV(it_prog("stdio_pins_full"), "../src", "own"), NULL, IT_ARGV("own"));
	it_expect_passive("stdio_pins_full");
	it_expect_deferred("stdio_pins_full", 40);
	it_expect_transfers("stdio_pins_full", "copy_file_range");
}
END_TEST

START_TEST(streams_opened_with_c_make_no_cancellation_point)
{
	/* fopen "c": glibc reads and writes such a stream with its nocancel
	 * calls.  The copier requests its own cancellation after the first
	 * chunk, which acts only at its pthread_testcancel after the loop; a
	 * replay whose read(2) or write(2) were cancellation points would end
	 * it at the second fread or fwrite, with the copy cut short.  Such
	 * streams stay glibc's.  (After the first chunk: zcopy's first
	 * counter opens the live counters' file, a cancellation point of its
	 * own, which this test leaves out.) */
	it_four(IT_ARGV(it_prog(CP), "-q", "-K", "-c", "65536", "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive(CP);
	it_expect_no_zero_copy(CP, 0);
}
END_TEST

START_TEST(fwrite_into_its_own_file_ahead_of_the_reader_goes_by_transfer)
{
	/* One stream reads the file, another writes what it read 1 MiB
	 * further on, where the reader arrives later.  The written range never
	 * holds the bytes of the buffer's phantoms, so they stay phantoms and
	 * go by copy_file_range within the file (an fwrite used to give every
	 * phantom of its destination file its bytes first, all of them). */
	it_four(IT_ARGV(it_prog(CP), "-q", "-S", "1048576", "-c", "65536", "../src", "out"), NULL,
		OUT1);
	it_expect_passive(CP);
	it_expect_zero_copy(CP, SIZE, 90);
	it_expect_transfers(CP, "copy_file_range");
}
END_TEST

START_TEST(fwrite_into_its_own_file_over_the_bytes_just_read_is_exact)
{
	/* Half a chunk further on: each fwrite overwrites the second half of
	 * the range its buffer's phantoms stand for, and the next fread reads
	 * what it wrote.  The phantoms keep the old bytes. */
	it_four(IT_ARGV(it_prog(CP), "-q", "-S", "32768", "-c", "65536", "../src", "out"), NULL,
		OUT1);
	it_expect_passive(CP);
}
END_TEST

START_TEST(fread_fwrite_with_1mib_setvbuf_buffers)
{
	/* Requests of four times the buffer: glibc reads and writes them
	 * directly.  After the first, the stream is as glibc's direct read
	 * leaves it, and zcopy makes all of each direct read: everything but
	 * the warm-up (two requests of twelve) by transfer.  (When zcopy left
	 * glibc the last buffer block of each request, a quarter of the bytes
	 * went through user memory here.)  Requests that fit the buffer are
	 * copied through it by glibc, and stay glibc's. */
	it_make_file("src", 48 * MiB + 4321, 11);
	it_four(IT_ARGV(it_prog(CP), "-v", "1m", "-c", "4194304", "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive(CP);
	it_expect_zero_copy(CP, 48 * MiB, 75);
}
END_TEST

START_TEST(fread_fwrite_malloc_buffer_is_exact)
{
	/* A malloc'd 128 KiB block starts 16 bytes into a page: the map
	 * strategy cannot defer into it, so with guard mode off nothing is
	 * redirected (the guard strategy is what covers it). */
	it_four(IT_ARGV(it_prog(CP), "-b", "malloc", "../src", "out"), IT_ARGV("ZCOPY_GUARD=0"),
		OUT1);
	it_same_file("src", "none/out");
	it_expect_passive(CP);
	it_expect_no_zero_copy(CP, 0);
}
END_TEST

START_TEST(read_syscall_then_fwrite)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-r", "../src", "out"), 80);
	it_same_file("src", "none/out");
}
END_TEST

START_TEST(fread_then_write_syscall)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-w", "../src", "out"), 80);
	it_same_file("src", "none/out");
}
END_TEST

/* ---- FILE behaviours ------------------------------------------------------ */

START_TEST(fprintf_header_fputs_marks_trailer_and_ftell)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-m", "../src", "out"), 80);
	ck_assert_int_gt(it_file_size("none/out"), SIZE);
}
END_TEST

START_TEST(fseek_back_and_read_again)
{
	/* After an fseek glibc caches the file offset, and that stream's
	 * freads stay glibc's: the first half is redirected. */
	copy_engaged(IT_ARGV(it_prog(CP), "-s", "../src", "out"), 40);
	ck_assert_int_eq(it_file_size("none/out"), SIZE + 128 * 1024);
}
END_TEST

START_TEST(fgetc_ungetc_before_fread)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-u", "../src", "out"), 75);
}
END_TEST

START_TEST(getc_fgets_getdelim_fscanf_between_freads)
{
	/* The character and line functions leave a partly used buffer, so the
	 * next fread's direct read lands at an address that does not match the
	 * file offset: exactness is what matters here. */
	it_four(IT_ARGV(it_prog(CP), "-g", "../src", "out"), NULL, OUT1);
	it_expect_passive(CP);
	it_same_file("src", "none/out"); /* what the small reads got is written too */
}
END_TEST

START_TEST(unbuffered_streams)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-v", "none", "-m", "../src", "out"), 80);
}
END_TEST

START_TEST(line_buffered_streams_to_a_pipe)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog(CP), "-v", "line", "-m", "../src", "-"),
			     .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success(CP);
	it_expect_passive(CP);
	it_expect_zero_copy(CP, SIZE, 80);
}
END_TEST

START_TEST(fully_buffered_streams_set_by_setvbuf)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-v", "full", "-m", "../src", "out"), 80);
}
END_TEST

START_TEST(freopen_the_source_midway)
{
	copy_engaged(IT_ARGV(it_prog(CP), "-f", "../src", "out"), 80);
	ck_assert_int_gt(it_file_size("none/out"), SIZE + SIZE / 2);
}
END_TEST

START_TEST(source_closed_while_its_phantoms_wait_in_the_buffer)
{
	it_four(IT_ARGV(it_prog(CP), "-C", "20", "../src", "out"), NULL, OUT1);
	ck_assert_int_eq(it_file_size("none/out"), 21 * 128 * 1024);
	it_expect_passive(CP);
	/* The hazard is only real if the last read was deferred. */
	it_expect_deferred(CP, 10);
}
END_TEST

START_TEST(a_copier_that_edits_its_chunks_backs_off)
{
	/* Deferring reads whose pages the program then writes costs more than
	 * the copy it saves: the write sees the pages it changed and the
	 * stream backs off, as it does for read()/write().  (The first page of
	 * each chunk is left alone: it is the start of the fwrite that fills
	 * the stream's buffer, and the blocks after it must count too.) */
	it_four(IT_ARGV(it_prog(CP), "-e", "../src", "out"), NULL, OUT1);
	it_expect_passive(CP);
	long long ph = it_stat("on", CP, "phantom_reads");
	ck_assert_msg(ph > 0 && ph < 16, "phantom_reads %lld of 128 chunks; stats: %s", ph,
		      it_stats_text("on"));
}
END_TEST

START_TEST(two_threads_share_one_output_stream)
{
	/* Each fwrite is kept whole by the FILE lock, with zcopy's replay as
	 * with glibc's own call: the program checks the output chunk by chunk
	 * and prints what it found. */
	it_make_file("b", 8 * MiB, 13);
	it_four(IT_ARGV(it_prog("stdio_threads"), "../src", "../b", "out"), NULL, NULL);
	char *text = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(text, "chunks a 128 b 64, in order a 128 b 64, torn or foreign 0") != NULL,
		      "stdout: %s", text);
	free(text);
	it_expect_passive("stdio_threads");
	it_expect_zero_copy("stdio_threads", 24 * MiB, 50);
}
END_TEST

/* A reader that leaves after 4 MiB: the redirected fwrite meets EPIPE. */
static void reader_leaves(const char *const *argv)
{
	struct it_spec s = { .argv = argv, .consumer = IT_ARGV("head", "-c", "4194304"),
			     .out_fd = -1 };
	it_four_spec(&s, NULL);
}

START_TEST(reader_leaves_sigpipe_kills_as_with_glibc)
{
	/* Killed by SIGPIPE: no stats record is written, so the engagement is
	 * shown by the next test, the same run with SIGPIPE ignored. */
	reader_leaves(IT_ARGV(it_prog(CP), "-q", "../src", "-"));
	ck_assert_msg(it_status("none") != 0, "plain run: %s", it_describe(it_status("none")));
}
END_TEST

START_TEST(reader_leaves_epipe_sets_the_error_indicator)
{
	reader_leaves(IT_ARGV(it_prog(CP), "-q", "-P", "../src", "-"));
	char *err = it_slurp("on/stderr", NULL);
	ck_assert_msg(strstr(err, "fwrite short: ferror 1 errno EPIPE") != NULL, "stderr: %s", err);
	free(err);
	it_expect_passive(CP);
	long long ph = it_stat("on", CP, "phantom_reads");
	ck_assert_msg(ph > 5, "no reads deferred before the reader left; stats: %s",
		      it_stats_text("on"));
	ck_assert_int_gt(it_stat("on", CP, "bytes_zero_copy"), 0);
}
END_TEST

/* ---- real stdio tools ----------------------------------------------------- */

/* tool < in > stdout: the same everywhere. */
static void tool_out(const char *in, const char *const *argv, const char *const *outputs)
{
	struct it_spec s = { .argv = argv, .in = in, .out_fd = -1 };
	it_four_spec(&s, outputs);
	it_expect_plain_success(argv[0]);
	/* The stats name the program the command resolves to (awk is an
	 * alternatives link to mawk or gawk). */
	char path[4096], real[4096];
	snprintf(path, sizeof path, "/usr/bin/%s", argv[0]);
	const char *exe = realpath(path, real) ? strrchr(real, '/') + 1 : argv[0];
	it_expect_passive(exe);
}

static void tool(const char *in, const char *const *argv)
{
	tool_out(in, argv, NULL);
}

START_TEST(real_tools_keep_their_output)
{
	it_make_file("small", 2 * MiB + 77, 12);
	tool_out("src", IT_ARGV("tee", "copy"), IT_ARGV("copy"));
	it_same_file("src", "on/copy");
	it_same_file("src", "on/stdout");
	tool("src", IT_ARGV("head", "-c", "5000000"));
	tool("src", IT_ARGV("tail", "-c", "5000000"));
	tool("src", IT_ARGV("tr", "a-z", "A-Z"));
	tool("src", IT_ARGV("sha256sum"));
	tool("small", IT_ARGV("cat", "-v"));
	tool("small", IT_ARGV("xxd"));
	tool("src", IT_ARGV("sort"));
	tool("src", IT_ARGV("awk", "{print}"));
}
END_TEST

int main(void)
{
	Suite *s = it_suite("stdio");
	TCase *tc = it_tcase(s, "stdio", setup, 120);
	it_add(tc, IT_TESTS(fread_fwrite_aligned_buffer_file_to_file,
				fread_fwrite_file_to_stdout_pipe, fread_fwrite_file_to_socket,
				fread_requests_of_the_minimum_chunk_engage,
				fread_of_64k_whole_blocks_goes_all_by_transfer,
				fread_of_128k_whole_blocks_goes_all_by_transfer,
				fread_of_whole_blocks_to_a_pipe_goes_all_by_transfer,
				fwrite_to_a_pipe_that_does_not_start_on_a_page_is_exact,
				fwrite_into_a_full_nonblocking_pipe_counts_as_glibc,
				fwrite_into_a_blocking_pipe_ends_at_the_first_signal_as_glibc,
				fwrite_of_changed_pages_into_a_blocking_pipe_ends_at_the_first_signal_as_glibc,
				fwrite_of_changed_guarded_pages_into_a_blocking_pipe_ends_as_glibc,
				fwrite_of_a_chunk_read_inside_a_file_page_keeps_the_block_whole,
				fwrite_into_a_full_blocking_pipe_ends_at_the_first_signal_as_glibc,
				fwrite_cut_short_after_some_blocks_ends_at_the_second_signal_as_glibc,
				fwrite_with_sa_restart_waits_through_signals_as_glibc,
				fwrite_whose_reader_leaves_between_block_and_blocks_raises_one_sigpipe,
				fwrite_into_a_pipe_without_reader_raises_one_sigpipe,
				fwrite_cancelled_in_the_blocks_write_leaves_the_block_in_the_pipe,
				fwrite_cancelled_in_the_write_of_its_start_keeps_the_start_in_the_buffer,
				fwrite_left_by_siglongjmp_in_the_write_of_its_start_keeps_the_start,
				fwrite_left_by_siglongjmp_after_its_start_went_holds_nothing,
				fwrite_waiting_while_dup2_renames_its_descriptor_goes_on_into_its_pipe,
				a_fork_while_an_fwrite_writes_its_start_gives_the_child_the_start,
				fwrite_into_its_own_file_without_room_for_a_pin_keeps_old_bytes,
				streams_opened_with_c_make_no_cancellation_point,
				fwrite_into_its_own_file_ahead_of_the_reader_goes_by_transfer,
				fwrite_into_its_own_file_over_the_bytes_just_read_is_exact,
				fread_fwrite_with_1mib_setvbuf_buffers,
				fread_fwrite_malloc_buffer_is_exact, read_syscall_then_fwrite,
				fread_then_write_syscall,
				fprintf_header_fputs_marks_trailer_and_ftell,
				fseek_back_and_read_again, fgetc_ungetc_before_fread,
				getc_fgets_getdelim_fscanf_between_freads, unbuffered_streams,
				line_buffered_streams_to_a_pipe,
				fully_buffered_streams_set_by_setvbuf, freopen_the_source_midway,
				source_closed_while_its_phantoms_wait_in_the_buffer,
				a_copier_that_edits_its_chunks_backs_off,
				two_threads_share_one_output_stream,
				reader_leaves_sigpipe_kills_as_with_glibc,
				reader_leaves_epipe_sets_the_error_indicator,
				real_tools_keep_their_output));
	tcase_add_loop_test(tc, fwrite_out_of_a_pipe_of_zcopys_counts_as_glibc, 0,
			    IT_LEN(pipe_of_zcopys_modes));
	tcase_add_loop_test(tc, fwrites_left_by_nested_jumps_keep_each_start, 0,
			    IT_LEN(nested_jumps));
	return it_main(s, "build/programs");
}
