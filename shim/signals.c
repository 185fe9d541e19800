/*
 * signals.c - SIGBUS on phantom pages.
 *
 * If another process truncates a file while phantom pages of it are mapped,
 * touching those pages raises SIGBUS.  zcopy keeps a SIGBUS handler of its own
 * installed (mode on only): a fault on a phantom page is answered with a zero
 * page and the program continues; any other SIGBUS goes to what the program
 * asked for, which our wrappers record and report back as if it were
 * installed.  Every way libc offers to set or query a disposition is wrapped
 * for SIGBUS (sigaction, signal and its BSD and System V spellings, sigset,
 * sigignore, siginterrupt), so the program always reads back its own.
 *
 * The program must not be able to tell the difference, so our handler is
 * installed with the program's own sa_mask and SA_ONSTACK/SA_NODEFER/
 * SA_RESTART (the kernel then blocks and switches stacks exactly as for the
 * program's handler), and SA_RESETHAND is carried out by hand.
 *
 * While the program ignores SIGBUS, its SIG_IGN is what is installed, and
 * nothing is deferred.  An ignored disposition is the one exec keeps (a
 * handler becomes SIG_DFL in the new image, which is what ours becomes too),
 * so every exec, posix_spawn, system or popen child, however libc or the
 * program reaches the kernel, inherits exactly what it would without zcopy;
 * and with no phantom alive there is no fault for a handler of ours to
 * answer.  When the program stops ignoring SIGBUS, our handler comes back and
 * reads are deferred again.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "fatal.h"
#include "guard.h"
#include "phantom.h"
#include "real.h"
#include "signals.h"
#include "wrap.h"

static volatile int enabled;         /* mode on: the wrappers below keep SIGBUS */
static volatile int ours;            /* our handler is installed */
static struct sigaction program_bus; /* what the program believes is installed */
static int bus_interrupts;           /* siginterrupt(SIGBUS, 1) is in force */

/* What libc and the kernel add to every disposition they store (on x86-64
 * SA_RESTORER and glibc's restorer), learned from our own installation, so
 * that the program reads back exactly what it would without zcopy. */
static int added_flags;
static void (*added_restorer)(void);

#define MIRRORED (SA_ONSTACK | SA_NODEFER | SA_RESTART)

static void on_sigbus(int sig, siginfo_t *si, void *uc);

static int ignores(const struct sigaction *sa)
{
	return sa->sa_handler == SIG_IGN; /* the same bits whatever SA_SIGINFO says */
}

static int has_handler(const struct sigaction *sa)
{
	return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

/* (Re)installs our handler `ours_h` for sig with the attributes of the
 * program's disposition prog. */
static int install_as(int sig, void (*ours_h)(int, siginfo_t *, void *),
		      const struct sigaction *prog)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = ours_h;
	sa.sa_mask = prog->sa_mask;
	sa.sa_flags = SA_SIGINFO | (prog->sa_flags & MIRRORED);
	if (!has_handler(prog))
		sa.sa_flags |= SA_NODEFER; /* nothing of the program's runs in it */
	/* In guard mode SIGSEGV is never blocked while program code runs (a
	 * guarded page touched then would be fatal): the handler's view says
	 * what the program asked for (call_handler). */
	zc_sigmask_strip(&sa.sa_mask);
	if (sig == SIGSEGV && zc_sigmask_active)
		sa.sa_flags |= SA_NODEFER;
	return REAL(sigaction)(sig, &sa, NULL);
}

static int install(void)
{
	return install_as(SIGBUS, on_sigbus, &program_bus);
}

/*
 * Makes what is installed follow program_bus: our handler, or, while the
 * program ignores SIGBUS, its own SIG_IGN.  Reads are deferred only while our
 * handler is in place: before it goes, every phantom gets its bytes.
 */
static void apply(void)
{
	if (ignores(&program_bus)) {
		if (zc_ready)
			zc_read_min = SIZE_MAX; /* no new phantoms ... */
		zc_engine_all_files_changing(); /* ... and none left */
		REAL(sigaction)(SIGBUS, &program_bus, NULL);
		ours = 0;
		return;
	}
	if (install() == 0)
		ours = 1;
	if (zc_ready && zc_mode == ZC_MODE_ON)
		zc_read_min = zc_min_chunk;
}

/* The disposition as the kernel would store and report it. */
static void normalize(struct sigaction *sa)
{
	sa->sa_flags |= added_flags;
	sa->sa_restorer = added_restorer;
	sigdelset(&sa->sa_mask, SIGKILL);
	sigdelset(&sa->sa_mask, SIGSTOP);
}

/* Sets (act != NULL) and reports (old != NULL) the program's disposition. */
static void bus_action(const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev = program_bus;
	if (act) {
		program_bus = *act;
		normalize(&program_bus);
		apply();
	}
	if (old)
		*old = prev;
}

/* The program's handler p, called as the kernel would have called it; in
 * guard mode the thread's view of SIGSEGV is the one the kernel would have
 * installed for it (blocked by its sa_mask, or by being the signal handled). */
__thread int zc_sig_handler_depth __attribute__((tls_model("initial-exec")));

static void call_handler(const struct sigaction *p, int sig, siginfo_t *si, void *uc)
{
	int before = zc_segv_view;
	if (zc_sigmask_active)
		zc_segv_view = before || sigismember(&p->sa_mask, SIGSEGV) ||
			       (sig == SIGSEGV && !(p->sa_flags & SA_NODEFER));
	zc_sig_handler_depth++;
	if (p->sa_flags & SA_SIGINFO)
		p->sa_sigaction(sig, si, uc);
	else
		p->sa_handler(sig);
	zc_sig_handler_depth--;
	if (zc_sigmask_active) {
		int e = errno;
		zc_sigmask_set_view(before);
		errno = e;
	}
}

void zc_signals_call(const struct sigaction *p, int sig, siginfo_t *si, void *uc)
{
	call_handler(p, sig, si, uc);
}

/* The default action for a signal our handler cannot answer: SIG_DFL goes
 * back in place (*installed, our handler's flag, is cleared) and a fault
 * happens again, which the kernel then answers with its default action (a
 * core); a sent signal is sent again. */
static void default_action(int sig, const siginfo_t *si, volatile int *installed)
{
	zc_fatal_last_word(); /* the record first (fatal.c) */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	REAL(sigaction)(sig, &dfl, NULL);
	*installed = 0;
	if (!si || si->si_code <= 0)
		raise(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (si && si->si_code == BUS_ADRERR && zc_phantom_sigbus((uintptr_t)si->si_addr))
		return;
	struct sigaction p = program_bus;
	if (has_handler(&p)) {
		if (p.sa_flags & SA_RESETHAND) {
			/* One-shot: later SIGBUS get the default action (the
			 * kernel resets only the handler: flags and mask stay). */
			program_bus.sa_handler = SIG_DFL;
			install();
		}
		call_handler(&p, sig, si, uc);
		return;
	}
	/* A sent SIGBUS the program ignores is ignored (a fault cannot be);
	 * normally SIG_IGN itself is installed then, but a signal may arrive
	 * while it is being put in place. */
	if (ignores(&p) && (!si || si->si_code <= 0))
		return;
	default_action(SIGBUS, si, &ours);
}

/* ---- SIGSEGV on guarded pages (ZCOPY_GUARD=1) ---------------------------
 * The same arrangement for SIGSEGV: our handler answers faults on guarded
 * pages (guard.c gives the page its bytes and the access is retried); every
 * other SIGSEGV goes to what the program installed, with the mask, stack and
 * flags it asked for, or to the default action (death by SIGSEGV, with its
 * core).  A program handler that leaves by siglongjmp finds nothing of ours
 * held: the lock and zc_inside are released before it is called. */

static volatile int ours_segv;
static struct sigaction program_segv;

static void on_sigsegv(int sig, siginfo_t *si, void *uc);

static int install_segv(void)
{
	return install_as(SIGSEGV, on_sigsegv, &program_segv);
}

static void on_sigsegv(int sig, siginfo_t *si, void *uc)
{
	if (si && si->si_code == SEGV_ACCERR && zc_guard_fault((uintptr_t)si->si_addr))
		return;
	if (zc_segv_view) {
		/* The program believes this thread blocks SIGSEGV: a fault gets
		 * the default action (the kernel's answer to a blocked fault
		 * signal), a sent one waits until it is unblocked. */
		if (!si || si->si_code <= 0) {
			zc_sigmask_hold();
			return;
		}
		default_action(SIGSEGV, si, &ours_segv);
		return;
	}
	struct sigaction p = program_segv;
	int has_handler = (p.sa_flags & SA_SIGINFO) ? p.sa_sigaction != NULL
						    : (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN);
	if (has_handler) {
		if (p.sa_flags & SA_RESETHAND) {
			memset(&program_segv, 0, sizeof program_segv);
			program_segv.sa_handler = SIG_DFL;
			install_segv();
		}
		call_handler(&p, sig, si, uc);
		return;
	}
	if (p.sa_handler == SIG_IGN && !(p.sa_flags & SA_SIGINFO) && (!si || si->si_code <= 0))
		return;
	default_action(SIGSEGV, si, &ours_segv);
}

/* Exec leaves only SIG_DFL and SIG_IGN, but code can run before zcopy's
 * start: an executable's preinit_array, the constructor of a library that
 * the dynamic linker initializes first.  A handler it installed goes behind
 * the trampoline now, as if it were set after; it stayed the kernel's
 * handler, out of the lock's holding back and the restarts.  Only one that
 * libc's functions installed (libc's restorer, as zc_signals_init learned
 * it): one installed with the raw rt_sigaction may have a restorer of its
 * own, which installing it again through libc would replace, and it stays
 * as it is, as one installed that way later does (README). */
static void adopt_handlers(void)
{
	for (int sig = 1; sig < _NSIG && added_restorer; sig++) {
		struct sigaction cur;
		if (!zc_sigdefer_eligible(sig) || REAL(sigaction)(sig, NULL, &cur) != 0 ||
		    !has_handler(&cur) || zc_sigdefer_is_ours(&cur) ||
		    cur.sa_restorer != added_restorer)
			continue;
		(void)zc_signals_deferred_action(sig, &cur, NULL); /* refused: it stays */
	}
}

void zc_guard_signals_init(void)
{
	/* Started with SIGSEGV blocked (inherited at exec): guard mode stays
	 * off, since the program's threads would start and run with it blocked. */
	sigset_t now;
	if (REAL(pthread_sigmask)(SIG_BLOCK, NULL, &now) != 0 || sigismember(&now, SIGSEGV)) {
		zc_cfg.guard = 0;
		return;
	}
	if (REAL(sigaction)(SIGSEGV, NULL, &program_segv) == 0) {
		zc_sigmask_active = 1; /* before install_segv: it strips the mask */
		if (install_segv() == 0) {
			ours_segv = 1;
			/* The program's handlers from now on wait while their
			 * thread holds the engine lock (sigdefer.c). */
			zc_sigdefer_on = 1;
			adopt_handlers();
		}
		else
			zc_sigmask_active = 0;
	}
}

static int segv_sigaction(const struct sigaction *act, struct sigaction *old)
{
	if (old)
		*old = program_segv;
	if (act) {
		program_segv = *act;
		normalize(&program_segv); /* read back as the kernel reports it */
		install_segv();
	}
	return 0;
}

static int segv_interrupts; /* siginterrupt(SIGSEGV, 1) is in force */

/* The simple interfaces for SIGSEGV, as bus_simple for SIGBUS: every one
 * of them would otherwise replace zcopy's handler through libc's own
 * sigaction. */
int zc_simple_action(struct sigaction *sa, int sig, __sighandler_t h, int flags, int self_masked)
{
	if (h == SIG_ERR) {
		errno = EINVAL;
		return -1;
	}
	memset(sa, 0, sizeof *sa);
	sa->sa_handler = h;
	sigemptyset(&sa->sa_mask);
	if (self_masked)
		sigaddset(&sa->sa_mask, sig);
	sa->sa_flags = flags;
	return 0;
}

static __sighandler_t segv_simple(__sighandler_t h, int flags, int self_masked)
{
	struct sigaction sa, prev;
	if (zc_simple_action(&sa, SIGSEGV, h, flags, self_masked) != 0)
		return SIG_ERR;
	segv_sigaction(&sa, &prev);
	return prev.sa_handler;
}

static __sighandler_t segv_signal(__sighandler_t h)
{
	return segv_simple(h, segv_interrupts ? 0 : SA_RESTART, 1);
}

void zc_signals_init(void)
{
	struct sigaction probe;
	if (REAL(sigaction)(SIGBUS, NULL, &program_bus) != 0 || install() != 0)
		return;
	/* What our installation reads back beyond what we passed.  (If the
	 * program ignores SIGBUS, apply() puts its SIG_IGN back at once; a
	 * SIGBUS sent meanwhile is ignored by on_sigbus.) */
	if (REAL(sigaction)(SIGBUS, NULL, &probe) == 0) {
		added_flags = probe.sa_flags & ~(SA_SIGINFO | MIRRORED);
		added_restorer = probe.sa_restorer;
	}
	ours = 1;
	enabled = 1;
	apply();
}

int zc_signals_defer_ok(void)
{
	return !enabled || !ignores(&program_bus);
}

/* ---- the ways to set or query a disposition ---------------------------- */

/* A signal fatal.c stands in for is handed back to the program's own
 * disposition for the call (libc's function then reports and replaces that
 * one), and taken again if the call left it at SIG_DFL.  sig is the
 * enclosing function's. */
#define FATAL_AWARE(call)                    \
	({                                   \
		zc_fatal_release(sig);       \
		__typeof__(call) r_ = (call); \
		zc_fatal_retake(sig);        \
		r_;                          \
	})

/* One body for each family of twins, each twin with its own real function
 * (a twin calling the other would go through the PLT into our own wrapper). */
/* Signals whose handler the program installed with SIGSEGV in its sa_mask
 * (guard mode installs it without, sigmask.c). */
static unsigned char mask_held_segv[_NSIG];

/* Any other signal: the disposition as the program gave it, with SIGSEGV
 * kept out of its mask in guard mode (and reported back in it). */
static int plain_sigaction(int (*real)(int, const struct sigaction *, struct sigaction *), int sig,
			   const struct sigaction *act, struct sigaction *old)
{
	struct sigaction stripped;
	int had = 0, prev = sig > 0 && sig < _NSIG ? mask_held_segv[sig] : 0;
	if (act && zc_sigmask_active && sig > 0 && sig < _NSIG) {
		stripped = *act;
		had = zc_sigmask_strip(&stripped.sa_mask);
		if (had)
			act = &stripped;
	}
	zc_fatal_release(sig);
	int r = real(sig, act, old);
	zc_fatal_retake(sig);
	if (r == 0 && sig > 0 && sig < _NSIG) {
		if (old && prev)
			sigaddset(&old->sa_mask, SIGSEGV);
		if (act)
			mask_held_segv[sig] = (unsigned char)had;
	}
	return r;
}

/* A signal whose handlers wait while their thread holds the engine lock
 * (sigdefer.c): a handler goes in behind the trampoline, with its mask and
 * flags, and the program's own disposition is what is reported back while
 * the trampoline is in place. */
static int deferred_sigaction(int (*real)(int, const struct sigaction *, struct sigaction *),
			      int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction before, prog, tramp;
	const struct sigaction *use = act;
	zc_sigdefer_program(sig, &before);
	if (act) {
		prog = *act;
		normalize(&prog);
		zc_sigdefer_set(sig, &prog, &tramp);
		if (has_handler(act))
			use = &tramp;
	}
	int r = plain_sigaction(real, sig, use, old);
	if (r != 0) {
		if (act)
			zc_sigdefer_set(sig, &before, &tramp); /* refused: as it was */
		return r;
	}
	if (old && zc_sigdefer_is_ours(old))
		*old = before;
	return 0;
}

int zc_signals_deferred_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	return deferred_sigaction(REAL(sigaction), sig, act, old);
}

static inline int sigaction_common(int (*real)(int, const struct sigaction *, struct sigaction *),
				   int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig == SIGSEGV && ours_segv)
		return segv_sigaction(act, old);
	if (sig == SIGBUS && enabled) {
		bus_action(act, old);
		return 0;
	}
	if (!act && zc_fatal_managed(sig)) {
		zc_fatal_query(sig, old); /* the program's SIG_DFL */
		return 0;
	}
	if (zc_sigdefer_eligible(sig))
		return deferred_sigaction(real, sig, act, old);
	return plain_sigaction(real, sig, act, old);
}

ZC_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction_common(REAL(sigaction), sig, act, old);
}

ZC_EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction_common(REAL(__sigaction), sig, act, old);
}

/* The simple interfaces set a handler with fixed attributes and return the
 * one replaced, as libc does. */
static __sighandler_t bus_simple(__sighandler_t h, int flags, int self_masked)
{
	struct sigaction sa, prev;
	if (zc_simple_action(&sa, SIGBUS, h, flags, self_masked) != 0)
		return SIG_ERR;
	bus_action(&sa, &prev);
	/* sa_handler and sa_sigaction share storage: this is what libc
	 * returns for a handler installed with SA_SIGINFO. */
	return prev.sa_handler;
}

/* signal() and bsd_signal(): BSD semantics (the handler stays, SIGBUS is
 * blocked while it runs, calls restart unless siginterrupt said not to). */
static inline __sighandler_t signal_common(__sighandler_t (*real)(int, __sighandler_t), int sig,
					   __sighandler_t h)
{
	if (sig == SIGSEGV && ours_segv)
		return segv_signal(h);
	if (zc_sigdefer_eligible(sig))
		return zc_sigdefer_signal(sig, h);
	if (sig != SIGBUS || !enabled)
		return FATAL_AWARE(real(sig, h));
	if (h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	return bus_simple(h, bus_interrupts ? 0 : SA_RESTART, 1);
}

ZC_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	return signal_common(REAL(signal), sig, h);
}

ZC_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	return signal_common(REAL(bsd_signal), sig, h);
}

/* sysv_signal() (what signal() is in strict standard modes): one-shot,
 * not blocked while it runs, no restart. */
static inline __sighandler_t sysv_common(__sighandler_t (*real)(int, __sighandler_t), int sig,
					 __sighandler_t h)
{
	if (sig == SIGSEGV && ours_segv)
		return segv_simple(h, SA_RESETHAND | SA_NODEFER, 0);
	if (zc_sigdefer_eligible(sig))
		return zc_sigdefer_simple(sig, h, SA_RESETHAND | SA_NODEFER, 0);
	if (sig != SIGBUS || !enabled)
		return FATAL_AWARE(real(sig, h));
	if (h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	return bus_simple(h, SA_RESETHAND | SA_NODEFER, 0);
}

ZC_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
{
	return sysv_common(REAL(__sysv_signal), sig, h);
}

ZC_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	return sysv_common(REAL(sysv_signal), sig, h);
}

/* System V sigset(): SIG_HOLD blocks the signal; any other disposition is
 * installed and unblocks it.  SIG_HOLD is returned if it was blocked. */
/* sigset() for SIGSEGV in guard mode: SIG_HOLD is the view's (sigmask.c),
 * any other disposition goes to the program's record. */
static __sighandler_t segv_sigset(__sighandler_t disp)
{
	int was_held = zc_segv_view;
	if (disp == SIG_HOLD) {
		zc_sigmask_set_view(1);
		return was_held ? SIG_HOLD : program_segv.sa_handler;
	}
	__sighandler_t prev = segv_simple(disp, 0, 0);
	zc_sigmask_set_view(0);
	return was_held ? SIG_HOLD : prev;
}

ZC_EXPORT __sighandler_t sigset(int sig, __sighandler_t disp)
{
	if (sig == SIGSEGV && ours_segv)
		return segv_sigset(disp);
	if (zc_sigdefer_eligible(sig))
		return zc_sigdefer_sigset(sig, disp);
	if (sig != SIGBUS || !enabled)
		return FATAL_AWARE(REAL(sigset)(sig, disp));
	sigset_t set, oset;
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	if (disp == SIG_HOLD) {
		if (REAL(sigprocmask)(SIG_BLOCK, &set, &oset) < 0)
			return SIG_ERR;
		return sigismember(&oset, SIGBUS) ? SIG_HOLD : program_bus.sa_handler;
	}
	__sighandler_t prev = bus_simple(disp, 0, 0);
	if (REAL(sigprocmask)(SIG_UNBLOCK, &set, &oset) < 0)
		return SIG_ERR;
	return sigismember(&oset, SIGBUS) ? SIG_HOLD : prev;
}

ZC_EXPORT int sigignore(int sig)
{
	if (sig == SIGSEGV && ours_segv) {
		segv_simple(SIG_IGN, 0, 0);
		return 0;
	}
	if (zc_sigdefer_eligible(sig))
		return zc_sigdefer_simple(sig, SIG_IGN, 0, 0) == SIG_ERR ? -1 : 0;
	if (sig != SIGBUS || !enabled)
		return FATAL_AWARE(REAL(sigignore)(sig));
	bus_simple(SIG_IGN, 0, 0);
	return 0;
}

/* siginterrupt() changes SA_RESTART of the disposition in place, and
 * whether later signal() calls set it. */
ZC_EXPORT int siginterrupt(int sig, int interrupt)
{
	if (sig == SIGSEGV && ours_segv) {
		struct sigaction sa = program_segv;
		segv_interrupts = interrupt != 0;
		if (interrupt)
			sa.sa_flags &= ~SA_RESTART;
		else
			sa.sa_flags |= SA_RESTART;
		segv_sigaction(&sa, NULL);
		return 0;
	}
	if (zc_sigdefer_eligible(sig))
		return zc_sigdefer_siginterrupt(sig, interrupt);
	if (sig != SIGBUS || !enabled)
		return FATAL_AWARE(REAL(siginterrupt)(sig, interrupt));
	struct sigaction sa = program_bus;
	bus_interrupts = interrupt != 0;
	if (interrupt)
		sa.sa_flags &= ~SA_RESTART;
	else
		sa.sa_flags |= SA_RESTART;
	bus_action(&sa, NULL);
	return 0;
}
