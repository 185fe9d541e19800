/*
 * nb_pipe - copies a file into a non-blocking pipe whose reader (a forked
 * child) is slow, handling EAGAIN with poll() and resuming after partial
 * writes (event-driven servers and pv/mbuffer do this).  The reader stores
 * what it gets in DST.
 *
 * usage: nb_pipe SRC DST
 * Prints the bytes written.  The numbers of EAGAINs and partial writes
 * depend on timing, so they go to the file "counts" in the current
 * directory (the test checks they happened, without comparing them).
 */
#include <poll.h>
#include <sys/wait.h>
#include <time.h>

#include "zt.h"

static void slow_reader(int rfd, const char *dst)
{
	int out = zt_open_out(dst, 0);
	char *buf = zt_malloc(ZT_CHUNK);
	long long total = 0;
	struct timespec nap = { 0, 300 * 1000 };
	for (unsigned i = 0;; i++) {
		/* Odd-sized reads so the pipe frees space in uneven steps. */
		ssize_t n = zt_recv(rfd, buf, 3000 + (i % 7) * 5000, 0, "pipe read");
		if (n == 0)
			break;
		zt_put(out, buf, (size_t)n);
		total += n;
		nanosleep(&nap, NULL);
	}
	printf("reader got %lld\n", total);
	exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("nb_pipe SRC DST");
	int p[2];
	if (pipe(p) != 0)
		zt_die("pipe");
	pid_t pid = zt_fork_reader(p[1], p[0], slow_reader, argv[2]);
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) != 0)
		zt_die("fcntl");

	int in = zt_open_in(argv[1]);
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0, partial = 0;
	unsigned long eagain = 0;
	for (;;) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(p[1], buf + done, (size_t)(n - done));
			if (w < 0) {
				if (errno != EAGAIN)
					zt_die("write");
				eagain++;
				struct pollfd pf = { p[1], POLLOUT, 0 };
				if (poll(&pf, 1, -1) < 0 && errno != EINTR)
					zt_die("poll");
				continue;
			}
			if (w < n - done)
				partial++;
			done += w;
		}
		total += n;
	}
	close(p[1]);
	int ws;
	if (waitpid(pid, &ws, 0) != pid)
		zt_die("waitpid");
	printf("wrote %lld src_off %lld reader_status %d\n", total, zt_pos(in), ws);
	FILE *counts = fopen("counts", "w");
	if (!counts)
		zt_die("counts");
	fprintf(counts, "eagain %lu partial %lld\n", eagain, partial);
	fclose(counts);
	return 0;
}
