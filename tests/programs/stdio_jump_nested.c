/*
 * stdio_jump_nested - a signal handler's own fwrite while the program's
 * fwrite waits, and siglongjmp out of both.
 *
 * Stream A writes to pipe P1 (a setvbuf buffer of ABUF bytes, 0: glibc's
 * default), stream B to pipe P2 (default buffer); both pipes are full, so
 * each fwrite's first write, of the part that fills its stream's buffer,
 * waits.  A timer (SA_NODEFER | SA_RESTART) ticks every 100 ms:
 *   tick 1  the handler fwrites to B, which waits in turn;
 *   tick 2  leaves B by siglongjmp into the first handler, which returns,
 *           and A's write goes on waiting (MODE "both": leaves B and A at
 *           once, to main);
 *   tick 3  leaves A, to main.
 * glibc's buffers still hold each start (its write never ended), and the
 * streams write them before the next 10 bytes each.  MODE "one": P1 has
 * room for one page and tick 1 leaves A at once; with ABUF 8192 part of
 * the start went before the wait, and the buffer keeps all of it.  The
 * program prints what each pipe holds and then gets, and errno after the
 * jump (set to 0 before A's fwrite: the plain write never returned).  The chunks were first copied to DST
 * (a file), so that zcopy's stream is engaged.
 *
 * usage: stdio_jump_nested SRC DST ABUF [both|one]
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>

#include "zt.h"

#define CHUNK (64 * 1024)

static char buf[CHUNK] __attribute__((aligned(4096)));
static sigjmp_buf to_main, to_handler;
static volatile sig_atomic_t ticks;
static FILE *pb;
static int both, one;

static void on_tick(int sig)
{
	(void)sig;
	int t = ++ticks;
	if (one)
		siglongjmp(to_main, 1);
	if (t == 1) {
		if (sigsetjmp(to_handler, 1) == 0)
			fwrite(buf, 1, CHUNK, pb);
		return; /* back to A's write */
	}
	if (t == 2)
		siglongjmp(both ? to_main : to_handler, 1);
	if (t == 3)
		siglongjmp(to_main, 1);
}

/* A pipe of 16 pages whose reading end does not block. */
static void make_pipe(int p[2])
{
	if (pipe(p) != 0 || fcntl(p[1], F_SETPIPE_SZ, 16 * 4096) < 0 ||
	    fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
		zt_die("pipe");
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5)
		zt_usage("stdio_jump_nested SRC DST ABUF [both|one]");
	FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
	int abuf = atoi(argv[3]);
	both = argc == 5 && strcmp(argv[4], "both") == 0;
	one = argc == 5 && strcmp(argv[4], "one") == 0;
	int p1[2], p2[2];
	make_pipe(p1);
	make_pipe(p2);
	FILE *pa = fdopen(p1[1], "wb");
	pb = fdopen(p2[1], "wb");
	static char abuffer[CHUNK];
	if (!in || !out || !pa || !pb || (abuf && setvbuf(pa, abuffer, _IOFBF, (size_t)abuf) != 0))
		zt_die("setup");
	for (int i = 0; i < 8; i++)
		if (fread(buf, 1, CHUNK, in) != CHUNK || fwrite(buf, 1, CHUNK, out) != CHUNK)
			zt_die("warm-up");
	if (fflush(out) != 0 || fwrite("a", 1, 1, pa) != 1 || fflush(pa) != 0 ||
	    fwrite("b", 1, 1, pb) != 1 || fflush(pb) != 0)
		zt_die("first bytes");
	zt_drain_report(p1[0], "P1 first");
	zt_drain_report(p2[0], "P2 first");
	zt_fill_pipe(p1[1], one ? 1 : 0);
	zt_fill_pipe(p2[1], 0);
	if (fread(buf, 1, CHUNK, in) != CHUNK)
		zt_die("fread");
	struct sigaction sa = { .sa_handler = on_tick, .sa_flags = SA_NODEFER | SA_RESTART };
	struct itimerval it = { { 0, 100000 }, { 0, 100000 } }, stop = { { 0, 0 }, { 0, 0 } };
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		zt_die("sigaction");
	if (sigsetjmp(to_main, 1) == 0) {
		if (setitimer(ITIMER_REAL, &it, NULL) != 0)
			zt_die("timer");
		errno = 0;
		size_t w = fwrite(buf, 1, CHUNK, pa);
		printf("A's fwrite returned %zu\n", w);
	} else {
		int e = errno;
		printf("A's fwrite left after %d ticks, errno %s\n", (int)ticks,
		       e ? zt_errname(e) : "0");
	}
	if (setitimer(ITIMER_REAL, &stop, NULL) != 0)
		zt_die("timer");
	zt_drain_report(p1[0], "P1");
	zt_drain_report(p2[0], "P2");
	clearerr(pa);
	clearerr(pb);
	if (fwrite("0123456789", 1, 10, pa) != 10 || fflush(pa) != 0 ||
	    fwrite("0123456789", 1, 10, pb) != 10 || fflush(pb) != 0)
		zt_die("fwrite after the jumps");
	zt_drain_report(p1[0], "P1 then");
	zt_drain_report(p2[0], "P2 then");
	return 0;
}
