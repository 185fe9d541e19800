/*
 * sigmask.c - SIGSEGV kept out of every signal mask while guard mode is on,
 * with the program's own mask reported back.
 *
 * A touch of a guarded page raises SIGSEGV, which zcopy's handler answers
 * (signals.c, guard.c).  The kernel cannot deliver a fault to a thread that
 * blocks SIGSEGV: it resets the disposition to the default and kills the
 * process.  A worker thread that blocks every signal and checksums a buffer
 * another thread read into, a handler installed with a full sa_mask (libuv,
 * node and many C programs use sigfillset), a ppoll/pselect/sigsuspend whose
 * temporary mask blocks everything while a handler looks at the buffer: each
 * would die where the plain program runs on.  So every libc way to block
 * signals in a thread where program code then runs installs the set without
 * SIGSEGV, and the thread remembers whether the program believes it blocks
 * SIGSEGV (the program's view).  The calls that report a mask report the
 * view, and the view decides what happens to a SIGSEGV that is not zcopy's
 * (signals.c): a fault gets the default action, as the kernel gives it to a
 * thread that blocks SIGSEGV; a sent SIGSEGV is held until the view unblocks
 * it and is then raised again.  sigaction's sa_mask is handled in
 * signals.c's sigaction wrapper (one wrapper for every signal).
 *
 * Chosen per call:
 *  - sigprocmask, pthread_sigmask, sigblock, sigsetmask, siggetmask, sighold,
 *    sigrelse, sigset(SIGSEGV, SIG_HOLD): the set without SIGSEGV, the view
 *    reported (programs block everything routinely, node does at start-up:
 *    giving up guards there would give up guard mode for them);
 *  - sigsuspend, sigpause, ppoll, pselect, epoll_pwait(2): the temporary mask
 *    without SIGSEGV, the view follows it for the length of the call;
 *  - setcontext, swapcontext with a uc_sigmask that holds SIGSEGV (the
 *    program built that mask itself: getcontext records the installed one):
 *    every guarded page gets its bytes and guard mode stops for the process
 *    (the context's mask is the program's memory and is installed as it is);
 *  - a SIGSEGV mask inherited at exec: guard mode stays off for the process
 *    (signals.c).
 * glibc's own raw rt_sigprocmask calls (thread creation, posix_spawn, the
 * restore after siglongjmp) run no program code with the mask they set.
 *
 * Nothing here is active unless zcopy's SIGSEGV handler is installed (mode
 * on with guard mode): then every wrapper only passes its call on.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <ucontext.h>

#include "guard.h"
#include "real.h"
#include "signals.h"
#include "wrap.h"

volatile int zc_sigmask_active;
__thread int zc_segv_view __attribute__((tls_model("initial-exec")));
static __thread int held __attribute__((tls_model("initial-exec")));

#define SEGV_BIT (1 << (SIGSEGV - 1)) /* in the BSD int masks */

/* *out = *in without SIGSEGV; 1 if *in held it. */
static int strip(const sigset_t *in, sigset_t *out)
{
	*out = *in;
	if (!sigismember(in, SIGSEGV))
		return 0;
	sigdelset(out, SIGSEGV);
	return 1;
}

int zc_sigmask_strip(sigset_t *set)
{
	if (!zc_sigmask_active || !sigismember(set, SIGSEGV))
		return 0;
	sigdelset(set, SIGSEGV);
	return 1;
}

/* The view becomes v; a SIGSEGV held while it was blocked comes now, as the
 * kernel delivers a pending signal the moment it is unblocked. */
void zc_sigmask_set_view(int v)
{
	zc_segv_view = v;
	if (!v && held) {
		int saved = errno;
		held = 0;
		raise(SIGSEGV);
		errno = saved;
	}
}

void zc_sigmask_hold(void)
{
	held = 1;
}

/* After a real mask call that succeeded: old reports the view as it was,
 * and the view follows how/set. */
static void after(int how, int have_set, int had, int before, sigset_t *old)
{
	if (old && before)
		sigaddset(old, SIGSEGV);
	if (!have_set)
		return;
	if (how == SIG_BLOCK)
		zc_sigmask_set_view(before || had);
	else if (how == SIG_UNBLOCK)
		zc_sigmask_set_view(before && !had);
	else if (how == SIG_SETMASK)
		zc_sigmask_set_view(had);
}

/* One body for both: the set installed without SIGSEGV, the view kept.
 * (pthread_sigmask returns an error number, sigprocmask -1 and errno: both
 * return 0 on success.) */
static int set_mask(int (*real)(int, const sigset_t *, sigset_t *), int how,
		    const sigset_t *set, sigset_t *old)
{
	if (!zc_sigmask_active)
		return real(how, set, old);
	sigset_t s;
	int had = set ? strip(set, &s) : 0, before = zc_segv_view;
	int r = real(how, set ? &s : NULL, old);
	if (r == 0)
		after(how, set != NULL, had, before, old);
	return r;
}

ZC_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	return set_mask(REAL(sigprocmask), how, set, old);
}

ZC_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return set_mask(REAL(pthread_sigmask), how, set, old);
}

/* ---- the BSD and System V spellings ------------------------------------ */

ZC_EXPORT int sigblock(int mask)
{
	if (!zc_sigmask_active)
		return REAL(sigblock)(mask);
	int before = zc_segv_view;
	int r = REAL(sigblock)(mask & ~SEGV_BIT);
	if (r == -1)
		return r;
	if (mask & SEGV_BIT)
		zc_sigmask_set_view(1);
	return before ? r | SEGV_BIT : r;
}

ZC_EXPORT int sigsetmask(int mask)
{
	if (!zc_sigmask_active)
		return REAL(sigsetmask)(mask);
	int before = zc_segv_view;
	int r = REAL(sigsetmask)(mask & ~SEGV_BIT);
	if (r == -1)
		return r;
	zc_sigmask_set_view((mask & SEGV_BIT) != 0);
	return before ? r | SEGV_BIT : r;
}

ZC_EXPORT int siggetmask(void)
{
	int r = REAL(siggetmask)();
	return zc_sigmask_active && zc_segv_view && r != -1 ? r | SEGV_BIT : r;
}

ZC_EXPORT int sighold(int sig)
{
	if (sig != SIGSEGV || !zc_sigmask_active)
		return REAL(sighold)(sig);
	zc_sigmask_set_view(1);
	return 0;
}

ZC_EXPORT int sigrelse(int sig)
{
	if (sig != SIGSEGV || !zc_sigmask_active)
		return REAL(sigrelse)(sig);
	zc_sigmask_set_view(0);
	return 0;
}

/* ---- temporary masks: handlers run inside them -------------------------- */

/* Runs call with mask m (a const sigset_t * or NULL) stripped into the
 * local s_; the view follows the temporary mask for the length of the call. */
#define WITH_TEMP_MASK(m, call)                                     \
	({                                                          \
		sigset_t s_;                                        \
		const sigset_t *m_ = (m);                           \
		int before_ = zc_segv_view, on_ = 0;                \
		if (zc_sigmask_active && m_) {                      \
			on_ = 1;                                    \
			zc_segv_view = strip(m_, &s_);              \
			m_ = &s_;                                   \
		}                                                   \
		__typeof__(call) r_ = (call);                       \
		if (on_) {                                          \
			int e_ = errno;                             \
			zc_sigmask_set_view(before_);               \
			errno = e_;                                 \
		}                                                   \
		r_;                                                 \
	})

ZC_EXPORT int sigsuspend(const sigset_t *mask)
{
	return WITH_TEMP_MASK(mask, REAL(sigsuspend)(m_));
}

ZC_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	return WITH_TEMP_MASK(mask, REAL(ppoll)(fds, n, ts, m_));
}

ZC_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			  const sigset_t *mask, size_t fdslen)
{
	return WITH_TEMP_MASK(mask, REAL(__ppoll_chk)(fds, n, ts, m_, fdslen));
}

ZC_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
		      const sigset_t *mask)
{
	return WITH_TEMP_MASK(mask, REAL(pselect)(n, r, w, e, ts, m_));
}

ZC_EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout,
			  const sigset_t *mask)
{
	return WITH_TEMP_MASK(mask, REAL(epoll_pwait)(ep, ev, max, timeout, m_));
}

ZC_EXPORT int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *ts,
			   const sigset_t *mask)
{
	return WITH_TEMP_MASK(mask, REAL(epoll_pwait2)(ep, ev, max, ts, m_));
}

/* sigpause(mask) (BSD) and __sigpause(mask, 0): an int mask for the wait.
 * __sigpause(sig, 1) and __xpg_sigpause take the installed mask, which never
 * holds SIGSEGV. */
static int bsd_pause(int (*real)(int, int), int mask, int is_sig)
{
	if (!zc_sigmask_active || is_sig || !(mask & SEGV_BIT))
		return real(mask, is_sig);
	int before = zc_segv_view;
	zc_segv_view = 1;
	int r = real(mask & ~SEGV_BIT, 0);
	int e = errno;
	zc_sigmask_set_view(before);
	errno = e;
	return r;
}

static int real_sigpause(int mask, int is_sig)
{
	(void)is_sig;
	return REAL(sigpause)(mask);
}

/* <signal.h> names __xpg_sigpause sigpause under _GNU_SOURCE: this is the
 * exported BSD one. */
ZC_EXPORT int bsd_sigpause(int mask) __asm__("sigpause");
ZC_EXPORT int bsd_sigpause(int mask)
{
	return bsd_pause(real_sigpause, mask, 0);
}

ZC_EXPORT int __sigpause(int sig_or_mask, int is_sig)
{
	return bsd_pause(REAL(__sigpause), sig_or_mask, is_sig);
}

/* ---- contexts ------------------------------------------------------------ */

/* A context whose mask holds SIGSEGV: guarded pages get their bytes and no
 * new ones are made (guard.c); the mask is then installed as it is. */
static void context_mask(const ucontext_t *uc)
{
	if (zc_sigmask_active && uc && sigismember(&uc->uc_sigmask, SIGSEGV))
		zc_guard_stop("a context's signal mask blocks SIGSEGV");
	/* A context made by makecontext runs on the stack it names (a
	 * coroutine's, often malloc'd): never guarded.  (getcontext leaves
	 * uc_stack as it was; an absurd size is not taken for a stack.) */
	if (uc && uc->uc_stack.ss_sp && uc->uc_stack.ss_size &&
	    uc->uc_stack.ss_size <= ((size_t)1 << 30))
		zc_guard_never(uc->uc_stack.ss_sp, uc->uc_stack.ss_size, "a context's own stack");
}

/* A thread's stack the program supplies, and the alternate signal stack:
 * never guarded (the kernel writes signal frames there). */
ZC_EXPORT int pthread_attr_setstack(pthread_attr_t *attr, void *stack, size_t n)
{
	zc_guard_never(stack, n, "a thread stack of the program's own");
	return REAL(pthread_attr_setstack)(attr, stack, n);
}

ZC_EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
	if (ss && !(ss->ss_flags & SS_DISABLE))
		zc_guard_never(ss->ss_sp, ss->ss_size, "an alternate signal stack");
	return REAL(sigaltstack)(ss, old);
}

ZC_EXPORT int setcontext(const ucontext_t *uc)
{
	context_mask(uc);
	return REAL(setcontext)(uc);
}

ZC_EXPORT int swapcontext(ucontext_t *oucp, const ucontext_t *uc)
{
	context_mask(uc);
	int before = zc_segv_view;
	int r = REAL(swapcontext)(oucp, uc);
	/* Back here: oucp's mask, saved at the switch, is installed again, and
	 * with it the view of that moment. */
	if (zc_sigmask_active) {
		int e = errno;
		zc_sigmask_set_view(before);
		errno = e;
	}
	return r;
}

/* ---- leaving a handler by siglongjmp ------------------------------------ */

void zc_sigmask_jump(const struct __jmp_buf_tag *env)
{
	/* The mask saved by sigsetjmp is the installed one (glibc reads it
	 * itself), which never holds SIGSEGV. */
	if (zc_sigmask_active && env->__mask_was_saved)
		zc_sigmask_set_view(sigismember(&env->__saved_mask, SIGSEGV));
}
