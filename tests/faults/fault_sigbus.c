/*
 * fault_sigbus - a program with its own SIGBUS handler, provoking real
 * SIGBUSes on a mapping of its own while it copies a file (so that, under
 * libzcopy, phantom pages are alive in its buffer when the faults happen).
 *
 * usage: fault_sigbus HOW[+mask] SRC DST
 *   HOW  sigaction  handler installed with sigaction(), sa_mask = {SIGUSR1}
 *        siginfo    the same with SA_SIGINFO; the handler checks si_code and
 *                   si_addr
 *        signal     handler installed with signal()
 *        resethand  sigaction() with SA_RESETHAND: the second fault kills
 *        fixup      the handler grows the file back and returns, so the
 *                   faulting access is retried and succeeds (as databases
 *                   that map their files do)
 *        default    no handler: the first fault kills
 *        none       no fault at all (the copy alone, to measure engagement)
 *   +mask  the handler also reports its signal mask: whether SIGBUS (blocked
 *          while a handler runs unless SA_NODEFER) and SIGUSR1 (in sa_mask
 *          for sigaction) are blocked
 *
 * The copy reads chunk 4 (128 KiB chunks), then provokes two faults (maps two
 * pages of a file of its own, truncates the file, touches the second page),
 * then writes chunk 4 and finishes.  The handler prints "caught" and what it
 * saw (with SA_SIGINFO the fault's code and address; with +mask its signal
 * mask) and leaves with siglongjmp.  stdout, compared between runs:
 * those lines, "after fault K", and "total N".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#include "zt.h"

static sigjmp_buf env;
static volatile char *fault_addr;
static volatile int fault_fd = -1;
static int show_mask;

/* Async-signal-safe output of a constant string. */
static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(8);
}

/* What the handler sees of its signal mask: the kernel blocks sa_mask and,
 * without SA_NODEFER, the signal itself while a handler runs. */
static void report_mask(void)
{
	if (!show_mask)
		return;
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	say(sigismember(&cur, SIGBUS) ? " bus-blocked" : " bus-unblocked");
	say(sigismember(&cur, SIGUSR1) ? " usr1-blocked" : " usr1-unblocked");
}

static void on_bus(int sig)
{
	say(sig == SIGBUS ? "caught SIGBUS" : "caught other");
	report_mask();
	say("\n");
	siglongjmp(env, 1);
}

static void on_bus_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	say(sig == SIGBUS ? "caught SIGBUS" : "caught other");
	say(si && si->si_code == BUS_ADRERR ? " BUS_ADRERR" : " other-code");
	say(si && si->si_addr == (void *)fault_addr ? " addr-ok" : " addr-wrong");
	report_mask();
	say("\n");
	siglongjmp(env, 1);
}

static void on_bus_fixup(int sig)
{
	say(sig == SIGBUS ? "caught SIGBUS, growing the file back" : "caught other");
	report_mask();
	say("\n");
	if (ftruncate(fault_fd, 2 * ZT_PAGE) != 0)
		_exit(9);
}

static void install(const char *how)
{
	struct sigaction sa, back;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	if (strcmp(how, "signal") == 0) {
		if (signal(SIGBUS, on_bus) == SIG_ERR)
			zt_die("signal");
		/* signal() returns the handler it replaces. */
		printf("signal returns previous %s\n",
		       signal(SIGBUS, on_bus) == on_bus ? "ok" : "wrong");
		return;
	}
	if (strcmp(how, "fixup") == 0) {
		sa.sa_handler = on_bus_fixup;
	} else if (strcmp(how, "sigaction") == 0 || strcmp(how, "resethand") == 0) {
		sa.sa_handler = on_bus;
		sa.sa_flags = strcmp(how, "resethand") == 0 ? SA_RESETHAND : 0;
	} else if (strcmp(how, "siginfo") == 0) {
		sa.sa_sigaction = on_bus_info;
		sa.sa_flags = SA_SIGINFO;
	} else {
		return; /* default, none */
	}
	if (sigaction(SIGBUS, &sa, NULL) != 0)
		zt_die("sigaction");
	/* The installed action reads back as it was set. */
	if (sigaction(SIGBUS, NULL, &back) != 0)
		zt_die("sigaction query");
	int same = back.sa_handler == sa.sa_handler && sigismember(&back.sa_mask, SIGUSR1);
	printf("sigaction reads back %s\n", same ? "ok" : "wrong");
}

/* One real SIGBUS: a shared mapping of a file, the file truncated to
 * nothing, the second page touched. */
static void provoke(int k)
{
	char name[64];
	snprintf(name, sizeof name, "own-%d.map", k);
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 2 * ZT_PAGE) != 0)
		zt_die(name);
	char *p = mmap(NULL, 2 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		zt_die("mmap");
	if (ftruncate(fd, 0) != 0)
		zt_die("ftruncate");
	fault_addr = p + ZT_PAGE + 8;
	fault_fd = fd;
	fflush(stdout);
	if (sigsetjmp(env, 1) == 0) {
		fault_addr[0] = 1;
		say(fault_addr[0] == 1 ? "access completed\n" : "access lost\n");
	}
	printf("after fault %d\n", k);
	munmap(p, 2 * ZT_PAGE);
	close(fd);
	unlink(name);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: fault_sigbus HOW SRC DST\n");
		return 98;
	}
	char how[32];
	snprintf(how, sizeof how, "%s", argv[1]);
	char *plus = strstr(how, "+mask");
	if (plus) {
		*plus = 0;
		show_mask = 1;
	}
	install(how);
	int in = open(argv[2], O_RDONLY);
	int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0)
		zt_die("open");
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0;
	for (int chunk = 0;; chunk++) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		if (chunk == 4 && strcmp(how, "none") != 0) {
			provoke(1);
			provoke(2);
		}
		if (write(out, buf, (size_t)n) != n)
			zt_die("write");
		total += n;
	}
	printf("total %lld\n", total);
	return 0;
}
