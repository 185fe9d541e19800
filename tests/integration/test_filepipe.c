/*
 * test_filepipe.c - a file read as one splice into a pipe of zcopy's
 * (docs/design.md): cat's loop (tests/programs/file_pipe) into a pipe or
 * /dev/null, each scenario doing one thing a program may do between a read
 * and its write.  Every scenario runs without the shim and with
 * ZCOPY_MODE=off, observe and on, compared byte for byte (status, stdout or
 * what the pipe's reader got, stderr, outputs), and the stats say whether
 * reads went into zcopy's pipe (file_pipe_reads) or stayed out of it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

/* Not a multiple of the chunk: the short last read is part of every copy. */
#define SIZE (16 * MiB + 12345)
#define EXE "file_pipe"
#define CHUNK (128 * 1024)

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 21);
}

/* file_pipe MODE the four ways, its stdout into `cat` (a pipe), or into
 * /dev/null when null. */
static void run(const char *mode, int null, const char *const *outputs)
{
	static const char *const cat[] = { "cat", NULL };
	struct it_spec s = { .argv = IT_ARGV(it_prog(EXE), mode, "../src"), .out_fd = -1,
			     .out = null ? "/dev/null" : NULL, .consumer = null ? NULL : cat };
	it_four_spec(&s, outputs);
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
}

static long long pipe_reads(void)
{
	return it_stat("on", EXE, "file_pipe_reads");
}

/* Reads went into zcopy's pipe, and at least pct% of bytes by transfer. */
static void through_pipe(long long bytes, int pct)
{
	ck_assert_msg(pipe_reads() > 0, "no read into zcopy's pipe; stats: %s", it_stats_text("on"));
	it_expect_zero_copy(EXE, bytes, pct);
	it_expect_transfers(EXE, "splice");
}

START_TEST(cat_into_a_pipe_reads_into_zcopys_pipe)
{
	run("plain", 0, NULL);
	it_same_file("src", "none/piped");
	through_pipe(SIZE, 90);
}
END_TEST

START_TEST(cat_into_dev_null_reads_into_zcopys_pipe)
{
	run("plain", 1, NULL);
	through_pipe(SIZE, 90);
}
END_TEST

/* A file destination keeps the mapping: copy_file_range reads the file. */
START_TEST(cat_into_a_file_keeps_the_mapping)
{
	it_four(IT_ARGV(it_prog(EXE), "plain", "../src"), NULL, NULL);
	it_same_file("src", "none/stdout");
	ck_assert_msg(pipe_reads() == 0, "reads into zcopy's pipe; stats: %s", it_stats_text("on"));
	ck_assert_int_gt(it_stat("on", EXE, "phantom_reads"), 0);
	it_expect_zero_copy(EXE, SIZE, 90);
}
END_TEST

/* 16 writes into a full pipe that the program abandons while they wait
 * (mode); each had taken its record's pipe P, which goes back to the pool
 * of 8 as if the write had returned, so the reads after still go into
 * zcopy's pipes. */
static void abandoned_writes_give_pipes_back(const char *mode)
{
	run(mode, 0, NULL);
	it_same_file("src", "none/piped");
	ck_assert_msg(pipe_reads() > 64, "pool pipes kept by abandoned writes (%s); stats: %s",
		      mode, it_stats_text("on"));
	through_pipe(SIZE, 50);
}

/* A handler leaves each write by siglongjmp. */
START_TEST(siglongjmp_out_of_writes_gives_back_zcopys_pipe)
{
	abandoned_writes_give_pipes_back("jump");
}
END_TEST

/* Another thread makes each write and is cancelled while it waits.  The
 * use of P's read end by the splice goes back too: the program's
 * close_range over zcopy's descriptors after the last one returns (with
 * the use kept by the gone thread, it waited for it forever). */
START_TEST(cancelled_writes_give_back_zcopys_pipe)
{
	abandoned_writes_give_pipes_back("cancel");
}
END_TEST

/* A thread cancelled while its write waits for its first byte, with the
 * restart guard of that call armed (sigdefer.c, "Restarts"), runs a
 * cleanup handler whose own write waits and gets a signal with SA_RESTART:
 * plainly that write restarts and returns 4096.  The guard left armed by
 * the cancelled call made it fail with EINTR. */
START_TEST(a_cancelled_write_leaves_no_restart_guard_behind)
{
	run("cancel_cleanup", 0, NULL);
	it_same_file("src", "none/piped");
	char *e = it_slurp("none/stderr", NULL);
	ck_assert_msg(strstr(e, "the cleanup's write returned 4096 OK, SIGUSR2 seen"), "stderr: %s", e);
	free(e);
	through_pipe(SIZE, 50);
}
END_TEST

/* A write waiting before its first byte, into a full pipe, is restarted
 * after an SA_RESTART handler changed the buffer's first byte: the plain
 * write copies the changed byte, and so must zcopy's (the kernel would
 * restart the splice from P as it was: sigdefer.c, "Restarts"). */
START_TEST(a_restarted_write_sends_what_the_handler_left)
{
	run("restart", 0, NULL);
	through_pipe(SIZE, 50);
}
END_TEST

/* The kick_* modes: chunks 4 to 11 (8 chunks of 128 KiB) written into a
 * full pipe of the program's own, one signal sent while the write waits;
 * the program prints each write's count and errno (compared with the
 * plain run).  Every byte the program wrote is counted once, whether the
 * write was made again or not: the chunks (SIZE, and the 8 again from the
 * pipe to stdout), and the pipe's 256 KiB of zeros filled and drained 8
 * times. */
#define KICKED (8LL * CHUNK)
#define KICK_FILL (8LL * 256 * 1024)

static void kicked(const char *mode, int pct)
{
	run(mode, 0, NULL);
	through_pipe(SIZE, pct);
	if (!strcmp(mode, "kick_sock"))
		return; /* how many zeros fill a socket is the kernel's accounting */
	long long written = it_stat("on", EXE, "bytes_zero_copy") + it_stat("on", EXE, "bytes_copied");
	long long fill = strcmp(mode, "kick_later") && strcmp(mode, "kick_nonblock")
				 ? KICK_FILL
				 : KICK_FILL - 8LL * 65536;
	long long want = SIZE + KICKED + 2 * fill;
	ck_assert_msg(written >= want && written < want + 4096,
		      "bytes written %lld, the program wrote %lld (and its stderr); stats: %s", written,
		      want, it_stats_text("on"));
}

/* A handler with SA_RESTART that leaves the buffer alone: the write made
 * again from the top sends the same bytes, from P again (no chunk goes
 * plainly: the restart stays cheap). */
START_TEST(a_restart_whose_handler_leaves_the_buffer_alone)
{
	kicked("kick_keep", 95);
	ck_assert_int_eq(it_count_lines(it_slurp("on/stderr", NULL), "write 131072 OK", NULL), 8);
}
END_TEST

/* Without SA_RESTART the write fails with EINTR, as plainly; the program
 * writes again, with the byte the handler changed. */
START_TEST(a_handler_without_sa_restart_fails_the_write_with_eintr)
{
	kicked("kick_eintr", 50);
	ck_assert_int_eq(it_count_lines(it_slurp("on/stderr", NULL), "write -1 EINTR", NULL), 8);
}
END_TEST

/* An SA_RESTART handler changes the first byte and leaves the waiting
 * write by siglongjmp: nothing restarts, P goes back to the pool, and the
 * chunk written again has the changed byte. */
START_TEST(a_handler_with_sa_restart_that_jumps_out_of_the_write)
{
	kicked("kick_jump", 50);
	ck_assert_int_eq(it_count_lines(it_slurp("on/stderr", NULL), "by siglongjmp", NULL), 8);
	ck_assert_msg(pipe_reads() > 64, "pool pipes kept by abandoned writes; stats: %s",
		      it_stats_text("on"));
}
END_TEST

/* Two signals in a row while the write waits, each handler changing a
 * byte on another page: the write restarts twice (the second time from
 * its first piece, sent plainly since its page was touched), and sends
 * both. */
START_TEST(two_restarts_in_a_row_send_both_changes)
{
	kicked("kick_twice", 50);
}
END_TEST

/* Both signals sent at once while the write waits: delivered at one return
 * from the wait (their frames stacked, the later one at the earlier one's
 * trampoline) or one just after the other; either way both changes go. */
START_TEST(two_signals_at_once_send_both_changes)
{
	kicked("kick_pair", 50);
}
END_TEST

/* The same restart when the first call is a sendfile into a UNIX stream
 * socket that is full. */
START_TEST(a_restarted_sendfile_sends_what_the_handler_left)
{
	kicked("kick_sock", 50);
	it_expect_transfers(EXE, "sendfile");
}
END_TEST

/* SA_RESTART, and the write waits after its first 64 KiB: the plain write
 * returns 65536 at the handler, whatever SA_RESTART says, and the program
 * writes the rest, with the byte the handler changed.  zcopy waits there in
 * poll, which any handler ends (transfer.c); a splice waiting there would be
 * restarted by the kernel, and send the rest from P with the old byte. */
START_TEST(a_handler_ends_a_write_that_waits_after_its_first_bytes)
{
	kicked("kick_later", 50);
}
END_TEST

/* kick_eintr's SA_RESTART handler that changes the first byte, installed
 * from the executable's preinit_array, before zcopy started: it is put
 * behind the trampoline then, so the write restarts with the changed byte
 * as plainly (it stayed the kernel's handler: the splice restarted as it
 * was and sent the old byte). */
START_TEST(a_handler_installed_before_zcopy_started_restarts_the_write)
{
	kicked("kick_early", 50);
}
END_TEST

/* No signal: while the write waits after its first 64 KiB, another thread
 * makes the pipe non-blocking (fcntl) and reads 4 KiB.  The plain write
 * takes the 4 KiB and returns 69632, seeing O_NONBLOCK; zcopy, which had
 * asked for the flag at the transfer's first wait, waited on in poll. */
START_TEST(a_pipe_made_nonblocking_under_a_waiting_write)
{
	kicked("kick_nonblock", 50);
}
END_TEST

/* The second write of a buffer goes from the file (P went to the first). */
START_TEST(the_same_buffer_written_twice)
{
	run("twice", 0, NULL);
	through_pipe(2LL * SIZE, 90);
}
END_TEST

/* The second half first (from the file), then the first half from P's
 * head: P keeps the rest for nothing, and is emptied at the next read. */
START_TEST(a_write_that_starts_inside_the_record)
{
	run("halves", 0, NULL);
	through_pipe(SIZE, 90);
}
END_TEST

/* A 16 KiB non-blocking pipe takes part of each chunk; the program writes
 * buf+k next, where P's head is. */
START_TEST(a_nonblocking_pipe_takes_part_of_a_chunk)
{
	run("nonblock", 0, NULL);
	through_pipe(SIZE, 50);
}
END_TEST

START_TEST(signals_cut_writes_into_a_full_pipe)
{
	run("signal", 0, NULL);
	through_pipe(SIZE, 50);
}
END_TEST

/* Another thread reads the buffer while it is written: its faults give
 * the pages their bytes from the file, and the stream backs off. */
START_TEST(another_thread_reads_the_buffer_during_the_write)
{
	run("thread", 0, NULL);
	ck_assert_int_gt(it_stat("on", EXE, "phantom_reads"), 0);
}
END_TEST

static const char *const dup2_modes[] = { "dup2_src", "dup2_dst" };

START_TEST(dup2_over_source_or_destination_between_read_and_write)
{
	run(dup2_modes[_i], 0, NULL);
	through_pipe(SIZE, 30);
}
END_TEST

/* Parent and child each write the chunk read before the fork; the child
 * reads one more through the shared offset.  Nothing of P is shared. */
START_TEST(fork_with_a_record_in_zcopys_pipe)
{
	run("fork", 0, IT_ARGV("child.out"));
	through_pipe(SIZE - 2 * CHUNK, 80);
}
END_TEST

/* A child reads a chunk (into its own pipe of zcopy's) and _exits: the
 * read happened, the shared offset moved past it. */
START_TEST(a_child_exits_with_bytes_in_zcopys_pipe)
{
	run("child_read", 0, NULL);
	through_pipe(SIZE - CHUNK, 80);
}
END_TEST

START_TEST(exit_with_bytes_in_zcopys_pipe)
{
	run("exit", 0, NULL);
	ck_assert_int_gt(pipe_reads(), 0);
}
END_TEST

/* The file grows after the program saw its end: the reads after go on. */
START_TEST(the_file_grows_after_its_end)
{
	run("grow", 0, NULL);
	through_pipe(SIZE, 90);
}
END_TEST

/* Below 1024 descriptors zcopy keeps none: no pin, no pipe, no deferral. */
START_TEST(a_small_rlimit_nofile_keeps_it_off)
{
	run("rlimit", 0, NULL);
	ck_assert_msg(pipe_reads() == 0 && it_stat("on", EXE, "phantom_reads") == 0,
		      "stats: %s", it_stats_text("on"));
	it_expect_fallback("on", EXE, "fd_limit");
}
END_TEST

/* A file system that cannot splice (EINVAL): the mapping, as before. */
START_TEST(a_source_that_cannot_splice_keeps_the_mapping)
{
	run("nosplice", 0, NULL);
	ck_assert_msg(pipe_reads() == 0, "stats: %s", it_stats_text("on"));
	ck_assert_int_gt(it_stat("on", EXE, "phantom_reads"), 0);
}
END_TEST

/* An fwrite's start is written by glibc's own write(2), which no wrapper
 * sees: guarded pages there get their bytes first (it failed with EFAULT),
 * and an aligned buffer's stream goes back to the mapping. */
static const char *const fwrite_modes[] = { "fwrite", "fwrite_odd" };

START_TEST(fwrite_of_a_guarded_buffer_into_a_pipe)
{
	run(fwrite_modes[_i], 0, NULL);
	it_same_file("src", "none/piped");
	ck_assert_int_gt(it_stat("on", EXE, "phantom_reads"), 0);
	it_expect_zero_copy(EXE, SIZE, 50);
}
END_TEST

/* Reads larger than a pipe may be (pipe-max-size, 1 MiB by default; root
 * without CAP_SYS_RESOURCE, as setpriv runs it, is held to it too): the
 * mapping, and the pipe is not tried again for every read. */
START_TEST(reads_larger_than_pipe_max_size_keep_the_mapping)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
	long max = 0;
	if (!f || fscanf(f, "%ld", &max) != 1 || max > 1024 * 1024)
		it_skip("pipe-max-size above 1 MiB here");
	fclose(f);
	static const char *const cat[] = { "cat", NULL };
	const char *const *argv = getuid() == 0
		? IT_ARGV("setpriv", "--inh-caps=-sys_resource", "--bounding-set=-sys_resource",
			  it_prog(EXE), "big", "../src")
		: IT_ARGV(it_prog(EXE), "big", "../src");
	struct it_spec s = { .argv = argv, .out_fd = -1, .consumer = cat };
	it_four_spec(&s, NULL);
	it_expect_plain_success("big");
	it_same_file("src", "none/piped");
	ck_assert_msg(pipe_reads() == 0, "stats: %s", it_stats_text("on"));
	ck_assert_int_gt(it_stat("on", EXE, "phantom_reads"), 0);
	it_expect_zero_copy(EXE, SIZE, 70);
}
END_TEST

/*
 * Another process truncates the source inside the chunk just read, before
 * its write.  Counts and offsets are the plain run's (stderr); the bytes
 * below the new end are too, and past it zcopy's copy holds zeros or the
 * old bytes (README, "Files that change"): never anything else.
 */
START_TEST(another_process_truncates_between_read_and_write)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog(EXE), "trunc", "../src"), .out_fd = -1,
			     .consumer = IT_ARGV("cat") };
	s.mode = IT_NONE;
	it_exec(&s);
	it_expect_plain_success("trunc");
	s.mode = IT_ON;
	it_exec(&s);
	char *e0 = it_slurp("none/stderr", NULL), *e1 = it_slurp("on/stderr", NULL);
	ck_assert_str_eq(e0, e1);
	size_t n0, n1;
	char *a = it_slurp("none/piped", &n0), *b = it_slurp("on/piped", &n1);
	ck_assert_uint_eq(n0, n1);
	size_t end = 9 * CHUNK + 5000, odd = 0;
	ck_assert_msg(memcmp(a, b, end) == 0, "bytes below the new end differ");
	for (size_t i = end; i < n0; i++)
		odd += b[i] != 0 && b[i] != a[i];
	ck_assert_msg(odd == 0, "%zu bytes past the new end are neither zero nor the old", odd);
	ck_assert_int_gt(pipe_reads(), 0);
	free(a);
	free(b);
	free(e0);
	free(e1);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("test_filepipe");
	TCase *tc = it_tcase(s, "file_pipe", setup, 60);
	it_add(tc, IT_TESTS(cat_into_a_pipe_reads_into_zcopys_pipe,
			    cat_into_dev_null_reads_into_zcopys_pipe, cat_into_a_file_keeps_the_mapping,
			    the_same_buffer_written_twice, a_write_that_starts_inside_the_record,
			    a_nonblocking_pipe_takes_part_of_a_chunk, signals_cut_writes_into_a_full_pipe,
			    another_thread_reads_the_buffer_during_the_write,
			    fork_with_a_record_in_zcopys_pipe, a_child_exits_with_bytes_in_zcopys_pipe,
			    exit_with_bytes_in_zcopys_pipe, the_file_grows_after_its_end,
			    a_small_rlimit_nofile_keeps_it_off,
			    a_source_that_cannot_splice_keeps_the_mapping,
			    reads_larger_than_pipe_max_size_keep_the_mapping,
			    another_process_truncates_between_read_and_write,
			    siglongjmp_out_of_writes_gives_back_zcopys_pipe,
			    cancelled_writes_give_back_zcopys_pipe,
			    a_restarted_write_sends_what_the_handler_left,
			    a_restart_whose_handler_leaves_the_buffer_alone,
			    a_handler_without_sa_restart_fails_the_write_with_eintr,
			    a_handler_with_sa_restart_that_jumps_out_of_the_write,
			    two_restarts_in_a_row_send_both_changes,
			    two_signals_at_once_send_both_changes,
			    a_restarted_sendfile_sends_what_the_handler_left,
			    a_handler_ends_a_write_that_waits_after_its_first_bytes,
			    a_cancelled_write_leaves_no_restart_guard_behind,
			    a_pipe_made_nonblocking_under_a_waiting_write,
			    a_handler_installed_before_zcopy_started_restarts_the_write));
	tcase_add_loop_test(tc, dup2_over_source_or_destination_between_read_and_write, 0,
			    IT_LEN(dup2_modes));
	tcase_add_loop_test(tc, fwrite_of_a_guarded_buffer_into_a_pipe, 0, IT_LEN(fwrite_modes));
	return it_main(s, "build/programs");
}
