/*
 * cancelsig.c - glibc's cancellation signal, when it arrives in a thread
 * whose cancellation is disabled, only marks the thread cancelled.
 *
 * glibc 2.36 cancels a thread whose cancellation is enabled and
 * asynchronous by sending it SIGCANCEL (signal 32, which glibc keeps to
 * itself): pthread_cancel marks the thread "cancelling", then signals it,
 * and the signal's handler marks it cancelled and, if the thread's type is
 * asynchronous at that moment, ends it there.  The handler does not look at
 * the state again.  Between pthread_cancel's look and the signal's arrival
 * the thread may have gone into zcopy, which turns cancellation off (the
 * deferred type, then the disabled state: cancel.h) and may take the engine
 * lock; and every cancellable call of glibc's that zcopy then makes (pread,
 * splice, poll, close, a condition wait) makes the type asynchronous for
 * its duration, disabled or not.  The signal landing there ended the thread
 * holding the lock, and the next thread to want it waited for ever (about
 * one run in a hundred of cancel_copy's asynchronous workers on a loaded
 * machine).
 *
 * So zcopy puts a handler of its own in front of glibc's: where the
 * thread's cancellation is disabled, glibc's handler runs under the
 * deferred type (restored afterwards), and only marks the thread
 * cancelled; the cancel then acts where cancellation is enabled again
 * (zcopy's way out, cancel.h: at once, the program's type being
 * asynchronous).  Where it is enabled, glibc's handler runs as it is.
 * That is the POSIX rule (a cancel is held while cancellation is disabled),
 * and the way glibc's handler itself decides from 2.41 on.  For the
 * program's own code it changes one thing only: a thread that disables
 * cancellation just as another cancels it ends when it enables it again,
 * as it does when the other's pthread_cancel comes a moment later, instead
 * of in its disabled section.
 *
 * Blocking SIGCANCEL inside zcopy would not do: a cancellable call made
 * with the deferred type waits, on its way out, until a signal that
 * pthread_cancel announced has come (glibc's __pthread_disable_asynccancel),
 * and a blocked one never comes.
 *
 * glibc installs its handler (a static function of its own) at the
 * process's first pthread_cancel, with its own sigaction, and sends the
 * signal in the same call.  So zcopy's pthread_cancel, the first time,
 * makes glibc install it first, with a pthread_cancel of a short-lived
 * thread of its own that has cancellation disabled (it is only marked, and
 * returns), then puts its handler in front, with glibc's flags, mask and
 * restorer, by the raw system call: the program cannot read SIGCANCEL's
 * disposition (glibc's sigaction refuses the signal), and nothing else of
 * the program changes.  Only a handler that lies in the libc that
 * pthread_cancel comes from is taken over.  A process whose first
 * pthread_cancel does not go through zcopy's (a call from inside libc)
 * gets the front handler at the first one that does; one that zcopy stays
 * out of (out of scope, a second copy of the library) never gets it.
 * Nothing is added to zcopy's way in and out: the handler costs only when
 * a cancel's signal comes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cancel.h"
#include "log.h"
#include "real.h"
#include "wrap.h"

/* glibc's internal cancellation signal: the first real-time signal (its
 * SIGRTMIN starts two later). */
#define ZC_SIGCANCEL __SIGRTMIN

/* The kernel's layout of a disposition where it has a restorer field
 * (x86-64, i386, arm, aarch64; elsewhere glibc's handler stays alone). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void (*restorer)(void);
	unsigned char mask[8];
};

static void (*glibc_handler)(int, siginfo_t *, void *);
static int ready; /* the first pthread_cancel's set-up is done */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void front(int sig, siginfo_t *si, void *ctx)
{
	int state, type, ignored;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	if (state == PTHREAD_CANCEL_ENABLE) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &ignored);
		glibc_handler(sig, si, ctx);
		return;
	}
	/* Disabled: glibc's handler marks the thread cancelled and, seeing
	 * the deferred type, leaves it running.  The type comes back as the
	 * interrupted code had it (a cancellable call's temporary
	 * asynchronous type; with cancellation disabled that does not act). */
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
	glibc_handler(sig, si, ctx);
	if (type == PTHREAD_CANCEL_ASYNCHRONOUS)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &ignored);
}

static int query(struct ksigaction *k)
{
	memset(k, 0, sizeof *k);
	return (int)syscall(SYS_rt_sigaction, ZC_SIGCANCEL, NULL, k, sizeof k->mask);
}

/* A thread of ours whose only act is glibc's first pthread_cancel. */
static void *installer(void *arg)
{
	(void)arg;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	REAL(pthread_cancel)(pthread_self());
	return NULL;
}

static void make_glibc_install(void)
{
	pthread_attr_t a;
	sigset_t all;
	pthread_t t;
	sigfillset(&all);
	if (pthread_attr_init(&a) != 0)
		return;
	/* Born with every signal blocked: no handler of the program's runs
	 * in it. */
	if (pthread_attr_setsigmask_np(&a, &all) == 0 && pthread_create(&t, &a, installer, NULL) == 0)
		pthread_join(t, NULL);
	pthread_attr_destroy(&a);
}

/* Is h a function of the libc pthread_cancel comes from? */
static int in_libc(void *h)
{
	Dl_info hi, ci;
	return dladdr(h, &hi) != 0 && dladdr((void *)REAL(pthread_cancel), &ci) != 0 &&
	       hi.dli_fbase == ci.dli_fbase;
}

static void set_up(void)
{
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__)
	struct ksigaction k;
	int saved = errno;
	/* Not glibc's yet: the default, or ignored as a process may inherit
	 * it (GNU make ignores signals 32 and 33 and its commands inherit
	 * that); glibc's first pthread_cancel puts its handler over either. */
	if (query(&k) == 0 && (k.handler == (void *)SIG_DFL || k.handler == (void *)SIG_IGN)) {
		make_glibc_install();
		if (query(&k) != 0)
			k.handler = (void *)SIG_DFL;
	}
	if (k.handler != (void *)SIG_DFL && k.handler != (void *)SIG_IGN &&
	    k.handler != (void *)front && (k.flags & SA_SIGINFO) && in_libc(k.handler)) {
		glibc_handler = (void (*)(int, siginfo_t *, void *))k.handler;
		k.handler = (void *)front;
		if (syscall(SYS_rt_sigaction, ZC_SIGCANCEL, &k, NULL, sizeof k.mask) == 0)
			zc_log(2, "cancellation signal: a handler in front of glibc's");
		else
			zc_log(1, "cancellation signal: glibc's handler left alone (%s)", strerror(errno));
	} else {
		zc_log(1, "cancellation signal: glibc's handler left alone (found %p, flags %#lx)",
		       k.handler, k.flags);
	}
	errno = saved;
#endif
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

ZC_EXPORT int pthread_cancel(pthread_t th)
{
	/* (A process zcopy stays out of never gets the front handler.) */
	if (unlikely(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) && zc_ready) {
		/* (pthread_join is a cancellation point; pthread_cancel none.) */
		int c = zc_cancel_off();
		pthread_once(&once, set_up);
		zc_cancel_on(c);
	}
	return REAL(pthread_cancel)(th);
}
