/*
 * signals.h - signals.c: zcopy's SIGBUS handler (phantom pages of a
 * truncated file) and, with ZCOPY_GUARD=1, its SIGSEGV handler (guarded
 * pages), installed by the constructor (init.c).
 */
#ifndef ZC_SIGNALS_H
#define ZC_SIGNALS_H

/* Installs the SIGBUS handler (mode on). */
void zc_signals_init(void);
/* May reads be deferred?  Not while the program ignores SIGBUS: its
 * SIG_IGN is then what is installed, and no handler of ours would answer a
 * fault on a phantom page of a truncated file. */
int zc_signals_defer_ok(void);
/* Installs the SIGSEGV handler (mode on with ZCOPY_GUARD=1). */
void zc_guard_signals_init(void);
/* How many of the program's handlers this thread is running now, nested
 * (signals.c, call_handler: every handler of the program's that zcopy
 * calls).  A handler left by siglongjmp is not counted off. */
extern __thread int zc_sig_handler_depth __attribute__((tls_model("initial-exec")));

/* sigmask.c: SIGSEGV kept out of the masks the program installs while
 * zcopy's SIGSEGV handler is (zc_sigmask_active), and the program's view of
 * its own mask per thread (1: it believes this thread blocks SIGSEGV). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
extern volatile int zc_sigmask_active;
extern __thread int zc_segv_view __attribute__((tls_model("initial-exec")));
/* Removes SIGSEGV from *set while active; 1 if it was there. */
int zc_sigmask_strip(sigset_t *set);
/* The view becomes v (a SIGSEGV held meanwhile is raised when v is 0). */
void zc_sigmask_set_view(int v);
/* A sent SIGSEGV arrived while the view blocks it: raised when it unblocks. */
void zc_sigmask_hold(void);
/* siglongjmp (jump.c): the mask saved in env comes back, and the view with it. */
void zc_sigmask_jump(const struct __jmp_buf_tag *env);


/* sigdefer.c: in guard mode the program's handlers of asynchronous signals
 * run behind a trampoline that holds them back while their thread holds the
 * engine lock (zc_sig_hold), noted per thread from zc_sig_head to
 * zc_sig_tail, and sends them again when the lock is released. */
extern volatile int zc_sigdefer_on;
extern __thread int zc_sig_hold __attribute__((tls_model("initial-exec")));
extern __thread unsigned zc_sig_head __attribute__((tls_model("initial-exec")));
extern __thread unsigned zc_sig_tail __attribute__((tls_model("initial-exec")));
/* The engine's first call of a write is in progress (1; 3 once a handler
 * ran during it): a restart the kernel prepared for it under SA_RESTART is
 * made an EINTR return instead, and zc_sig_restart_wanted set, so that the
 * engine makes the whole write again with the buffer as the handler left
 * it (sigdefer.c, "Restarts"). */
extern __thread int zc_sig_restartable __attribute__((tls_model("initial-exec")));
extern __thread int zc_sig_restart_wanted __attribute__((tls_model("initial-exec")));
/* Was the write's EINTR such a restart?  The flag is cleared. */
extern __thread unsigned zc_sig_early_restarts __attribute__((tls_model("initial-exec")));
static inline int zc_sig_restart_take(void)
{
	int w = zc_sig_restart_wanted;
	zc_sig_restart_wanted = 0;
	if (!w)
		zc_sig_early_restarts = 0; /* the write is over */
	return w;
}
/* Program handlers this thread ran behind the trampoline so far, and how
 * many when the engine began the write it is in. */
extern __thread unsigned zc_sig_handlers_ran __attribute__((tls_model("initial-exec")));
extern __thread unsigned zc_sig_ran_before __attribute__((tls_model("initial-exec")));
static inline void zc_sig_write_begins(void)
{
	zc_sig_ran_before = zc_sig_handlers_ran;
}
/* Before the engine's first call of a write: arms the restart (above) and
 * returns 1; or, when a handler ran since the write began (held back while
 * the pieces were chosen, or at any moment before the call), returns 0
 * with errno EINTR and the restart wanted: the call is not made, the write
 * is made again with the buffer as the handler left it.  At most 16 times
 * in a row: signals coming faster than the engine decides (every few
 * microseconds) must not keep the write from being made at all. */
static inline int zc_sig_first_call(void)
{
	zc_sig_restartable = 1;
	__asm__ __volatile__("" ::: "memory"); /* armed before the count is read */
	if (zc_sig_handlers_ran == zc_sig_ran_before || zc_sig_early_restarts >= 16)
		return 1;
	zc_sig_early_restarts++;
	zc_sig_restartable = 0;
	zc_sig_restart_wanted = 1;
	errno = EINTR;
	return 0;
}
/* Sends the noted signals again, in order (the lock is free). */
void zc_sigdefer_flush(void);
/* The lock was released: handlers may run again, the noted ones first.
 * One compare while nothing was noted. */
static inline void zc_sigdefer_release(void)
{
	__asm__ __volatile__("" ::: "memory");
	zc_sig_hold = 0;
	__asm__ __volatile__("" ::: "memory");
	if (__builtin_expect(zc_sig_head != zc_sig_tail, 0))
		zc_sigdefer_flush();
}
/* Is a handler of sig put behind the trampoline (guard mode, and not a
 * synchronous or uncatchable signal)? */
int zc_sigdefer_eligible(int sig);
/* The program's handler prog for sig is recorded and *tramp is what to
 * install in its place. */
void zc_sigdefer_set(int sig, const struct sigaction *prog, struct sigaction *tramp);
/* Is sa (read from the kernel) the trampoline? */
int zc_sigdefer_is_ours(const struct sigaction *sa);
/* What the program installed for sig behind the trampoline. */
void zc_sigdefer_program(int sig, struct sigaction *out);
/* The simple interfaces for such a signal, as libc defines them, through
 * the trampoline: signal/bsd_signal, sysv_signal and sigignore (a fixed
 * mask and flags), sigset, siginterrupt. */
__sighandler_t zc_sigdefer_simple(int sig, __sighandler_t h, int flags, int self_masked);
__sighandler_t zc_sigdefer_signal(int sig, __sighandler_t h);
__sighandler_t zc_sigdefer_sigset(int sig, __sighandler_t disp);
int zc_sigdefer_siginterrupt(int sig, int interrupt);
/* signals.c: sigaction for such a signal (the trampoline in place of a
 * handler, the program's own reported). */
int zc_signals_deferred_action(int sig, const struct sigaction *act, struct sigaction *old);

/* The action that the simple interfaces (signal, bsd_signal, sysv_signal,
 * sigset) install for sig: handler h with flags, sig itself blocked while h
 * runs if self_masked.  -1 with EINVAL for SIG_ERR, as libc's own. */
int zc_simple_action(struct sigaction *sa, int sig, __sighandler_t h, int flags, int self_masked);
/* signals.c: the program's handler p called as the kernel would call it. */
void zc_signals_call(const struct sigaction *p, int sig, siginfo_t *si, void *uc);

#endif
