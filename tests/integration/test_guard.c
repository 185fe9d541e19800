/*
 * test_guard.c - the guard strategy (ZCOPY_GUARD=1, issue 9): copy loops
 * whose buffers the map strategy cannot cover (tests/programs/guard_copy),
 * each doing one thing a program may do with its buffer between a read and
 * its write.  Every scenario is run without the shim and with ZCOPY_MODE=off,
 * observe and on (all with ZCOPY_GUARD=1), compared byte for byte (status,
 * stdout, stderr, outputs), and the stats must show the engagement the
 * scenario allows.  Guard mode is on by default; the tests say
 * ZCOPY_GUARD=1 all the same, and ZCOPY_GUARD=0 where they want it off.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

/* Not a multiple of any buffer size used: the short last read is part of
 * every copy. */
#define SIZE (16 * MiB + 12345)
#define GUARD IT_ARGV("ZCOPY_GUARD=1")
#define EXE "guard_copy"

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 9);
	if (symlink("target-xyz", it_path("link")) != 0)
		ck_abort_msg("symlink");
}

/* Runs guard_copy MODE with the standard four runs and compares out (and
 * the extra outputs). */
static void run(const char *mode, const char *const *outputs)
{
	it_four(IT_ARGV(it_prog(EXE), mode, "../src", "out"), GUARD, outputs);
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
}

/* The engine engaged: reads were guarded and at least pct% of the bytes
 * went by kernel transfer. */
static void engaged_only(int pct)
{
	it_expect_deferred(EXE, 0);
	it_expect_zero_copy(EXE, SIZE, pct);
}

/* The same for a copy that leaves the bytes as they were. */
static void engaged(int pct)
{
	it_same_file("src", "none/out");
	engaged_only(pct);
}

static void materialized(void)
{
	long long m = it_stat("on", EXE, "materialized_bytes");
	ck_assert_msg(m > 0, "no guarded page was materialized; stats: %s", it_stats_text("on"));
}

static const char *const malloc_modes[] = { "malloc:65544", "malloc:131172", "malloc:1048600" };

START_TEST(malloc_buffers_are_guarded)
{
	run(malloc_modes[_i], IT_ARGV("out"));
	engaged(80);
	long long al = it_stat("on", EXE, "fallbacks.alignment");
	ck_assert_msg(al == 0, "alignment fallbacks %lld; stats: %s", al, it_stats_text("on"));
	if (_i < 2) /* 1 MiB reads: the two warm-up reads are an eighth of the file */
		it_expect_would(EXE, SIZE, 80);
}
END_TEST

/* A guard_copy MODE run the four ways, and what its stats must show: at
 * least pct% of the bytes by kernel transfer, with out a copy of src unless
 * the program changes what it read, and guarded pages materialized where it
 * touches them. */
static const struct guard_row {
	const char *mode;
	const char *output2; /* a second output to compare, besides out */
	int pct;
	int changes_data;    /* out is not src: only the engagement is checked */
	int materializes;
} guard_rows[] = {
	{ "fresh", NULL, 80, 0, 0 },   /* a new malloc for every read */
	{ "bss", NULL, 80, 0, 0 },     /* a bss buffer at an odd offset */
	{ "edit", NULL, 5, 1, 1 },     /* the buffer edited in its middle pages */
	{ "thread", NULL, 1, 0, 1 },   /* another thread reads the buffer */
	{ "fork", "out.child", 80, 0, 0 }, /* fork with live guards */
	{ "realloc", NULL, 50, 0, 0 }, /* realloc growth mid-stream */
	{ "mprotect", NULL, 80, 0, 0 }, /* the program mprotects its buffer */
	{ "writev", NULL, 80, 0, 0 },  /* writev of two guarded buffers */
	{ "send", NULL, 80, 0, 0 },    /* send(MSG_NOSIGNAL) into a socketpair */
	/* pwritev2 over what was read: the buffer keeps the bytes read; the
	 * file gets the new ones. */
	{ "pwritev2", "work", 50, 1, 0 },
};

START_TEST(guarded_copies)
{
	const struct guard_row *g = &guard_rows[_i];
	run(g->mode, g->output2 ? IT_ARGV("out", g->output2) : IT_ARGV("out"));
	if (g->changes_data)
		engaged_only(g->pct);
	else
		engaged(g->pct);
	if (g->materializes)
		materialized();
}
END_TEST

START_TEST(program_sigsegv_handler_with_siglongjmp)
{
	run("sigsegv", IT_ARGV("out"));
	engaged(5);
	char *o = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(o, "handler reported ours") && !strstr(o, "caught 0 "),
		      "stdout: %s", o);
	free(o);
}
END_TEST

/* MODE dies of SIGSEGV: the four runs must agree (status, stdout, the
 * bytes written so far), and the plain one must be that death. */
static void dies_of_sigsegv_as_plain(const char *mode)
{
	struct it_spec s = { .argv = IT_ARGV(it_prog(EXE), mode, "../src", "out"),
			     .env = GUARD, .out_fd = -1 };
	it_four_spec(&s, IT_ARGV("out"));
	int st = it_status("none");
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "plain run: %s",
		      it_describe(st));
}

START_TEST(program_fault_kills_by_default_action)
{
	/* Dies by its own fault mid-copy (no stats record is written at a
	 * death by signal): status, stdout and the bytes written so far must be
	 * those of the plain run. */
	dies_of_sigsegv_as_plain("segv_death");
}
END_TEST

START_TEST(kernel_writes_into_the_buffer)
{
	/* readlink, getcwd, fstat, recvmsg, getentropy, fstatfs and statfs
	 * fill parts of guarded pages, and glibc's own read(2) fills three of
	 * them as a stream's buffer (setvbuf). */
	run("kernel", IT_ARGV("out"));
	it_expect_deferred(EXE, 0);
	materialized();
	char *o = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(o, "readlink 10 target-xyz") && strstr(o, "getcwd 1") &&
			      strstr(o, "fstat 0") && strstr(o, "recvmsg 19") &&
			      strstr(o, "getentropy 0") && strstr(o, "fstatfs 0") &&
			      strstr(o, "\nstatfs 0") && strstr(o, "setvbuf fread 5000 ferror 0"),
		      "stdout: %s", o);
	free(o);
}
END_TEST

/* One call on guarded pages (guard_copy kcall:CALL, chunk 5), the line the
 * program prints for it, which the plain run prints too. */
static const char *const kernel_calls[][2] = {
	{ "kcall:arc4random_buf", "arc4random_buf done" }, /* glibc aborts if it fails */
	{ "kcall:getdents64", "getdents64 entries" },
	{ "kcall:flistxattr", "flistxattr " },
	{ "kcall:pkey_mprotect", "pkey_mprotect 0 hash" }, /* the page's bytes, compared */
	{ "kcall:mlock", "mlock 0" },
	{ "kcall:stat", "stat of a name in the buffer 0" }, /* a name read from the file */
	{ "kcall:open", "open of a name in the buffer ok" },
};

START_TEST(calls_on_guarded_pages_behave_as_plain)
{
	run(kernel_calls[_i][0], IT_ARGV("out"));
	it_expect_deferred(EXE, 0);
	materialized();
	char *o = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(o, kernel_calls[_i][1]) != NULL, "%s: stdout: %s", kernel_calls[_i][0], o);
	free(o);
}
END_TEST

/* A module's static buffer, guarded, then the module unloaded (the loader
 * unmaps it past every wrapper) and the program's next large block placed
 * where it was: that block is written with the program's bytes, not with
 * the file's that the buffer's records stood for. */
START_TEST(memory_of_an_unloaded_module_holds_no_phantoms)
{
	it_four(IT_ARGV(it_prog("dl_reuse"), "../src", "out", "out2"), GUARD,
		IT_ARGV("out", "out2"));
	it_expect_plain_success("dl_reuse");
	it_expect_passive("dl_reuse");
	it_expect_deferred("dl_reuse", 0);
	it_expect_zero_copy("dl_reuse", SIZE, 80);
}
END_TEST

/* A coroutine's stack (makecontext on malloc'd memory) lends the buffer:
 * never guarded, or the coroutine's stack, grown again over pages left
 * PROT_NONE, kills the process at its next frame there. */
START_TEST(a_coroutine_stack_is_never_guarded)
{
	it_four(IT_ARGV(it_prog("coro_stack"), "../src", "out"), GUARD, IT_ARGV("out"));
	it_expect_plain_success("coro_stack");
	it_expect_passive("coro_stack");
	it_expect_no_zero_copy("coro_stack", 0);
	it_expect_fallback("on", "coro_stack", "buffer_kind");
}
END_TEST

/* A signal handler that runs as zcopy lets its lock go inside the service
 * of a fault on a guarded page, and leaves by siglongjmp (jump_fault): the
 * jump leaves zcopy, which must let go of the thread as its own way out
 * does.  Before, a jump to a frame deeper than the thread's last read or
 * write left the thread marked inside zcopy with cancellation disabled,
 * and every later call of it passed through zcopy unseen. */
START_TEST(a_jump_out_of_a_fault_service_leaves_zcopy)
{
	it_four(IT_ARGV(it_prog("jump_fault"), "../src", "out"), GUARD, IT_ARGV("out", "out.2"));
	it_expect_plain_success("jump_fault");
	char *o = it_slurp("none/stdout", NULL);
	ck_assert_msg(strstr(o, "stayed enabled") && strstr(o, "second copy"), "the plain run: %s",
		      o);
	free(o);
	it_expect_passive("jump_fault");
	it_expect_deferred("jump_fault", 0);
}
END_TEST

/* Alternate signal stacks are never guarded, and forgotten when they are
 * unmapped: a program that had 40 of them in turn (more than the 32 noted
 * at once), at different addresses, still has its buffers guarded. */
START_TEST(many_alternate_stacks_leave_guard_mode_on)
{
	run("altstacks", IT_ARGV("out"));
	engaged(80);
}
END_TEST

/* An unbuffered fwrite of guarded pages: glibc would hand them to the
 * kernel, which cannot fault them in (EFAULT); zcopy's stdio path makes it
 * the engine's write, so they go by transfer without being touched. */
START_TEST(unbuffered_fwrite_of_guarded_pages)
{
	static const char *const modes[] = { "fwrite", "fwrite_unlocked" };
	run(modes[_i], IT_ARGV("out"));
	it_expect_deferred(EXE, 0);
	engaged(80);
}
END_TEST

START_TEST(exec_child_continues_from_shared_offset)
{
	run("exec", IT_ARGV("out"));
	engaged(80);
	ck_assert_int_eq(it_stat_records("on", EXE), 2);
}
END_TEST

/* MODE copies exactly with no read deferred, for the fallback reason. */
static void unguarded(const char *mode, const char *reason)
{
	run(mode, IT_ARGV("out"));
	it_same_file("src", "none/out");
	long long ph = it_stat("on", EXE, "phantom_reads");
	ck_assert_msg(ph == 0, "%lld reads deferred; stats: %s", ph, it_stats_text("on"));
	it_expect_fallback("on", EXE, reason);
}

START_TEST(thread_that_blocks_sigsegv_touches_guarded_pages)
{
	/* The copy runs with every signal blocked and checksums every chunk:
	 * its mask is installed without SIGSEGV (a fault with it blocked would
	 * be fatal), and the program reads back the mask it set (its stdout). */
	run("sigblocked", IT_ARGV("out"));
	it_same_file("src", "none/out");
	it_expect_deferred(EXE, 0);
	materialized();
	char *o = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(o, "SIGSEGV blocked 1"), "stdout: %s", o);
	free(o);
}
END_TEST

/* A thread or handler that blocks SIGSEGV where the program touches a
 * guarded page: the kernel would kill on that fault, so zcopy keeps SIGSEGV
 * out of every mask it installs and reports the program's own mask back. */
static const char *const masked_modes[] = { "masked_worker", "full_mask_handler", "ppoll_mask" };

START_TEST(sigsegv_blocked_by_another_thread_or_handler)
{
	run(masked_modes[_i], IT_ARGV("out"));
	/* Every third chunk is looked at: the stream backs off, as for "thread". */
	engaged(1);
	materialized();
}
END_TEST

START_TEST(program_reads_back_the_masks_it_set)
{
	/* sigprocmask, pthread_sigmask, sigblock/sigsetmask/siggetmask,
	 * sighold/sigrelse, sigset(SIG_HOLD), sigaction's sa_mask: each
	 * reports SIGSEGV as the program set it (stdout compared). */
	run("views", IT_ARGV("out"));
	engaged(80);
	char *o = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(o, "sigprocmask now 1") && strstr(o, "sigaction old mask 1"),
		      "stdout: %s", o);
	free(o);
}
END_TEST

START_TEST(fault_with_sigsegv_blocked_gets_the_default_action)
{
	/* The program's handler is installed, but it blocks SIGSEGV: its own
	 * fault kills as the kernel's forced default action does. */
	dies_of_sigsegv_as_plain("blocked_fault");
}
END_TEST

START_TEST(sent_sigsegv_waits_while_blocked)
{
	run("held_segv", IT_ARGV("out"));
	engaged(80);
	char *o = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(o, "handler ran 0") && strstr(o, "handler ran 1"),
		      "stdout: %s", o);
	free(o);
}
END_TEST

START_TEST(sigsegv_handler_set_by_sysv_signal)
{
	/* sysv_signal and siginterrupt for SIGSEGV go to the program's record:
	 * zcopy's handler stays installed for its guarded pages. */
	run("sysv_handler", IT_ARGV("out"));
	it_same_file("src", "none/out");
	it_expect_deferred(EXE, 0);
	materialized();
}
END_TEST

START_TEST(context_that_blocks_sigsegv_stops_guards)
{
	/* swapcontext to a mask the program made to hold SIGSEGV: the guarded
	 * pages get their bytes first and guard mode stops for the process. */
	run("context_mask", IT_ARGV("out"));
	engaged_only(1);
	it_same_file("src", "none/out");
	ck_assert_int_eq(it_stat("on", EXE, "guard"), 0);
	it_expect_fallback("on", EXE, "alignment");
}
END_TEST

/* closefrom/close_range above the program's fds close zcopy's duplicates
 * too (no room to move them below): the guarded buffer gets its bytes
 * first, not zeros. */
START_TEST(closefrom_above_the_program_fds)
{
	run("closefrom", IT_ARGV("out"));
	engaged(50);
}
END_TEST

START_TEST(another_threads_stack_is_never_guarded)
{
	/* The kernel writes signal frames there: a guarded page would make
	 * delivery fatal. */
	unguarded("other_stack", "buffer_kind");
}
END_TEST

START_TEST(stack_where_a_freed_block_was_is_never_guarded)
{
	/* A 16 MiB block glibc mapped carries a guarded copy and is freed
	 * with no guard left in it; a thread's stack then takes its place.
	 * What zcopy knew of that memory went with the block: the buffer on
	 * the stack is refused, as in another_threads_stack_is_never_guarded. */
	run("stale_stack", IT_ARGV("out"));
	long long ph = it_stat("on", EXE, "phantom_reads");
	ck_assert_msg(ph > 0, "the first copy was not deferred; stats: %s", it_stats_text("on"));
	it_expect_fallback("on", EXE, "buffer_kind");
}
END_TEST

START_TEST(a_malloc_of_the_programs_own_is_not_taken_for_glibcs)
{
	/* guard_copy_own's malloc (own_malloc.c) sets, in the word before
	 * each block, the bit glibc uses for a block it unmaps on free.
	 * Taken for glibc's, a freed block's guarded pages were forgotten
	 * while they stayed inaccessible: the next use of the block (a new
	 * allocation written in its middle) died of SIGSEGV. */
	it_four(IT_ARGV(it_prog("guard_copy_own"), "reuse_freed", "../src", "out"), GUARD,
		IT_ARGV("out"));
	it_expect_plain_success("guard_copy_own");
	it_same_file("src", "none/out");
	it_expect_deferred("guard_copy_own", 0);
	it_expect_zero_copy("guard_copy_own", SIZE, 80);
}
END_TEST

START_TEST(peer_gone_raises_sigpipe_only_where_the_plain_write_does)
{
	/* A file copied into a TCP connection whose reader took five chunks
	 * and closed.  The sixth write goes after the reader is gone: plain,
	 * it is queued whole and raises nothing; a sendfile that sent part of
	 * it and then met the peer's reset raised SIGPIPE in the same call.
	 * peer_gone prints the SIGPIPEs its handler counted after every write. */
	it_four(IT_ARGV(it_prog("peer_gone"), "handler", "../src"), NULL, NULL);
	it_expect_plain_success("peer_gone");
	it_expect_deferred("peer_gone", 0);
	long long zc = it_stat("on", "peer_gone", "bytes_zero_copy");
	ck_assert_msg(zc > 0, "nothing went by transfer; stats: %s", it_stats_text("on"));
}
END_TEST

START_TEST(guard_is_on_by_default)
{
	it_four(IT_ARGV(it_prog(EXE), "malloc:131172", "../src", "out"), NULL, IT_ARGV("out"));
	engaged(80);
	long long al = it_stat("on", EXE, "fallbacks.alignment");
	ck_assert_msg(al == 0, "alignment fallbacks %lld; stats: %s", al, it_stats_text("on"));
}
END_TEST

START_TEST(guard_0_reads_unaligned_buffers_plainly)
{
	it_four(IT_ARGV(it_prog(EXE), "malloc:131172", "../src", "out"), IT_ARGV("ZCOPY_GUARD=0"),
		IT_ARGV("out"));
	it_same_file("src", "none/out");
	it_expect_no_zero_copy(EXE, 0);
	it_expect_fallback("on", EXE, "alignment");
	/* Observe mode says what guards would have moved. */
	long long wg = it_stat_opt("observe", EXE, "would_guard_bytes");
	ck_assert_msg(wg >= SIZE / 10 * 8, "would_guard_bytes %lld; stats: %s", wg,
		      it_stats_text("observe"));
}
END_TEST

int main(void)
{
	Suite *s = it_suite("guard");
	TCase *tc = it_tcase(s, "guard", setup, 120);
	tcase_add_loop_test(tc, malloc_buffers_are_guarded, 0, 3);
	tcase_add_loop_test(tc, guarded_copies, 0, IT_LEN(guard_rows));
	tcase_add_loop_test(tc, unbuffered_fwrite_of_guarded_pages, 0, 2);
	tcase_add_loop_test(tc, calls_on_guarded_pages_behave_as_plain, 0, IT_LEN(kernel_calls));
	tcase_add_test(tc, memory_of_an_unloaded_module_holds_no_phantoms);
	tcase_add_test(tc, a_coroutine_stack_is_never_guarded);
	tcase_add_test(tc, a_jump_out_of_a_fault_service_leaves_zcopy);
	tcase_add_test(tc, many_alternate_stacks_leave_guard_mode_on);
	it_add(tc, IT_TESTS(program_sigsegv_handler_with_siglongjmp,
			    program_fault_kills_by_default_action, kernel_writes_into_the_buffer,
			    exec_child_continues_from_shared_offset, closefrom_above_the_program_fds,
			    thread_that_blocks_sigsegv_touches_guarded_pages));
	tcase_add_loop_test(tc, sigsegv_blocked_by_another_thread_or_handler, 0, 3);
	it_add(tc, IT_TESTS(program_reads_back_the_masks_it_set,
			    fault_with_sigsegv_blocked_gets_the_default_action,
			    sent_sigsegv_waits_while_blocked, sigsegv_handler_set_by_sysv_signal,
			    context_that_blocks_sigsegv_stops_guards,
			    another_threads_stack_is_never_guarded,
			    stack_where_a_freed_block_was_is_never_guarded,
			    a_malloc_of_the_programs_own_is_not_taken_for_glibcs,
			    peer_gone_raises_sigpipe_only_where_the_plain_write_does,
			    guard_is_on_by_default,
			    guard_0_reads_unaligned_buffers_plainly));
	return it_main(s, "build/programs");
}
