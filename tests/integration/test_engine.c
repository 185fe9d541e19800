/*
 * test_engine.c - programs of tests/programs that do more than copy
 * (issue 3): they edit, inspect, reuse, free or share their buffers and
 * descriptors while copying, write where zero copy would change semantics
 * (datagrams, O_APPEND), or meet EAGAIN, EPIPE and ENOSPC.
 *
 * As in test_foundation.c every scenario is compared with a run without the
 * shim (status, stdout, stderr, output bytes) and the stats must show the
 * engagement the scenario calls for.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edit_rule.h"
#include "expect.h"
#include "harness.h"

/* Not a multiple of the 128 KiB chunk: the short last read is part of
 * every copy. */
#define SIZE (16 * MiB + 12345)
#define OUT1 IT_ARGV("out")

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 1);
}

/* ---- engine: programs that do more than copy ------------------------------ */

/* The program edits a few bytes of each chunk before writing it: the
 * output has the edits, the rest of each chunk goes by transfer.  Mapped
 * pages (ZCOPY_GUARD=0): pagemap tells the edited pages (dirty_pages).
 * Guarded pages (the default, for a file destination): the edit gives its
 * page the file's bytes first, and a stream whose chunks are touched backs
 * off for a while (backoff). */
static void edit_chunks(const char *guard, const char *reason)
{
	it_four(IT_ARGV(it_prog("edit_copy"), "../src", "out"), IT_ARGV(guard), OUT1);
	/* The expected bytes, computed here from the source and the rule. */
	size_t len;
	unsigned char *data = (unsigned char *)it_slurp("src", &len);
	for (size_t off = 0, idx = 0; off < len; off += 131072, idx++)
		zt_edit_apply(data + off, len - off < 131072 ? len - off : 131072, idx);
	FILE *f = fopen(it_path("expected"), "wb");
	ck_assert(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
	free(data);
	it_same_file("expected", "none/out");
	it_same_file("expected", "on/out");
	it_expect_passive("edit_copy");
	it_expect_zero_copy("edit_copy", SIZE, 75);
	it_expect_fallback("on", "edit_copy", reason);
}

START_TEST(edit_chunks_in_place_before_writing)
{
	edit_chunks("ZCOPY_GUARD=0", "dirty_pages");
}
END_TEST

START_TEST(edit_chunks_in_place_before_writing_guarded)
{
	edit_chunks("ZCOPY_GUARD=1", "backoff");
}
END_TEST

START_TEST(read_without_writing_checksum)
{
	it_four(IT_ARGV(it_prog("checksum"), "../src"), NULL, NULL);
	it_expect_passive("checksum");
	it_expect_no_zero_copy("checksum", 2);
	ck_assert_int_eq(it_stat("observe", "checksum", "would_zero_copy_bytes"), 0);
	long long mat = it_stat("on", "checksum", "materialized_bytes");
	ck_assert_msg(mat == 0, "checksum: materialized_bytes %lld", mat);
}
END_TEST

START_TEST(write_each_chunk_to_two_fds)
{
	it_four(IT_ARGV(it_prog("tee_copy"), "../src", "out1", "out2"), NULL,
		IT_ARGV("out1", "out2"));
	it_same_file("src", "none/out1");
	it_same_file("src", "none/out2");
	it_expect_passive("tee_copy");
	it_expect_zero_copy("tee_copy", 2LL * SIZE, 90);
}
END_TEST

/* Runs prog on "work", a file of size bytes that each mode's run has a copy
 * of (the program changes it), and compares stdout, stderr, status and the
 * file across the four modes. */
static void on_own_copy(const char *prog, const char *arg, size_t size, uint64_t seed)
{
	for (int m = IT_NONE; m <= IT_ON; m++) {
		char dst[64];
		snprintf(dst, sizeof dst, "%s", it_mode_names[m]);
		mkdir(it_path(dst), 0755);
		snprintf(dst, sizeof dst, "%s/work", it_mode_names[m]);
		it_make_file(dst, size, seed);
		struct it_spec s = { .mode = (enum it_mode)m, .out_fd = -1,
				     .argv = IT_ARGV(it_prog(prog), "work", arg) };
		it_exec(&s);
		if (m == IT_NONE)
			it_expect_plain_success(prog);
	}
	for (int m = IT_OFF; m <= IT_ON; m++)
		it_compare(it_mode_names[m], IT_ARGV("work"));
	it_expect_passive(prog);
}

static void overlap(const char *delta)
{
	on_own_copy("self_overlap", delta, 8 * MiB, 3);
	/* The hazard is only real if reads were deferred. */
	long long ph = it_stat("on", "self_overlap", "phantom_reads");
	ck_assert_msg(ph > 0, "self_overlap: no read was deferred; stats: %s", it_stats_text("on"));
}

START_TEST(copy_file_onto_itself_overlapping_within_a_chunk)
{
	overlap("12288");
}
END_TEST

START_TEST(copy_file_onto_itself_overlapping_the_next_chunk)
{
	overlap("200704");
}
END_TEST

/* Text written into the file being copied, through other FILEs (fputs and
 * fprintf on a line-buffered stream, fputs unbuffered, the inline
 * putc_unlocked through __overflow) and dprintf, between a chunk's read and
 * its write.  glibc writes that text with its internal write(2); under
 * zcopy the guarded pages of the chunk then read the text, not the bytes the
 * program read (all five chunks differed before the text wrappers). */
START_TEST(text_written_into_the_source_keeps_what_was_read)
{
	on_own_copy("text_into_source", NULL, 3 * MiB, 11);
	/* The 19 chunks of 24 without text go by transfer (5 chunks' pages
	 * get their bytes before the text is written). */
	it_expect_zero_copy("text_into_source", 3 * MiB, 60);
}
END_TEST

/* A destination the engine refuses: nothing moved (at most the two warm-up
 * reads deferred), the reason counted in on and observe mode, and observe
 * counts no would-be bytes. */
static void stays_plain(const char *exe, const char *reason)
{
	it_expect_passive(exe);
	it_expect_no_zero_copy(exe, 2);
	it_expect_fallback("on", exe, reason);
	it_expect_fallback("observe", exe, reason);
	ck_assert_int_eq(it_stat("observe", exe, "would_zero_copy_bytes"), 0);
}

START_TEST(copy_to_datagram_socket_keeps_datagram_sizes)
{
	it_four(IT_ARGV(it_prog("dgram_copy"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	stays_plain("dgram_copy", "dest_datagram");
}
END_TEST

START_TEST(copy_to_o_append_file_stays_plain)
{
	it_four(IT_ARGV(it_prog("rw_loop"), "-a", "../src", "out"), NULL, OUT1);
	ck_assert_int_eq(it_file_size("none/out"), SIZE + 25);
	stays_plain("rw_loop", "dest_o_append");
}
END_TEST

static long long count_of(const char *rel, const char *word)
{
	char *text = it_slurp(rel, NULL);
	char *p = strstr(text, word);
	ck_assert_msg(p != NULL, "%s: no %s in \"%s\"", rel, word, text);
	long long v = strtoll(p + strlen(word), NULL, 10);
	free(text);
	return v;
}

START_TEST(nonblocking_pipe_with_slow_reader)
{
	it_four(IT_ARGV(it_prog("nb_pipe"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	/* The scenario must really hit a full pipe, with and without the shim. */
	ck_assert_int_gt(count_of("none/counts", "eagain "), 0);
	ck_assert_int_gt(count_of("on/counts", "eagain "), 0);
	it_expect_passive("nb_pipe");
	it_expect_zero_copy("nb_pipe", SIZE, 50);
	it_expect_transfers("nb_pipe", "splice");
}
END_TEST

/* head -c 100 leaves at once; head -c 3000000 after ~3 MB, when the stream
 * is redirected.  Both runs die of SIGPIPE, with what head took the same. */
static const char *const head_sizes[] = { "100", "3000000" };

START_TEST(epipe_sigpipe_into_head)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("rw_loop"), "../src", "-"),
			     .consumer = IT_ARGV("head", "-c", head_sizes[_i]), .out_fd = -1 };
	it_four_spec(&s, NULL);
	int st = it_status("none");
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "without the shim: %s",
		      it_describe(st));
	ck_assert_int_eq(it_file_size("none/piped"), atoll(head_sizes[_i]));
}
END_TEST

/* With ZCOPY_MIN_CHUNK lowered to a page, a copier writing 4 KiB chunks
 * into a pipe: each write is an atomic pipe write (at most PIPE_BUF), made
 * plainly, so its read is not deferred either (a deferred one only added
 * calls: the splice in, the guard, then the page read back for the plain
 * write).  The output is the same, and nothing was deferred. */
START_TEST(page_sized_writes_into_a_pipe_leave_their_reads_alone)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("rw_loop"), "-b", "4096", "../src", "-"),
			     .env = IT_ARGV("ZCOPY_MIN_CHUNK=4096"),
			     .consumer = IT_ARGV("cat"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("rw_loop -b 4096");
	it_expect_passive("rw_loop");
	ck_assert_msg(it_stat("on", "rw_loop", "phantom_reads") == 0, "reads deferred: %s",
		      it_stats_text("on"));
	ck_assert_int_eq(it_stat("on", "rw_loop", "materialized_bytes"), 0);
	ck_assert_int_gt(it_stat("on", "rw_loop", "fallbacks.too_small"), 0);
	ck_assert_int_eq(it_stat("on", "rw_loop", "bytes_zero_copy"), 0);
}
END_TEST

/* The plain run ended with EPIPE (exit 3), and under zcopy exe had moved
 * bytes by the kind of transfer before the reader left. */
static void expect_epipe_after_transfers(const char *exe, const char *kind)
{
	int st = it_status("none");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "without the shim: %s", it_describe(st));
	it_expect_passive(exe);
	it_expect_transfers(exe, kind);
	ck_assert_int_gt(it_stat("on", exe, "bytes_zero_copy"), 0);
}

START_TEST(epipe_errno_with_sigpipe_ignored)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("rw_loop"), "-P", "../src", "-"),
			     .consumer = IT_ARGV("head", "-c", "3000000"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	/* head took ~3 MB: the stream was redirected when the reader left. */
	expect_epipe_after_transfers("rw_loop", "splice");
}
END_TEST

START_TEST(send_msg_nosignal_gets_epipe_without_sigpipe)
{
	/* SIGPIPE stays at its default action: a redirected send that raised it
	 * would kill the program where the plain one returns an error. */
	struct it_spec s = { .argv = IT_ARGV(it_prog("send_nosignal"), "../src"), .out_fd = -1 };
	it_four_spec(&s, NULL);
	expect_epipe_after_transfers("send_nosignal", "sendfile");
}
END_TEST

/* Another thread sends the copying thread SIGUSR1 (a handler without
 * SA_RESTART) as fast as it can while it copies into a file.  A plain
 * write(2) to a file is never cut short by it; the copy_file_range that
 * stands for it stops at a pending signal, and the write failed with EINTR
 * (or returned short) under zcopy. */
START_TEST(signals_do_not_cut_a_write_to_a_file_short)
{
	it_four(IT_ARGV(it_prog("file_signals"), "../src", "out"), NULL, OUT1);
	it_expect_plain_success("file_signals");
	char *o = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(o, "every read and write whole"), "the plain run: %s", o);
	free(o);
	it_expect_passive("file_signals");
	it_expect_zero_copy("file_signals", 4LL * SIZE, 75);
	it_expect_transfers("file_signals", "copy_file_range");
}
END_TEST

START_TEST(read_into_read_only_buffer_fails_with_efault)
{
	it_four(IT_ARGV(it_prog("ro_buffer"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "on/out");
	it_expect_passive("ro_buffer");
	/* Engaged before and after the read-only spell. */
	ck_assert_int_gt(it_stat("on", "ro_buffer", "phantom_reads"), 0);
	it_expect_zero_copy("ro_buffer", SIZE, 75);
}
END_TEST

/* One writev carrying six deferred reads, then close_range over every fd:
 * each hold zcopy took on its duplicate of the source for that write is let
 * go (six holds once overflowed a per-thread record, and the close_range
 * waited forever for a holder that was gone). */
START_TEST(writev_of_many_phantoms_then_close_range)
{
	it_four(IT_ARGV(it_prog("many_pieces"), "../src", "out"), NULL, IT_ARGV("out"));
	it_same_file("src", "none/out");
	it_expect_passive("many_pieces");
	it_expect_zero_copy("many_pieces", SIZE, 80);
}
END_TEST

/* Calls at the edges of what the kernel accepts (tests/programs/edge_calls.c),
 * one mode per loop index; modes whose scenario has the stream deferring
 * must show phantom reads, the others must at least have run under zcopy. */
START_TEST(edge_calls_behave_as_without_zcopy)
{
	static const int deferring[10] = { [1] = 1, [3] = 1, [4] = 1, [5] = 1, [6] = 1, [9] = 1 };
	char mode[4];
	snprintf(mode, sizeof mode, "%d", _i);
	it_four(IT_ARGV(it_prog("edge_calls"), mode), IT_ARGV("ZCOPY_MIN_CHUNK=16384"), NULL);
	it_expect_passive("edge_calls");
	if (deferring[_i])
		ck_assert_int_gt(it_stat("on", "edge_calls", "phantom_reads"), 0);
	else
		ck_assert_int_ge(it_stat("on", "edge_calls", "phantom_reads"), 0);
}
END_TEST

/* A private mount namespace for this test's process (and what it runs). */
static void private_mounts(void)
{
	if (unshare(CLONE_NEWNS) != 0) {
		uid_t uid = getuid();
		gid_t gid = getgid();
		ck_assert_msg(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0,
			      "cannot make a mount namespace (unshare: %s)", strerror(errno));
		char map[64];
		int fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			ck_assert(write(fd, "deny", 4) == 4);
			close(fd);
		}
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		ck_assert(fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map));
		close(fd);
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		ck_assert(fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map));
		close(fd);
	}
	ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
		      "make mounts private: %s", strerror(errno));
}

START_TEST(fill_small_tmpfs_enospc)
{
	it_make_file("small", 4 * MiB, 4);
	private_mounts();
	for (int m = IT_NONE; m <= IT_ON; m++) {
		char mnt[64];
		snprintf(mnt, sizeof mnt, "%s", it_mode_names[m]);
		mkdir(it_path(mnt), 0755);
		snprintf(mnt, sizeof mnt, "%s/mnt", it_mode_names[m]);
		mkdir(it_path(mnt), 0755);
		ck_assert_msg(mount("zcopy-test", it_path(mnt), "tmpfs", 0, "size=1m") == 0,
			      "mount tmpfs: %s", strerror(errno));
		struct it_spec s = { .mode = (enum it_mode)m, .out_fd = -1,
				     .argv = IT_ARGV(it_prog("rw_loop"), "../small", "mnt/out") };
		it_exec(&s);
	}
	int st = it_status("none");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "without the shim: %s", it_describe(st));
	char *out = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(out, "ENOSPC") != NULL, "without the shim: %s", out);
	for (int m = IT_OFF; m <= IT_ON; m++)
		it_compare(it_mode_names[m], IT_ARGV("mnt/out", "written"));
	it_expect_passive("rw_loop");
	/* Several chunks fit before the disk is full: the copy was redirected. */
	ck_assert_int_gt(it_stat("on", "rw_loop", "bytes_zero_copy"), 0);
	for (int m = IT_NONE; m <= IT_ON; m++) {
		char mnt[64];
		snprintf(mnt, sizeof mnt, "%s/mnt", it_mode_names[m]);
		umount2(it_path(mnt), MNT_DETACH);
	}
}
END_TEST

START_TEST(fork_between_read_and_write)
{
	it_four(IT_ARGV(it_prog("fork_copy"), "../src", "out", "out2"), NULL,
		IT_ARGV("out", "out2"));
	it_same_file("src", "none/out");
	ck_assert_int_eq(it_file_size("none/out2"), 131072);
	ck_assert_int_eq(it_stat_records("on", "fork_copy"), 2);
	it_expect_passive("fork_copy");
	it_expect_zero_copy("fork_copy", SIZE, 80);
}
END_TEST

START_TEST(copy_from_several_threads)
{
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof name, "in.%d", i);
		it_make_file(name, 8 * MiB + (size_t)i * 4097, 10 + (uint64_t)i);
	}
	it_four(IT_ARGV(it_prog("threads_copy"), "4", "../in", "out"), NULL,
		IT_ARGV("out.0", "out.1", "out.2", "out.3"));
	it_same_file("in.0", "none/out.0");
	it_same_file("in.3", "none/out.3");
	it_expect_passive("threads_copy");
	it_expect_zero_copy("threads_copy", 4LL * 8 * MiB, 90);
}
END_TEST

/* 60 worker threads copy the file to /dev/null, to a drained pipe and to a
 * pipe nobody reads, each cancelled 1 to 12 ms after it started, wherever
 * it is; then the main thread copies the file to stdout (a file) and calls
 * close_range over zcopy's descriptors.  zcopy's own calls include
 * cancellation points: a worker ended in one while holding the engine lock
 * or a use of a descriptor of zcopy's, and the next thread waited for it
 * forever (the run hung in each of three tries). */
START_TEST(workers_cancelled_anywhere_leave_zcopy_working)
{
	it_four(IT_ARGV(it_prog("cancel_copy"), "../src", "60"), NULL, NULL);
	it_same_file("src", "none/stdout");
	it_expect_passive("cancel_copy");
	long long zc = it_stat("on", "cancel_copy", "bytes_zero_copy"),
		  copied = it_stat("on", "cancel_copy", "bytes_copied");
	ck_assert_msg(zc > 0 && zc * 100 >= (zc + copied) * 80,
		      "below 80%% by transfer after the cancellations; stats: %s", it_stats_text("on"));
	/* Only the main thread's copy goes to a file. */
	it_expect_transfers("cancel_copy", "copy_file_range");
}
END_TEST

/* A readv of a file that fails on its first piece (EFAULT) returned with
 * cancellation still disabled by zcopy: the thread's own cancel, and every
 * later one, never acted (the worker ran on). */
START_TEST(failed_readv_leaves_cancellation_as_it_was)
{
	it_four(IT_ARGV(it_prog("cancel_state"), "readv", "../src"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("cancel_state");
	it_expect_zero_copy("cancel_state", SIZE, 75);
}
END_TEST

/* A signal handler jumps out of a write waiting for a full pipe (a timeout
 * by siglongjmp: write, or fwrite of a stream), or out of a socket read
 * waiting for data; the thread then calls pthread_exit.  zcopy's cleanup
 * handler of the write (read, stdio replay) stayed on the thread's chain
 * after the jump, naming a frame that was gone: pthread_exit's unwinding
 * jumped into it (SIGSEGV).  And a timer's handler that jumps out of
 * readv: the cancellation zcopy disables across its pieces stayed
 * disabled. */
static const struct {
	const char *mode, *key; /* the stat that shows the engine engaged */
} jumps[] = {
	{ "jump", "transfers.splice" },
	{ "jumpstdio", "transfers.splice" },
	{ "jumpsock", "phantom_reads" },
	{ "jumpreadv", "phantom_reads" },
};

START_TEST(jump_out_of_a_waiting_call_then_pthread_exit)
{
	it_four(IT_ARGV(it_prog("cancel_state"), jumps[_i].mode, "../src"), NULL, NULL);
	it_expect_passive("cancel_state");
	ck_assert_msg(it_stat("on", "cancel_state", jumps[_i].key) > 0, "%s: no %s; stats: %s",
		      jumps[_i].mode, jumps[_i].key, it_stats_text("on"));
}
END_TEST

/* A worker copies a file to a UNIX stream socket whose reader stopped,
 * and is cancelled while its write waits; then the main thread copies the
 * file and calls close_range over zcopy's descriptors.  The write's
 * transfer, sendfile, is no cancellation point of glibc's: the worker
 * waited on for ever (still there 3 s after its cancel), where the plain
 * write ends it. */
START_TEST(write_waiting_on_a_socket_is_cancelled)
{
	it_four(IT_ARGV(it_prog("cancel_state"), "cancelsock", "../src"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("cancel_state");
	ck_assert_msg(it_stat("on", "cancel_state", "transfers.sendfile") > 0,
		      "the writes to the socket never went by sendfile; stats: %s",
		      it_stats_text("on"));
}
END_TEST

/* Workers copying to a file, each write a plain stretch and whole pages,
 * cancelled wherever they are: the plain write to a file is whole once it
 * started, so each file holds whole writes.  Under zcopy the cancel acted
 * between the write's pieces (or cut its copy_file_range short): about a
 * third of the rounds left a partial write. */
START_TEST(cancelled_file_writer_leaves_whole_writes)
{
	it_four(IT_ARGV(it_prog("cancel_state"), "cancelfile", "../src"), NULL, NULL);
	it_expect_passive("cancel_state");
	ck_assert_msg(it_stat("on", "cancel_state", "transfers.copy_file_range") > 0,
		      "no write went by copy_file_range; stats: %s", it_stats_text("on"));
}
END_TEST

/* The same with workers that use asynchronous cancellation.  zcopy's way
 * out enabled cancellation again with the cancel pending, which acts at
 * once, and glibc then leaves the thread's result unset: pthread_join saw
 * NULL, not PTHREAD_CANCELED (round 0 of each run).  And a window of the
 * program's state let the cancel act at any instruction of zcopy's own
 * code (half way through counting a use of a pool pipe's fd): the main
 * thread's close_range then waited for ever (one run in three).  And
 * glibc 2.36's SIGCANCEL handler acts on the asynchronous type alone: a
 * worker that had disabled cancellation and taken the engine lock ended
 * there, and the next worker waited for the lock for ever, first where
 * the signal came before zcopy made the type deferred (one run in ten on
 * a loaded machine), then where it came at the exit of a cancellable call
 * of glibc's under the lock, whose wrapper makes the type asynchronous for
 * the call (2 of 240 runs next to two busy loops; cancelsig.c). */
START_TEST(async_workers_cancelled_anywhere_end_cancelled)
{
	it_four(IT_ARGV(it_prog("cancel_copy"), "../src", "30", "async"), NULL, NULL);
	it_same_file("src", "none/stdout");
	it_expect_passive("cancel_copy");
	it_expect_zero_copy("cancel_copy", SIZE, 50);
}
END_TEST

/* The cancellation signal of an asynchronous cancel arrives after its
 * thread disabled cancellation, inside a cancellable call (held back by the
 * program to come there every time, where the engine's calls under its
 * lock met it by chance).  glibc 2.36's handler ended the thread there,
 * disabled as it was; under zcopy the thread runs on to its enable, where
 * the cancel acts (cancelsig.c).  Only the run under zcopy is compared: the
 * plain run's end depends on the glibc version. */
START_TEST(cancel_signal_while_disabled_acts_at_enable)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("cancel_disabled")), .mode = IT_ON,
			     .env = IT_ARGV("ZCOPY_LOG=2"), .out_fd = -1 };
	struct it_result r = it_exec(&s);
	char *out = it_out("on"), *err = it_slurp("on/stderr", NULL);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
			      strcmp(out, "the worker got past its disabled section\n"
					  "the worker was cancelled\n") == 0,
		      "cancel_disabled: %s; stdout:\n%sstderr:\n%s", it_describe(r.status), out, err);
	free(out);
	free(err);
}
END_TEST

START_TEST(source_fd_reused_between_read_and_write)
{
	it_make_file("other", 8 * MiB, 5);
	it_four(IT_ARGV(it_prog("fd_reuse"), "../src", "../other", "out"), NULL, OUT1);
	/* Expected: the first seven chunks of src, then all of other. */
	size_t a, b;
	char *src = it_slurp("src", &a), *other = it_slurp("other", &b);
	FILE *f = fopen(it_path("expected"), "wb");
	ck_assert(f && fwrite(src, 1, 7 * 131072, f) == 7 * 131072 && fwrite(other, 1, b, f) == b &&
		  fclose(f) == 0);
	free(src);
	free(other);
	it_same_file("expected", "none/out");
	it_same_file("expected", "on/out");
	it_expect_passive("fd_reuse");
	ck_assert_int_gt(it_stat("on", "fd_reuse", "phantom_reads"), 0);
	it_expect_zero_copy("fd_reuse", 7 * 131072 + 8 * MiB, 75);
}
END_TEST

/* The destination's number closed inside libc (fclose, freopen, pclose,
 * endmntent: no close() zcopy sees) and filled with another file by
 * F_DUPFD or by freopen itself: the later writes go to the other file.
 * zcopy trusts a pin without kcmp only while no wrapped call changed a
 * number, so each of these functions must count as one.  pclose waits for
 * its command, which a pin holding the pipe open would stop for ever; so
 * does a program that waits for its pipe's reader right after freopen. */
START_TEST(destination_closed_inside_libc)
{
	static const char *const how[] = { "fclose", "freopen", "pclose", "endmntent", "repipe" };
	const char *h = how[_i];
	it_make_file("src4", 4 * MiB, 9);
	it_four(IT_ARGV(it_prog("libc_close"), h, "../src4", "d1", "d2"), NULL, IT_ARGV("d1", "d2"));
	it_expect_plain_success(h);
	ck_assert_int_eq(it_file_size("none/d1"), 5 * 131072);
	ck_assert_int_eq(it_file_size("none/d2"), 4 * MiB - 5 * 131072);
	it_expect_passive("libc_close");
	it_expect_zero_copy("libc_close", 4 * MiB, 75);
}
END_TEST

START_TEST(free_realloc_and_reuse_the_buffer)
{
	static const char *const outs[] = { "mmap.out", "heap.out", "zeros.mmap", "zeros.heap",
					    NULL };
	it_four(IT_ARGV(it_prog("free_reuse"), "../src", outs[0], outs[1], outs[2], outs[3]), NULL,
		outs);
	it_same_file("src", "none/mmap.out");
	it_same_file("src", "none/heap.out");
	ck_assert_int_eq(it_file_size("on/zeros.mmap"), 131072);
	it_expect_passive("free_reuse");
	it_expect_zero_copy("free_reuse", 2LL * SIZE, 90);
}
END_TEST

START_TEST(madvise_dontneed_gives_zeros)
{
	it_four(IT_ARGV(it_prog("madv_zero"), "../src", "out", "zeros1", "zeros2"), NULL,
		IT_ARGV("out", "zeros1", "zeros2"));
	it_same_file("src", "none/out");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, "after MADV_DONTNEED: all zero") != NULL, "%s", text);
	it_expect_passive("madv_zero");
	it_expect_zero_copy("madv_zero", SIZE, 90);
}
END_TEST

/* The copy leaves phantoms in the first half of an anonymous mapping; the
 * program then grows the mapping with mremap(MREMAP_MAYMOVE).  The kernel
 * resizes only a range that is one mapping: pages zcopy gave their bytes
 * must be one mapping with the rest again, or mremap fails with EFAULT
 * where it succeeds without zcopy. */
START_TEST(mremap_grows_a_buffer_that_held_phantoms)
{
	/* _i == 1: the buffer was made read-only first; _i == 2: the chunks
	 * were read into it unaligned, so guarded, and the pages given their
	 * bytes before it grows are a mapping of their own too. */
	if (_i == 0)
		it_four(IT_ARGV(it_prog("mremap_grow"), "../src", "out", "last"), NULL,
			IT_ARGV("out", "last"));
	else
		it_four(IT_ARGV(it_prog("mremap_grow"), "../src", "out", "last",
				_i == 1 ? "ro" : "unaligned"),
			NULL, IT_ARGV("out", "last"));
	it_expect_plain_success("mremap_grow");
	it_same_file("src", "none/out");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, "mremap ok") != NULL, "%s", text);
	free(text);
	it_expect_passive("mremap_grow");
	it_expect_zero_copy("mremap_grow", SIZE, 80);
	ck_assert_msg(it_stat("on", "mremap_grow", "materialized_bytes") > 0,
		      "no phantom was alive when the buffer grew:\n%s", it_stats_text("on"));
}
END_TEST

/* The program ignores SIGBUS once phantoms are alive, then starts children
 * (fork+exec, posix_spawn, and one that inherits the ignored SIGBUS from its
 * start and copies too).  An ignored SIGBUS stays ignored across exec, a
 * handled one does not: with zcopy's handler installed in its place the
 * children would be killed by the SIGBUS they ignore without zcopy, and the
 * program's own SigIgn would lack it. */
START_TEST(ignored_sigbus_stays_ignored_across_exec)
{
	it_four(IT_ARGV(it_prog("bus_ignored"), "../src", "out"), NULL, IT_ARGV("out", "out.2"));
	it_same_file("src", "none/out");
	it_same_file("src", "none/out.2");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, "posix_spawn child: exit 0") != NULL &&
			      strstr(text, "self: SIGBUS ignored yes") != NULL,
		      "%s", text);
	free(text);
	it_expect_passive("bus_ignored");
	/* The first copy was deferred, and the phantom alive when SIGBUS
	 * became ignored got its bytes. */
	ck_assert_msg(it_stat("on", "bus_ignored", "phantom_reads") > 0 &&
			      it_stat("on", "bus_ignored", "materialized_bytes") > 0,
		      "the engine did not engage before SIGBUS was ignored:\n%s",
		      it_stats_text("on"));
}
END_TEST

/* sysv_signal, __sysv_signal, bsd_signal, signal, sigset, sigignore and
 * siginterrupt on SIGBUS, each read back with sigaction (handler, flags,
 * mask), with sent SIGBUSes in between and the copy going on. */
START_TEST(every_way_to_set_sigbus_reads_back)
{
	it_four(IT_ARGV(it_prog("bus_setters"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, "h1 ran") != NULL && strstr(text, "survived") != NULL, "%s",
		      text);
	free(text);
	it_expect_passive("bus_setters");
	ck_assert_msg(it_stat("on", "bus_setters", "phantom_reads") > 0,
		      "the engine did not engage:\n%s", it_stats_text("on"));
}
END_TEST

/* 200 forks with a phantom alive at each, while a timer handler writes a
 * page every 50 us: a handler that runs while the fork handlers hold the
 * engine lock must take the plain path, not wait for the lock (a hang,
 * caught by the run's time limit). */
START_TEST(signal_handler_writes_during_fork)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog("fork_signal"), "../src", "out"),
			     .out_fd = -1, .timeout = 15 };
	it_four_spec(&s, OUT1);
	it_expect_plain_success("fork_signal");
	char *text = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(text, "timer fired yes") != NULL, "%s", text);
	free(text);
	it_expect_passive("fork_signal");
	/* Each fork found a phantom to give its bytes. */
	ck_assert_msg(it_stat("on", "fork_signal", "phantom_reads") > 0 &&
			      it_stat("on", "fork_signal", "materialized_bytes") > 0,
		      "no phantom was alive at the forks:\n%s", it_stats_text("on"));
}
END_TEST

/* The child of a fork forks again and the grandchild copies.  The fork
 * handlers hand each child the engine lock released: a thread that still
 * counted as holding it would take the next fork for one made from inside
 * zcopy, and turn the grandchild off. */
START_TEST(grandchild_copy_engages)
{
	it_four(IT_ARGV(it_prog("fork_nested"), "../src", "out"), NULL, OUT1);
	it_same_file("src", "none/out");
	it_expect_passive("fork_nested");
	it_expect_zero_copy("fork_nested", SIZE, 80);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("engine");
	TCase *tc = it_tcase(s, "engine", setup, 120);
	tcase_add_loop_test(tc, epipe_sigpipe_into_head, 0, IT_LEN(head_sizes));
	tcase_add_test(tc, page_sized_writes_into_a_pipe_leave_their_reads_alone);
	it_add(tc, IT_TESTS(edit_chunks_in_place_before_writing,
			    edit_chunks_in_place_before_writing_guarded, read_without_writing_checksum,
			    write_each_chunk_to_two_fds,
			    copy_file_onto_itself_overlapping_within_a_chunk,
			    copy_file_onto_itself_overlapping_the_next_chunk,
			    text_written_into_the_source_keeps_what_was_read,
			    copy_to_datagram_socket_keeps_datagram_sizes,
			    copy_to_o_append_file_stays_plain, nonblocking_pipe_with_slow_reader,
			    epipe_errno_with_sigpipe_ignored,
			    send_msg_nosignal_gets_epipe_without_sigpipe,
			    read_into_read_only_buffer_fails_with_efault));
	tcase_add_loop_test(tc, edge_calls_behave_as_without_zcopy, 1, 10);
	it_add(tc, IT_TESTS(writev_of_many_phantoms_then_close_range, fill_small_tmpfs_enospc,
				fork_between_read_and_write, copy_from_several_threads,
				workers_cancelled_anywhere_leave_zcopy_working,
				failed_readv_leaves_cancellation_as_it_was,
				write_waiting_on_a_socket_is_cancelled,
				cancelled_file_writer_leaves_whole_writes,
				async_workers_cancelled_anywhere_end_cancelled,
				cancel_signal_while_disabled_acts_at_enable,
				source_fd_reused_between_read_and_write,
				free_realloc_and_reuse_the_buffer, madvise_dontneed_gives_zeros));
	tcase_add_loop_test(tc, destination_closed_inside_libc, 0, 5);
	tcase_add_loop_test(tc, jump_out_of_a_waiting_call_then_pthread_exit, 0, IT_LEN(jumps));
	tcase_add_loop_test(tc, mremap_grows_a_buffer_that_held_phantoms, 0, 3);
	it_add(tc, IT_TESTS(ignored_sigbus_stays_ignored_across_exec,
				every_way_to_set_sigbus_reads_back,
				signal_handler_writes_during_fork, grandchild_copy_engages,
				signals_do_not_cut_a_write_to_a_file_short));
	return it_main(s, "build/programs");
}
