/*
 * cancel_disabled - the cancellation signal of an asynchronous cancel
 * arrives after its thread disabled cancellation.
 *
 * A worker sets the asynchronous type; the main thread cancels it, which
 * with glibc is a SIGCANCEL sent to the worker.  The worker holds that
 * signal back for a moment (the raw rt_sigprocmask: glibc's own calls
 * refuse the signal), so that it arrives, deterministically, where a
 * loaded machine lets it arrive by chance: after the worker disabled
 * cancellation, inside a cancellable call (a ppoll whose mask lets it in;
 * in zcopy, one of the calls it makes under its engine lock).  The worker
 * prints a line when it gets past the call and then enables cancellation
 * again, where the cancel acts; the main thread prints how it ended.
 *
 * glibc 2.36's handler ends the thread inside the call, disabled as it is
 * (later glibc, and POSIX, let it run to the enable); so only a run under
 * zcopy, whose handler in front of glibc's keeps a thread with
 * cancellation disabled running, is compared with the expected text:
 *   the worker got past its disabled section
 *   the worker was cancelled
 *
 * usage: cancel_disabled
 */
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "zt.h"

static volatile int step;

/* glibc's cancellation signal, 32, in the kernel's mask (bit 31). */
static void hold_sigcancel(int how)
{
	unsigned long set = 1UL << 31;
	if (syscall(SYS_rt_sigprocmask, how, &set, NULL, sizeof set) != 0)
		zt_die("rt_sigprocmask");
}

static void *worker(void *arg)
{
	(void)arg;
	hold_sigcancel(SIG_BLOCK);
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	step = 1;
	while (step != 2) /* the main thread cancels */
		;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	sigset_t none;
	sigemptyset(&none);
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	ppoll(NULL, 0, &ts, &none); /* the signal comes in here */
	hold_sigcancel(SIG_UNBLOCK);
	printf("the worker got past its disabled section\n");
	fflush(stdout);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL); /* acts here */
	printf("the worker ran on past its enable\n");
	return NULL;
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		zt_usage("cancel_disabled");
	pthread_t t;
	void *res = NULL;
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		zt_die("pthread_create");
	while (step != 1)
		;
	if (pthread_cancel(t) != 0)
		zt_die("pthread_cancel");
	step = 2;
	if (pthread_join(t, &res) != 0)
		zt_die("pthread_join");
	printf("the worker was %s\n", res == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
	/* Where the signal's handler is, for a failure's message (stderr is
	 * not compared). */
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} k;
	Dl_info di;
	if (syscall(SYS_rt_sigaction, 32, NULL, &k, sizeof k.mask) == 0 && dladdr(k.handler, &di))
		fprintf(stderr, "SIGCANCEL's handler is in %s\n", di.dli_fname);
	return 0;
}
