/*
 * bus_setters - sets SIGBUS's disposition in every way libc offers
 * (sysv_signal, __sysv_signal, bsd_signal, signal, sigset, sigignore,
 * siginterrupt) while copying a file, and after each reads it back with
 * sigaction(): handler, flags and whether SIGBUS is in sa_mask, and whether
 * SIGBUS is blocked.  Sent SIGBUSes show which handler runs (a one-shot
 * handler runs once) and that an ignored one is ignored.
 *
 * usage: bus_setters SRC DST
 */
#include <signal.h>

#include "zt.h"

/* sigset, sigignore and siginterrupt are what this program is about. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* Still in libc, no longer in its headers. */
extern __sighandler_t bsd_signal(int, __sighandler_t);

static void h1(int sig)
{
	(void)sig;
	if (write(1, "h1 ran\n", 7) != 7)
		_exit(8);
}

static void h2(int sig)
{
	(void)sig;
	if (write(1, "h2 ran\n", 7) != 7)
		_exit(8);
}

static const char *name(__sighandler_t h)
{
	static const struct {
		__sighandler_t h;
		const char *name;
	} known[] = { { SIG_DFL, "SIG_DFL" }, { SIG_IGN, "SIG_IGN" }, { SIG_ERR, "SIG_ERR" },
		      { SIG_HOLD, "SIG_HOLD" }, { h1, "h1" },           { h2, "h2" } };
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (h == known[i].h)
			return known[i].name;
	return "other";
}

static void show(const char *step, __sighandler_t ret)
{
	struct sigaction now;
	sigset_t blocked;
	if (sigaction(SIGBUS, NULL, &now) != 0)
		zt_die("sigaction query");
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	printf("%-26s returned %-8s now %-7s flags %#x mask-has-bus %d blocked %d\n", step,
	       name(ret), name(now.sa_handler), (unsigned)now.sa_flags,
	       sigismember(&now.sa_mask, SIGBUS), sigismember(&blocked, SIGBUS));
	fflush(stdout);
}

static void send_bus(void)
{
	fflush(stdout);
	kill(getpid(), SIGBUS);
}

static void copy(int in, int out, unsigned char *buf, int chunks)
{
	for (int i = 0; i < chunks; i++) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			return;
		zt_put(out, buf, (size_t)n);
	}
}

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 2, "bus_setters SRC DST", &in, &out);
	unsigned char *buf = zt_map_anon(ZT_CHUNK);
	/* Under zcopy its SIGBUS handler is in place and the copy engaged. */
	copy(in, out, buf, 8);

	show("sysv_signal(h1)", sysv_signal(SIGBUS, h1));
	send_bus();
	show("after one SIGBUS", SIG_ERR);
	copy(in, out, buf, 4);
	show("bsd_signal(h2)", bsd_signal(SIGBUS, h2));
	send_bus();
	show("siginterrupt(1)", siginterrupt(SIGBUS, 1) == 0 ? SIG_DFL : SIG_ERR);
	show("signal(h1)", signal(SIGBUS, h1));
	show("siginterrupt(0)", siginterrupt(SIGBUS, 0) == 0 ? SIG_DFL : SIG_ERR);
	copy(in, out, buf, 4);
	show("sigset(SIG_HOLD)", sigset(SIGBUS, SIG_HOLD));
	show("sigset(h2)", sigset(SIGBUS, h2));
	send_bus();
	show("sigignore", sigignore(SIGBUS) == 0 ? SIG_DFL : SIG_ERR);
	send_bus();
	printf("survived an ignored SIGBUS\n");
	copy(in, out, buf, 4);
	show("__sysv_signal(SIG_DFL)", __sysv_signal(SIGBUS, SIG_DFL));
	show("signal(SIG_ERR)", signal(SIGBUS, SIG_ERR));
	printf("errno %s\n", zt_errname(errno));
	show("sigset(h1)", sigset(SIGBUS, h1));
	copy(in, out, buf, 1 << 20);
	printf("copied to %lld\n", zt_pos(out));
	return 0;
}
