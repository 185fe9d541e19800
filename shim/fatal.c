/*
 * fatal.c - the record of a process that a signal kills.
 *
 * A process ended by a signal whose default action is to terminate it (a
 * server stopped with SIGTERM, Ctrl-C, a crash) runs no exit handler, so it
 * would leave no stats record.  For every such signal whose disposition the
 * program left at SIG_DFL, zcopy installs a handler of its own: it writes the
 * record (and removes the live page), puts SIG_DFL back and sends the signal
 * again, so the process dies of the same signal, with the same wait status
 * and the same core dump behaviour.  A fault (SIGSEGV, SIGILL, SIGFPE, a
 * SIGBUS fault) is not re-sent: returning with SIG_DFL in place makes the
 * faulting instruction run again and the kernel kill the process as it
 * would have.  SIGKILL and SIGSTOP cannot be caught: a process killed by
 * SIGKILL leaves no record.
 *
 * The program must not be able to tell.  Every way to read a disposition
 * reports the one the program would have (sigaction_common in signals.c
 * asks zc_fatal_query); every way to set one first hands the signal back
 * (the program's own disposition is installed again, so libc's own wrapper
 * then reports it as the previous one and installs the new one as usual),
 * and if the result is SIG_DFL again zcopy takes the signal back.  exec
 * resets a handled signal to SIG_DFL in the new image, which is what the
 * program had; a forked child keeps the handler and writes its own record.
 * A signal the program blocks stays blocked (sigwait, signalfd and
 * sigtimedwait users take it as before: no handler runs for it).  Our handler
 * blocks every signal while it runs, so nothing of the program's interrupts
 * the record; the re-sent signal is delivered when it returns.
 *
 * Installed in modes on and observe when there is a record to write
 * (ZCOPY_STATS) or a live page to remove; never in mode off.  SIGBUS in mode
 * on and SIGSEGV with guards belong to signals.c, whose handlers call
 * zc_fatal_last_word() before a default action.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "fatal.h"
#include "live.h"
#include "ownfd.h"
#include "pin.h"
#include "real.h"
#include "stats.h"

/* The signals whose default action ends the process (SIGTRAP is left to
 * debuggers). */
static const int fatal_sigs[] = {
	SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGBUS,    SIGFPE,  SIGSEGV, SIGPIPE,
	SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGSYS,
};

#define NSIG_TABLE 65
static volatile sig_atomic_t managed[NSIG_TABLE]; /* our handler is installed */
static char eligible[NSIG_TABLE];                 /* taken at start-up, may be again */
static struct sigaction program_view[NSIG_TABLE]; /* what the program would read back */

static void on_fatal(int sig, siginfo_t *si, void *uc);

/*
 * Puts the program's disposition back exactly as the kernel reported it.
 * libc's sigaction would add SA_RESTORER and its restorer, and the
 * program's next sigaction would then read back flags it never had (a
 * process starts with 0).  The kernel's own layout has a restorer field
 * where the architecture has SA_RESTORER; elsewhere libc adds nothing.
 */
static void put_back(int sig)
{
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__)
	struct {
		void *handler;
		unsigned long flags;
		void (*restorer)(void);
		unsigned char mask[8];
	} k;
	memset(&k, 0, sizeof k);
	k.handler = (void *)program_view[sig].sa_handler;
	k.flags = (unsigned long)(unsigned)program_view[sig].sa_flags;
	k.restorer = program_view[sig].sa_restorer;
	memcpy(k.mask, &program_view[sig].sa_mask, sizeof k.mask);
	if (syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask) == 0)
		return;
#endif
	REAL(sigaction)(sig, &program_view[sig], NULL);
}

void zc_fatal_last_word(void)
{
	/* A vfork child shares the parent's memory: the record and the live
	 * page it would write and remove are the parent's. */
	if (zc_in_vfork_child())
		return;
	int saved = errno;
	int inside = zc_inside;
	zc_inside = 1; /* anything the record needs is passed through */
	zc_stats_emit();
	zc_live_remove();
	zc_inside = inside;
	errno = saved;
}

static int take(int sig)
{
	struct sigaction cur, sa;
	if (sig <= 0 || sig >= NSIG_TABLE || REAL(sigaction)(sig, NULL, &cur) != 0 ||
	    cur.sa_handler != SIG_DFL || (cur.sa_flags & SA_SIGINFO))
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fatal;
	sigfillset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	program_view[sig] = cur;
	if (REAL(sigaction)(sig, &sa, NULL) != 0)
		return -1;
	managed[sig] = 1;
	return 0;
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig > 0 && sig < NSIG_TABLE && managed[sig]) {
		managed[sig] = 0;
		put_back(sig);
	}
	zc_fatal_last_word();
	/* A fault happens again on return, now with the default action; a
	 * sent signal is sent again and delivered when this handler returns
	 * (it is blocked until then). */
	if (!si || si->si_code <= 0 || (sig != SIGSEGV && sig != SIGBUS && sig != SIGILL &&
					sig != SIGFPE))
		raise(sig);
}

void zc_fatal_init(int skip_bus, int skip_segv)
{
	if (zc_cfg.mode == ZC_MODE_OFF || !zc_cfg.stats[0])
		return;
	/* The init of a PID namespace (a container's first process, unshare
	 * -pf) is not killed by a signal at SIG_DFL: the kernel discards it.
	 * A handler would take it instead, interrupt the call under way (a
	 * poll, a sleep: EINTR where the program saw nothing), write the
	 * record long before the end and remove the live page, and its
	 * re-sent signal would be discarded.  So init keeps its dispositions. */
	if (zc_pin_self() == 1) /* noted at start-up, before this */
		return;
	for (size_t i = 0; i < sizeof fatal_sigs / sizeof fatal_sigs[0]; i++) {
		int sig = fatal_sigs[i];
		if ((sig == SIGBUS && skip_bus) || (sig == SIGSEGV && skip_segv))
			continue;
		eligible[sig] = 1;
		take(sig);
	}
}

int zc_fatal_managed(int sig)
{
	return sig > 0 && sig < NSIG_TABLE && managed[sig];
}

void zc_fatal_query(int sig, struct sigaction *old)
{
	if (old)
		*old = program_view[sig];
}

void zc_fatal_release(int sig)
{
	if (!zc_fatal_managed(sig))
		return;
	int saved = errno;
	managed[sig] = 0;
	put_back(sig);
	errno = saved;
}

void zc_fatal_retake(int sig)
{
	if (sig > 0 && sig < NSIG_TABLE && eligible[sig] && !managed[sig]) {
		int saved = errno; /* the program reads the errno of its own call */
		take(sig);         /* only if its disposition is SIG_DFL again */
		errno = saved;
	}
}
