/*
 * signals.c - SIGBUS on phantom pages.
 *
 * If another process truncates a file while phantom pages of it are mapped,
 * touching those pages raises SIGBUS.  zcopy keeps a SIGBUS handler of its own
 * installed (mode on only): a fault on a phantom page is answered with a zero
 * page and the program continues; any other SIGBUS goes to what the program
 * asked for, which our sigaction/signal wrappers record and report back as if
 * it were installed.
 *
 * The program must not be able to tell the difference, so our handler is
 * installed with the program's own sa_mask and SA_ONSTACK/SA_NODEFER/
 * SA_RESTART (the kernel then blocks and switches stacks exactly as for the
 * program's handler), and SA_RESETHAND is carried out by hand.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "guard.h"
#include "phantom.h"
#include "real.h"

#define ZC_EXPORT __attribute__((visibility("default")))

static volatile int ours;            /* our handler is installed */
static struct sigaction program_bus; /* what the program believes is installed */

#define MIRRORED (SA_ONSTACK | SA_NODEFER | SA_RESTART)

static void on_sigbus(int sig, siginfo_t *si, void *uc);

/* (Re)installs our handler with the attributes of the program's. */
static int install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_mask = program_bus.sa_mask;
	sa.sa_flags = SA_SIGINFO | (program_bus.sa_flags & MIRRORED);
	if (program_bus.sa_handler == SIG_DFL || program_bus.sa_handler == SIG_IGN)
		sa.sa_flags |= SA_NODEFER; /* nothing of the program's runs in it */
	return REAL(sigaction)(SIGBUS, &sa, NULL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (si && si->si_code == BUS_ADRERR && zc_phantom_sigbus((uintptr_t)si->si_addr))
		return;
	struct sigaction p = program_bus;
	int has_handler = (p.sa_flags & SA_SIGINFO) ? p.sa_sigaction != NULL
						    : (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN);
	if (has_handler) {
		if (p.sa_flags & SA_RESETHAND) {
			/* One-shot: later SIGBUS get the default action. */
			memset(&program_bus, 0, sizeof program_bus);
			program_bus.sa_handler = SIG_DFL;
			install();
		}
		if (p.sa_flags & SA_SIGINFO)
			p.sa_sigaction(sig, si, uc);
		else
			p.sa_handler(sig);
		return;
	}
	/* A sent SIGBUS the program ignores is ignored (a fault cannot be). */
	if (p.sa_handler == SIG_IGN && !(p.sa_flags & SA_SIGINFO) && (!si || si->si_code <= 0))
		return;
	/* Default action: restore it and let the fault happen again, or
	 * re-send a signal that was sent. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	REAL(sigaction)(SIGBUS, &dfl, NULL);
	ours = 0;
	if (!si || si->si_code <= 0)
		raise(sig);
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
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsegv;
	sa.sa_mask = program_segv.sa_mask;
	sa.sa_flags = SA_SIGINFO | (program_segv.sa_flags & MIRRORED);
	if (program_segv.sa_handler == SIG_DFL || program_segv.sa_handler == SIG_IGN)
		sa.sa_flags |= SA_NODEFER;
	return REAL(sigaction)(SIGSEGV, &sa, NULL);
}

static void on_sigsegv(int sig, siginfo_t *si, void *uc)
{
	if (si && si->si_code == SEGV_ACCERR && zc_guard_fault((uintptr_t)si->si_addr))
		return;
	struct sigaction p = program_segv;
	int has_handler = (p.sa_flags & SA_SIGINFO) ? p.sa_sigaction != NULL
						    : (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN);
	if (has_handler) {
		if (p.sa_flags & SA_RESETHAND) {
			memset(&program_segv, 0, sizeof program_segv);
			program_segv.sa_handler = SIG_DFL;
			install_segv();
		}
		if (p.sa_flags & SA_SIGINFO)
			p.sa_sigaction(sig, si, uc);
		else
			p.sa_handler(sig);
		return;
	}
	if (p.sa_handler == SIG_IGN && !(p.sa_flags & SA_SIGINFO) && (!si || si->si_code <= 0))
		return;
	/* Default action: a fault happens again with SIG_DFL in place (the
	 * kernel then kills with SIGSEGV and its core); a sent one is re-sent. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	REAL(sigaction)(SIGSEGV, &dfl, NULL);
	ours_segv = 0;
	if (!si || si->si_code <= 0)
		raise(sig);
}

void zc_guard_signals_init(void)
{
	if (REAL(sigaction)(SIGSEGV, NULL, &program_segv) == 0 && install_segv() == 0)
		ours_segv = 1;
}

static int segv_sigaction(const struct sigaction *act, struct sigaction *old)
{
	if (old)
		*old = program_segv;
	if (act) {
		program_segv = *act;
		install_segv();
	}
	return 0;
}

static __sighandler_t segv_signal(__sighandler_t h)
{
	if (h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	__sighandler_t prev = program_segv.sa_handler;
	memset(&program_segv, 0, sizeof program_segv);
	program_segv.sa_handler = h;
	program_segv.sa_flags = SA_RESTART;
	install_segv();
	return prev;
}

void zc_signals_init(void)
{
	if (REAL(sigaction)(SIGBUS, NULL, &program_bus) == 0 && install() == 0)
		ours = 1;
}

ZC_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig == SIGSEGV && ours_segv)
		return segv_sigaction(act, old);
	if (sig != SIGBUS || !ours)
		return REAL(sigaction)(sig, act, old);
	if (old)
		*old = program_bus;
	if (act) {
		program_bus = *act;
		install();
	}
	return 0;
}

ZC_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	if (sig == SIGSEGV && ours_segv)
		return segv_signal(h);
	if (sig != SIGBUS || !ours)
		return REAL(signal)(sig, h);
	if (h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	/* sa_handler and sa_sigaction share storage: this is what signal()
	 * itself would return for a handler installed with SA_SIGINFO. */
	__sighandler_t prev = program_bus.sa_handler;
	memset(&program_bus, 0, sizeof program_bus);
	program_bus.sa_handler = h;
	program_bus.sa_flags = SA_RESTART; /* glibc's signal() has BSD semantics */
	install();
	return prev;
}
