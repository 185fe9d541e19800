/*
 * sigdefer.c - the program's signal handlers wait while their thread holds
 * the engine lock (guard mode).
 *
 * A guarded page (guard.c) gets its bytes when touched: zcopy's SIGSEGV
 * handler takes the engine lock and reads them in.  A thread that holds the
 * lock cannot take it again, so a program handler that interrupted it there
 * and touched a guarded buffer (a timer whose handler sums the buffer) would
 * die of SIGSEGV where the plain program reads its data.  So, in guard
 * mode, every handler the program installs for an asynchronous signal is
 * installed behind a trampoline of ours, with the program's own sa_mask and
 * flags (the kernel then blocks, restarts and switches stacks exactly as for
 * the program's handler):
 *  - while the lock is free, the trampoline calls the handler at once, with
 *    the kernel's arguments;
 *  - while its thread holds the lock (zc_sig_hold, one thread-local flag),
 *    it notes the signal with its siginfo in a small per-thread queue,
 *    blocks it in the interrupted code (more of it then wait in the kernel,
 *    queued or merged as for any blocked signal) and returns; the lock's
 *    release (no system call while the queue is empty: one compare) sends
 *    each noted signal again to its own thread with rt_tgsigqueueinfo and
 *    the same siginfo, in the order they came, and unblocks it: the kernel
 *    delivers it then, with the mask and stack the handler asks for.
 *    The lock is held only around table work and the file and memory calls
 *    of a deferral, never across a call that waits for the program's I/O,
 *    so a handler runs a few microseconds late, inside the same call of the
 *    program, as if the signal had come just after the lock was released.
 * SA_RESETHAND is carried out at the first delivery, as the kernel does it
 * (the trampoline is installed without it): the handler noted with the
 * signal is the one that runs when it is sent again, and the disposition
 * the program reads back meanwhile is SIG_DFL.  sigaction reports the
 * program's own handler, mask and flags (signals.c).  Synchronous signals
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) are left alone: the
 * program's own code raising them does not run inside zcopy.
 *
 * A forked child does not take over the parent's noted signals (each entry
 * names its thread) and unblocks what the parent held back; a handler that
 * leaves by siglongjmp leaves the rest of the queue to the next release of
 * the lock or the next signal.
 *
 * Restarts.  The engine's first call of a write (a transfer's splice,
 * sendfile or copy_file_range, or the first plain piece) may wait, as the
 * write would; a handler with SA_RESTART that runs meanwhile has the kernel
 * restart that call as it is, where the plain write, restarted, copies the
 * buffer as the handler left it (a byte it changed, pages it touched).  So
 * while the thread is in that call (zc_sig_restartable, set around it in
 * transfer.c and redirect.c), the trampoline, after a handler ran, turns
 * the restart the kernel prepared into an EINTR return and sets
 * zc_sig_restart_wanted; the engine then makes the whole write again from
 * the top, as SA_RESTART asks: the same call, the buffer as it is now.
 * Without SA_RESTART the kernel returns EINTR itself and nothing changes.
 * A handler that ran after the write began but before that call (held back
 * while the pieces were chosen, run at the lock's release) would leave the
 * call to send what was chosen before it: the call is not made then
 * (zc_sig_first_call counts the handlers run, zc_sig_handlers_ran) and the
 * write is made again the same way.  What remains is a handler that comes
 * in the few instructions between that count and the `syscall`.
 * x86-64 only (the saved registers are read); elsewhere, and without guard
 * mode (no trampoline), the kernel's restart stands.
 *
 * Everything here runs in signal handlers or at the lock's release: no
 * malloc, no stdio, errno kept.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "fatal.h"
#include "real.h"
#include "signals.h"

volatile int zc_sigdefer_on;
__thread int zc_sig_hold __attribute__((tls_model("initial-exec")));
__thread unsigned zc_sig_head __attribute__((tls_model("initial-exec")));
__thread unsigned zc_sig_tail __attribute__((tls_model("initial-exec")));
__thread int zc_sig_restartable __attribute__((tls_model("initial-exec")));
__thread int zc_sig_restart_wanted __attribute__((tls_model("initial-exec")));
__thread unsigned zc_sig_handlers_ran __attribute__((tls_model("initial-exec")));
__thread unsigned zc_sig_ran_before __attribute__((tls_model("initial-exec")));
__thread unsigned zc_sig_early_restarts __attribute__((tls_model("initial-exec")));

/* What the program installed for each signal whose trampoline is in place
 * (the kernel's record then names the trampoline). */
static struct sigaction program[_NSIG];

/* The queue: written at tail only by the trampoline (a handler of this
 * thread), read at head only by flush (the thread, or a handler nested in
 * it); so neither side resets the other's index.  Handlers nest (SA_NODEFER,
 * other signals), so a note claims its slot by moving the tail in one
 * atomic step and marks it ready once written; flush stops at a slot not
 * yet ready (the note that claimed it flushes after it).  The head never
 * passes the tail: the flush would then walk 2^32 stale slots (a nested
 * note used to publish a tail read before the nested ones, moving it back:
 * SA_NODEFER timer handlers nested five to eight deep spun for minutes). */
#define QN 8
struct noted {
	int ready; /* written and not yet taken */
	int sig;
	pid_t tid; /* the thread it came to (not a forked child's copy) */
	siginfo_t info;
	struct sigaction act; /* the handler the kernel delivered it to */
};
static __thread struct noted queue[QN] __attribute__((tls_model("initial-exec")));
static __thread int flushing __attribute__((tls_model("initial-exec")));
/* The signal sent again last, until its delivery reaches the trampoline. */
static __thread int resent_sig __attribute__((tls_model("initial-exec")));
static __thread struct sigaction resent_act __attribute__((tls_model("initial-exec")));
static __thread siginfo_t resent_info __attribute__((tls_model("initial-exec")));
static __thread int resent_any __attribute__((tls_model("initial-exec"))); /* sent by tgkill */

#define barrier() __asm__ __volatile__("" ::: "memory")

static void trampoline(int sig, siginfo_t *si, void *uc);

int zc_sigdefer_eligible(int sig)
{
	return zc_sigdefer_on && sig > 0 && sig < _NSIG && sig != SIGSEGV && sig != SIGBUS &&
	       sig != SIGFPE && sig != SIGILL && sig != SIGTRAP && sig != SIGSYS &&
	       sig != SIGKILL && sig != SIGSTOP;
}

static int has_handler(const struct sigaction *sa)
{
	return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

int zc_sigdefer_is_ours(const struct sigaction *sa)
{
	return sa->sa_sigaction == trampoline;
}

void zc_sigdefer_program(int sig, struct sigaction *out)
{
	*out = program[sig];
}

void zc_sigdefer_set(int sig, const struct sigaction *prog, struct sigaction *tramp)
{
	program[sig] = *prog;
	memset(tramp, 0, sizeof *tramp);
	tramp->sa_sigaction = trampoline;
	tramp->sa_mask = prog->sa_mask;
	/* SA_RESETHAND by hand: the kernel would reset the trampoline at a
	 * delivery that only notes the signal.  Every other flag (SA_RESTART,
	 * SA_NODEFER, SA_ONSTACK, SA_NOCLDSTOP, ...) is the program's. */
	tramp->sa_flags = (prog->sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
}

/* The kernel's record for sig becomes the program's (a SIG_DFL or SIG_IGN
 * in place of the trampoline), as after the kernel's own reset. */
static void install_program(int sig)
{
	struct sigaction now = program[sig];
	zc_sigmask_strip(&now.sa_mask);
	REAL(sigaction)(sig, &now, NULL);
	zc_fatal_retake(sig);
}

/* The disposition a delivery of sig reaches now; a one-shot handler is
 * taken (the program's record becomes SIG_DFL, once, whichever thread gets
 * there first), and with install the kernel's record follows at once. */
static void take(int sig, struct sigaction *out, int install)
{
	*out = program[sig];
	if (!(out->sa_flags & SA_RESETHAND) || !has_handler(out))
		return;
	out->sa_handler = __atomic_exchange_n(&program[sig].sa_handler, SIG_DFL, __ATOMIC_SEQ_CST);
	if (install && has_handler(out))
		install_program(sig);
}

/* sig goes to this thread again with info, delivered before this returns
 * unless the thread blocks it now; 0 if it could not be sent, 2 if it went
 * without its siginfo. */
static int resend(int sig, siginfo_t *info)
{
	pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
	if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, info) == 0)
		return 1;
	return syscall(SYS_tgkill, pid, tid, sig) == 0 ? 2 : 0;
}

/* What the kernel does with a delivery to act: the handler, or for a
 * handler that is gone (a one-shot already used) the disposition now. */
static void run(int sig, const struct sigaction *act, siginfo_t *si, void *uc)
{
	if (has_handler(act)) {
		zc_sig_handlers_ran++;
		zc_signals_call(act, sig, si, uc);
		return;
	}
	int saved = errno;
	install_program(sig);
	if (act->sa_handler == SIG_DFL)
		resend(sig, si); /* its default action, once this returns */
	errno = saved;
}

/* The signals this thread blocks for zcopy: each noted while the lock is
 * held, so that more of it wait in the kernel, queued or merged as for any
 * blocked signal, behind the noted one. */
static __thread sigset_t held_back __attribute__((tls_model("initial-exec")));

/* sig stays blocked in the interrupted code (the mask the kernel puts back
 * when the trampoline returns) until the lock's release. */
static void hold_back(int sig, void *uc)
{
	sigaddset(&((ucontext_t *)uc)->uc_sigmask, sig);
	sigaddset(&held_back, sig);
}

/* Notes sig for the lock's release; 0 if it is to run now instead. */
static int note(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	unsigned tail = __atomic_load_n(&zc_sig_tail, __ATOMIC_RELAXED);
	int full;
	while (!(full = tail - zc_sig_head >= QN) &&
	       !__atomic_compare_exchange_n(&zc_sig_tail, &tail, tail + 1, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED))
		; /* a nested note claimed it first: the next one */
	if (full) {
		/* No room.  With the lock free it runs now, ahead of older ones
		 * (blocking it here would outlast the flush, which unblocks in
		 * this handler's mask, not in the one restored on return). */
		if (!zc_sig_hold)
			return 0;
		/* Held (as many different signals in one hold of the lock): it
		 * waits in the kernel, blocked until the release. */
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sig);
		REAL(pthread_sigmask)(SIG_BLOCK, &one, NULL);
		hold_back(sig, uc);
		resend(sig, si);
		errno = saved;
		return 1;
	}
	struct noted *n = &queue[tail % QN];
	n->sig = sig;
	n->tid = (pid_t)syscall(SYS_gettid);
	n->info = *si;
	take(sig, &n->act, 0);
	if (zc_sig_hold)
		hold_back(sig, uc);
	errno = saved;
	barrier();
	n->ready = 1;
	return 1;
}

/* The slot at the head is done with: the next one is the head. */
static void head_done(void)
{
	if (zc_sig_head != zc_sig_tail) {
		queue[zc_sig_head % QN].ready = 0;
		barrier();
		zc_sig_head++;
	}
}

/* sig is no longer blocked for zcopy (a resent one is delivered now). */
static void let_go(int sig)
{
	if (!sigismember(&held_back, sig))
		return;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigdelset(&held_back, sig);
	REAL(pthread_sigmask)(SIG_UNBLOCK, &one, NULL);
}

/*
 * Sends the noted signals again, the oldest first.  The one sent stays at
 * the head of the queue until the trampoline recognises its delivery (by
 * its siginfo: a newer signal of the same number may be delivered first,
 * and is noted behind the rest); so a handler that leaves by siglongjmp
 * has its own signal taken off, and one the thread blocks now (resent_sig
 * still set on return) is not sent twice: its delivery goes on with the
 * rest.
 */
void zc_sigdefer_flush(void)
{
	if (flushing || resent_sig)
		return;
	flushing = 1;
	int saved = errno;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	while (zc_sig_head != zc_sig_tail && !resent_sig) {
		struct noted *n = &queue[zc_sig_head % QN];
		if (!n->ready)
			break; /* claimed by a note still writing it, which flushes after */
		if (n->tid != tid) {
			head_done(); /* a forked child's copy of the parent's queue */
			continue;
		}
		int sig = n->sig;
		siginfo_t info = n->info;
		resent_act = n->act;
		resent_info = info;
		resent_any = 0;
		barrier();
		resent_sig = sig;
		barrier();
		int how = resend(sig, &info); /* pending while held back */
		if (how == 0) {
			resent_sig = 0; /* cannot be sent: dropped */
			head_done();
		} else if (how == 2) {
			resent_any = 1; /* its delivery has another siginfo */
		}
		let_go(sig); /* it first, then any more of it the kernel kept */
	}
	if (zc_sig_head == zc_sig_tail && !resent_sig) {
		/* The rest blocked for zcopy (more than the queue held, or a
		 * forked child's inherited mask): the kernel delivers them. */
		for (int sig = 1; sig < _NSIG; sig++)
			let_go(sig);
	}
	flushing = 0;
	errno = saved;
}

/* Is this delivery the noted signal sent again? */
static int is_resent(int sig, const siginfo_t *si)
{
	return resent_sig == sig &&
	       (resent_any || memcmp(si, &resent_info, sizeof resent_info) == 0);
}

/* The delivery of sig: the handler now, or noted for the lock's release. */
static void deliver(int sig, siginfo_t *si, void *uc)
{
	if (is_resent(sig, si)) {
		/* A noted signal, delivered now: the handler it came to. */
		struct sigaction act = resent_act;
		resent_sig = 0;
		head_done();
		if ((act.sa_flags & SA_RESETHAND) && !has_handler(&program[sig])) {
			int saved = errno;
			install_program(sig); /* the one-shot was used at the first delivery */
			errno = saved;
		}
		int outer = flushing;
		flushing = 0; /* a jump out of the handler ends that flush */
		run(sig, &act, si, uc);
		flushing = outer;
		if (!outer)
			zc_sigdefer_flush(); /* it had waited for its mask: the rest */
		return;
	}
	/* Held, or earlier signals still wait: after them. */
	if ((zc_sig_hold || zc_sig_head != zc_sig_tail) && note(sig, si, uc)) {
		if (!zc_sig_hold)
			zc_sigdefer_flush();
		return;
	}
	struct sigaction act;
	take(sig, &act, 1);
	run(sig, &act, si, uc);
}

/*
 * A restart the kernel prepared for the engine's first call of a write, made
 * an EINTR return instead (see "Restarts" at the top).  At a handler's entry
 * the kernel has already rewound an interrupted call for SA_RESTART: the
 * instruction pointer back at the 2-byte `syscall`, the number back in RAX.
 * The same state is seen for a signal that came just before the `syscall`
 * ran.  Either way the call has moved nothing.  Not done when the handler
 * moved the instruction pointer itself.
 */
#if defined(__x86_64__) && !defined(__ILP32__)
static int restart_as_eintr(void *uc, uintptr_t ip0)
{
	greg_t *g = ((ucontext_t *)uc)->uc_mcontext.gregs;
	const unsigned char *ip = (const unsigned char *)g[REG_RIP];
	long nr = (long)g[REG_RAX];
	if ((uintptr_t)g[REG_RIP] != ip0 || ip[0] != 0x0f || ip[1] != 0x05)
		return 0;
	if (nr != SYS_splice && nr != SYS_sendfile && nr != SYS_copy_file_range &&
	    nr != SYS_write && nr != SYS_writev && nr != SYS_pwrite64 && nr != SYS_pwritev &&
	    nr != SYS_sendmsg)
		return 0;
	g[REG_RIP] += 2;
	g[REG_RAX] = -EINTR;
	return 1;
}
#define ENTRY_IP(uc) ((uintptr_t)((ucontext_t *)(uc))->uc_mcontext.gregs[REG_RIP])
#else
/* Elsewhere the kernel restarts the call as it is (README, Limitations). */
static int restart_as_eintr(void *uc, uintptr_t ip0)
{
	(void)uc;
	(void)ip0;
	return 0;
}
#define ENTRY_IP(uc) 0
#endif

/*
 * zc_sig_restartable is 1 during the engine's call, 3 once a handler ran
 * there.  A delivery nested in this one (or a jump out of its handler) is
 * not at the call: it sees 0.  Two signals delivered at one return from
 * the call stack up their frames: the second runs first, its frame at the
 * first trampoline's entry, and leaves 3 for the first, whose frame holds
 * the call.
 */
static void trampoline(int sig, siginfo_t *si, void *uc)
{
	int armed = zc_sig_restartable;
	zc_sig_restartable = 0;
	unsigned ran = zc_sig_handlers_ran;
	uintptr_t ip0 = armed ? ENTRY_IP(uc) : 0;
	deliver(sig, si, uc);
	if (armed && ran != zc_sig_handlers_ran)
		armed |= 2;
	if ((armed & 2) && restart_as_eintr(uc, ip0))
		zc_sig_restart_wanted = 1;
	zc_sig_restartable = armed;
}

/* ---- the simple interfaces ------------------------------------------------
 * libc's own signal(), sigset(), ... call its internal sigaction, past our
 * wrapper: for a signal with a trampoline they are done here, as libc
 * defines them, through signals.c's sigaction. */

static unsigned char interrupts[_NSIG]; /* siginterrupt(sig, 1) in force */

__sighandler_t zc_sigdefer_simple(int sig, __sighandler_t h, int flags, int self_masked)
{
	struct sigaction sa, prev;
	if (zc_simple_action(&sa, sig, h, flags, self_masked) != 0)
		return SIG_ERR;
	if (zc_signals_deferred_action(sig, &sa, &prev) != 0)
		return SIG_ERR;
	/* sa_handler and sa_sigaction share storage: this is what libc
	 * returns for a handler installed with SA_SIGINFO. */
	return prev.sa_handler;
}

/* BSD semantics: the handler stays, the signal is blocked while it runs,
 * calls restart unless siginterrupt said not to. */
__sighandler_t zc_sigdefer_signal(int sig, __sighandler_t h)
{
	return zc_sigdefer_simple(sig, h, interrupts[sig] ? 0 : SA_RESTART, 1);
}

/* System V sigset(): SIG_HOLD blocks the signal; any other disposition is
 * installed and unblocks it.  SIG_HOLD is returned if it was blocked. */
__sighandler_t zc_sigdefer_sigset(int sig, __sighandler_t disp)
{
	sigset_t set, oset;
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (disp == SIG_HOLD) {
		struct sigaction cur;
		if (REAL(sigprocmask)(SIG_BLOCK, &set, &oset) < 0)
			return SIG_ERR;
		if (sigismember(&oset, sig))
			return SIG_HOLD;
		if (zc_signals_deferred_action(sig, NULL, &cur) != 0)
			return SIG_ERR;
		return cur.sa_handler;
	}
	__sighandler_t prev = zc_sigdefer_simple(sig, disp, 0, 0);
	if (prev == SIG_ERR || REAL(sigprocmask)(SIG_UNBLOCK, &set, &oset) < 0)
		return SIG_ERR;
	return sigismember(&oset, sig) ? SIG_HOLD : prev;
}

/* siginterrupt() changes SA_RESTART of the disposition in place, and
 * whether later signal() calls set it. */
int zc_sigdefer_siginterrupt(int sig, int interrupt)
{
	struct sigaction sa;
	if (zc_signals_deferred_action(sig, NULL, &sa) != 0)
		return -1;
	interrupts[sig] = interrupt != 0;
	if (interrupt)
		sa.sa_flags &= ~SA_RESTART;
	else
		sa.sa_flags |= SA_RESTART;
	return zc_signals_deferred_action(sig, &sa, NULL) != 0 ? -1 : 0;
}
