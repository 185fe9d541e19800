/*
 * cancel_copy - worker threads that copy a file and are cancelled wherever
 * they happen to be (a thread pool shutting down its workers), then the
 * main thread's own copy.
 *
 * Each of ROUNDS rounds starts a worker that copies SRC (read/write of
 * 128 KiB chunks from a buffer in .bss, over and over) to a destination,
 * and cancels it 1 to 12 ms later (pthread_cancel, deferred: it acts at the
 * worker's next cancellation point, inside read or write or anywhere a
 * library makes one).  The destination goes round three kinds:
 *   0  /dev/null
 *   1  a pipe another thread drains
 *   2  a pipe nobody reads: the write waits, and is cancelled there
 * Then the main thread copies SRC to stdout the same way, calls
 * close_range(100, ~0U, 0) as a program that closes what it does not know
 * of, and prints the number of rounds to stderr.  Only that copy and the
 * line are compared; how far each worker got depends on the timing.
 *
 * With "async", the workers use asynchronous cancellation (a compute pool
 * that cancels its workers at once wherever they are).
 *
 * usage: cancel_copy SRC ROUNDS [async]
 */
#include <pthread.h>

#include "zt.h"

static char buf[ZT_CHUNK] __attribute__((aligned(4096)));
static const char *src;
static int async;

struct worker {
	int out;
};

/* The worker's source goes when the worker does (as a pool's would). */
static void close_source(void *fd)
{
	close((int)(intptr_t)fd);
}

static void *copier(void *arg)
{
	struct worker *w = arg;
	if (async)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	int in = zt_open_in(src);
	pthread_cleanup_push(close_source, (void *)(intptr_t)in);
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0)
			zt_die("read");
		if (n == 0) {
			lseek(in, 0, SEEK_SET);
			continue;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t k = write(w->out, buf + done, (size_t)(n - done));
			if (k < 0)
				zt_die("write");
			done += k;
		}
	}
	pthread_cleanup_pop(1);
	return NULL;
}

static void *drainer(void *arg)
{
	static char sink[65536];
	int fd = (int)(intptr_t)arg;
	while (read(fd, sink, sizeof sink) > 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "async") == 0))
		zt_usage("cancel_copy SRC ROUNDS [async]");
	src = argv[1];
	async = argc == 4;
	int rounds = atoi(argv[2]);
	int null = open("/dev/null", O_WRONLY), drained[2], full[2];
	pthread_t d;
	if (null < 0 || pipe(drained) != 0 || pipe(full) != 0 ||
	    pthread_create(&d, NULL, drainer, (void *)(intptr_t)drained[0]) != 0)
		zt_die("setup");
	unsigned seed = 12345;
	for (int r = 0; r < rounds; r++) {
		struct worker w = { r % 3 == 0 ? null : r % 3 == 1 ? drained[1] : full[1] };
		pthread_t t;
		void *res = NULL;
		if (pthread_create(&t, NULL, copier, &w) != 0)
			zt_die("pthread_create");
		seed = seed * 1103515245u + 12345u;
		zt_nap_us(1000 + (seed >> 8) % 11000);
		if (pthread_cancel(t) != 0 || pthread_join(t, &res) != 0)
			zt_die("cancel");
		if (res != PTHREAD_CANCELED) {
			printf("round %d: the worker ended with %p, not PTHREAD_CANCELED\n", r, res);
			return 1;
		}
		if (r % 3 == 2) {
			/* Empty the full pipe for the next round of its kind. */
			int fl = fcntl(full[0], F_GETFL);
			fcntl(full[0], F_SETFL, fl | O_NONBLOCK);
			while (read(full[0], buf, sizeof buf) > 0)
				;
			fcntl(full[0], F_SETFL, fl);
		}
	}
	int in = zt_open_in(src);
	for (;;) {
		ssize_t n = zt_read(in, buf, sizeof buf);
		if (n == 0)
			break;
		zt_put(1, buf, (size_t)n);
	}
	if (close_range(100, ~0U, 0) != 0)
		zt_die("close_range");
	close(drained[1]);
	pthread_join(d, NULL);
	fprintf(stderr, "rounds %d\n", rounds);
	return 0;
}
