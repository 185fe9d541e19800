/*
 * cancel_state - a thread's cancellation after reads and writes that end
 * in unusual ways: the program's cancellation state must come back as it
 * was, and the thread must end where and as it ends without zcopy.
 *
 *   readv SRC   a worker copies SRC to "out" (read and write), then makes
 *               a readv whose first piece is read-only memory (EFAULT); it
 *               prints its cancellation state, cancels itself and calls
 *               pthread_testcancel(): the main thread prints whether the
 *               worker ended there.
 *   jump SRC    a worker copies SRC to a pipe that a second thread drains
 *               for 8 MiB and then leaves full: the worker's write waits.
 *               SIGUSR1, whose handler siglongjmps out of that write (the
 *               classic timeout), ends the copy; the worker then uses
 *               the stack the copy used and calls pthread_exit(42), which
 *               unwinds its stack.
 *   jumpreadv SRC  the main thread copies SRC to /dev/null with readv (8
 *               pieces of 128 KiB) and a write per piece, under a 300 us
 *               interval timer whose handler siglongjmps out of readv when
 *               it lands inside one; after each such jump it reads its
 *               cancellation state back, and stops at the first that is
 *               not what it set (or after 40 jumps).
 *   cancelsock SRC  the same as jump with a UNIX stream socket in place of
 *               the pipe, and pthread_cancel in place of the jump: the
 *               main thread waits up to 3 s for the worker to end, then
 *               copies SRC to "out" and calls close_range(100, ~0U, 0)
 *               (what the worker held must have been given back).
 *   cancelfile SRC  40 rounds: a worker copies SRC to a file "tornN", each
 *               write all but the first 100 bytes of a 128 KiB chunk (a
 *               plain stretch, then whole pages), and is cancelled 0.2 to
 *               3.2 ms after it started.  The kernel makes a write to a
 *               regular file whole once it started, so each file holds a
 *               whole number of writes: the program prints how many rounds
 *               left one that does not.
 *   jumpstdio SRC  the same as jump with fread and fwrite (a stream on
 *               the pipe): the handler jumps out of fwrite.
 *   jumpsock SRC  the same with the worker reading a UNIX stream socket
 *               that a second thread fills with 8 MiB of SRC and then
 *               stops feeding, and writing to "out": the worker's read
 *               waits when SIGUSR1 comes.
 *
 * usage: cancel_state readv|jump|jumpstdio|jumpsock|jumpreadv|cancelsock|cancelfile SRC
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "zt.h"

#define FEED (8LL << 20)

static char buf[ZT_CHUNK] __attribute__((aligned(4096)));
static const char *src;
static sigjmp_buf env;
static int ends[2];
static volatile int fed;

/* The calling thread's cancellation state, read back unchanged. */
static int cancel_state(void)
{
	int state, ignored;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	pthread_setcancelstate(state, &ignored);
	return state;
}

static void *readv_worker(void *arg)
{
	(void)arg;
	int in = zt_open_in(src), out = zt_open_out("out", 0);
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0)
			zt_die("read");
		if (n == 0)
			break;
		zt_put(out, buf, (size_t)n);
	}
	/* A readv that fails on its first piece. */
	lseek(in, 0, SEEK_SET);
	void *ro = mmap(NULL, ZT_CHUNK, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		zt_die("mmap");
	struct iovec bad[2] = { { ro, ZT_CHUNK }, { buf, ZT_PAGE } };
	ssize_t r = readv(in, bad, 2);
	int e = errno;
	printf("readv %zd %s; cancellation %s\n", r, r < 0 ? zt_errname(e) : "-",
	       cancel_state() == PTHREAD_CANCEL_ENABLE ? "enabled" : "disabled");
	fflush(stdout);
	pthread_cancel(pthread_self());
	pthread_testcancel();
	printf("the worker ran on past its cancel\n");
	return NULL;
}

static char vbuf[8 * ZT_CHUNK] __attribute__((aligned(4096)));
static volatile sig_atomic_t in_readv;

static void on_alrm(int sig)
{
	(void)sig;
	if (in_readv) {
		in_readv = 0;
		siglongjmp(env, 1);
	}
}

/* One readv of 8 pieces and a write of each piece. */
static __attribute__((noinline)) void readv_round(int in, int null)
{
	struct iovec v[8];
	for (int i = 0; i < 8; i++)
		v[i] = (struct iovec){ vbuf + i * ZT_CHUNK, ZT_CHUNK };
	in_readv = 1;
	ssize_t n = readv(in, v, 8);
	in_readv = 0;
	if (n < 0)
		zt_die("readv");
	if (n == 0)
		lseek(in, 0, SEEK_SET);
	for (ssize_t done = 0; done < n; done += ZT_CHUNK)
		zt_put(null, vbuf + done, n - done < ZT_CHUNK ? (size_t)(n - done) : ZT_CHUNK);
}

static int jump_out_of_readv(void)
{
	static int in, null;
	static volatile int jumps;
	in = zt_open_in(src);
	null = open("/dev/null", O_WRONLY);
	signal(SIGALRM, on_alrm);
	struct itimerval it = { { 0, 300 }, { 0, 300 } };
	setitimer(ITIMER_REAL, &it, NULL);
	/* A few seconds at most, wherever the jumps land. */
	for (long round = 0; jumps < 40 && round < 20000; round++) {
		if (sigsetjmp(env, 1) == 0) {
			readv_round(in, null);
			continue;
		}
		jumps++;
		if (cancel_state() != PTHREAD_CANCEL_ENABLE)
			break;
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	printf("after jumps out of readv: cancellation %s\n",
	       cancel_state() == PTHREAD_CANCEL_ENABLE ? "enabled" : "disabled");
	fprintf(stderr, "jumps %d\n", jumps);
	return 0;
}

#define TORN_W (ZT_CHUNK - 100)

static void close_fd(void *fd)
{
	close((int)(intptr_t)fd);
}

static void *file_worker(void *arg)
{
	int in = zt_open_in(src), out = (int)(intptr_t)arg;
	pthread_cleanup_push(close_fd, (void *)(intptr_t)in);
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < (ssize_t)sizeof buf) {
			lseek(in, 0, SEEK_SET);
			continue;
		}
		if (write(out, buf + 100, TORN_W) != TORN_W)
			zt_die("write");
	}
	pthread_cleanup_pop(1);
	return NULL;
}

static int cancel_file_writers(void)
{
	unsigned seed = 4242;
	int torn = 0;
	for (int r = 0; r < 40; r++) {
		char name[32];
		snprintf(name, sizeof name, "torn%d", r);
		int out = zt_open_out(name, 0);
		pthread_t t;
		if (pthread_create(&t, NULL, file_worker, (void *)(intptr_t)out) != 0)
			zt_die("pthread_create");
		seed = seed * 1103515245u + 12345u;
		zt_nap_us(200 + (seed >> 8) % 3000);
		if (pthread_cancel(t) != 0 || pthread_join(t, NULL) != 0)
			zt_die("cancel");
		struct stat st;
		if (fstat(out, &st) != 0)
			zt_die("fstat");
		torn += st.st_size % TORN_W != 0;
		close(out);
		unlink(name);
	}
	printf("rounds that left a partial write: %d\n", torn);
	return 0;
}

static void on_usr1(int sig)
{
	(void)sig;
	siglongjmp(env, 1);
}

/* Reads FEED bytes of the pipe, then leaves it to fill up. */
static void *drainer(void *arg)
{
	static char sink[65536];
	(void)arg;
	long long left = FEED;
	while (left > 0) {
		ssize_t n = read(ends[0], sink, sizeof sink);
		if (n <= 0)
			break;
		left -= n;
	}
	fed = 1;
	return NULL;
}

/* Writes FEED bytes of SRC into the socket, then stops (and keeps it open). */
static void *feeder(void *arg)
{
	(void)arg;
	int in = zt_open_in(src);
	static char fbuf[ZT_CHUNK];
	long long left = FEED;
	while (left > 0) {
		ssize_t n = read(in, fbuf, sizeof fbuf);
		if (n <= 0) {
			lseek(in, 0, SEEK_SET);
			continue;
		}
		zt_put(ends[1], fbuf, (size_t)n);
		left -= n;
	}
	fed = 1;
	return NULL;
}

static volatile long long moved;

/* Copies until SIGUSR1's handler jumps out of it (a function of its own:
 * nothing of the jumping frame lives across the jump). */
static __attribute__((noinline)) void copy_until_jump(int sock)
{
	int in = sock ? ends[0] : zt_open_in(src);
	int out = sock ? zt_open_out("out", 0) : ends[1];
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0)
			zt_die("read");
		if (n == 0) {
			lseek(in, 0, SEEK_SET);
			continue;
		}
		zt_put(out, buf, (size_t)n);
		moved += n;
	}
}

/* Stack below the jump's target, as a program's next calls use it. */
static __attribute__((noinline)) void scrub(void)
{
	volatile char junk[65536];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)i;
}

/* The same through stdio. */
static __attribute__((noinline)) void fcopy_until_jump(void)
{
	FILE *in = fopen(src, "r"), *out = fdopen(ends[1], "w");
	if (!in || !out)
		zt_die("fopen");
	for (;;) {
		size_t n = fread(buf, 1, sizeof buf, in);
		if (n == 0) {
			rewind(in);
			continue;
		}
		if (fwrite(buf, 1, n, out) != n)
			zt_die("fwrite");
		moved += (long long)n;
	}
}

static int mode; /* 0 jump, 1 jumpsock, 2 jumpstdio, 3 cancelsock */

static void *jump_worker(void *arg)
{
	(void)arg;
	if (sigsetjmp(env, 1) == 0) {
		if (mode == 2)
			fcopy_until_jump();
		else
			copy_until_jump(mode == 1);
	}
	/* How far it got depends on the timing: not printed. */
	fprintf(stderr, "moved %lld\n", moved);
	scrub();
	pthread_exit((void *)42);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("cancel_state readv|jump|jumpstdio|jumpsock|jumpreadv|cancelsock|cancelfile SRC");
	src = argv[2];
	pthread_t t, helper;
	void *res = NULL;
	if (strcmp(argv[1], "readv") == 0) {
		if (pthread_create(&t, NULL, readv_worker, NULL) != 0 || pthread_join(t, &res) != 0)
			zt_die("worker");
		printf("worker %s\n", res == PTHREAD_CANCELED ? "cancelled" : "returned");
		return 0;
	}
	if (strcmp(argv[1], "jumpreadv") == 0)
		return jump_out_of_readv();
	if (strcmp(argv[1], "cancelfile") == 0)
		return cancel_file_writers();
	mode = strcmp(argv[1], "jump") == 0 ? 0 : strcmp(argv[1], "jumpsock") == 0 ? 1
		: strcmp(argv[1], "jumpstdio") == 0 ? 2 : strcmp(argv[1], "cancelsock") == 0 ? 3 : -1;
	if (mode < 0)
		zt_usage("cancel_state readv|jump|jumpstdio|jumpsock|jumpreadv|cancelsock|cancelfile SRC");
	int sock = mode == 1;
	signal(SIGUSR1, on_usr1);
	if ((mode == 1 || mode == 3 ? socketpair(AF_UNIX, SOCK_STREAM, 0, ends) : pipe(ends)) != 0 ||
	    pthread_create(&helper, NULL, sock ? feeder : drainer, NULL) != 0 ||
	    pthread_create(&t, NULL, jump_worker, NULL) != 0)
		zt_die("setup");
	pthread_join(helper, NULL);
	/* The worker is waiting in its write (read) by now. */
	zt_nap_us(100000);
	if (mode == 3) {
		/* Cancelled in its waiting write, as without zcopy; or not. */
		struct timespec until;
		pthread_cancel(t);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 3;
		int r = pthread_timedjoin_np(t, &res, &until);
		printf("worker %s\n", r != 0 ? "still waiting 3 s after its cancel"
			: res == PTHREAD_CANCELED ? "cancelled" : "returned");
		fflush(stdout);
		if (r != 0)
			return 0; /* (exit ends a worker still waiting) */
		int in = zt_open_in(src), out = zt_open_out("out", 0);
		zt_copy(in, out, buf, sizeof buf);
		if (close_range(100, ~0U, 0) != 0)
			zt_die("close_range");
		printf("copied\n");
		return 0;
	}
	pthread_kill(t, SIGUSR1);
	if (pthread_join(t, &res) != 0)
		zt_die("join");
	printf("worker exited with %ld\n", (long)(intptr_t)res);
	if (mode == 2) {
		/* Room for what the stream still holds, written at exit. */
		fcntl(ends[0], F_SETFL, O_NONBLOCK);
		while (read(ends[0], buf, sizeof buf) > 0)
			;
	}
	return 0;
}
