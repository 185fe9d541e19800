/*
 * stdio_pipe_full - fwrite of 64 KiB chunks into a non-blocking pipe that
 * nobody reads, with room for exactly SLOTS pages: glibc writes the 4 KiB
 * block that fills its buffer (a unit: all of it or EAGAIN), then the
 * blocks, until EAGAIN.  The program prints each fwrite's count, ferror and
 * errno, then drains the pipe and prints how many bytes it held and their
 * hash, so every count and byte is compared with and without zcopy.
 *
 * The chunks are first copied to DST (a file) a few times, so that zcopy's
 * stream is engaged and the chunks written to the pipe are deferred reads.
 *
 * With "blocking", the pipe blocks and has room for one page, and a timer
 * signal (handler without SA_RESTART) comes every 300 ms: glibc's write of
 * the 4 KiB block goes at once, its write of the blocks waits and the first
 * signal ends it with EINTR.  The program prints how many signals came
 * before fwrite returned.
 *
 * usage: stdio_pipe_full SRC DST [blocking]
 */
#include <signal.h>
#include <sys/time.h>

#include "zt.h"

#define CHUNK (64 * 1024)

static char buf[CHUNK] __attribute__((aligned(4096)));

/* Drains the pipe: its byte count and hash. */
static void drain(int rd, const char *what)
{
	static char b[CHUNK];
	long long total = 0;
	uint64_t h = 14695981039346656037ull;
	ssize_t k;
	while ((k = read(rd, b, sizeof b)) > 0) {
		total += k;
		h = zt_fnv(h, b, (size_t)k);
	}
	printf("%s: drained %lld bytes, hash %016llx\n", what, total, (unsigned long long)h);
}

/* Fills the empty pipe but `slots` of its 16 pages, one small write each
 * (too small for zcopy). */
static void fill(int wr, int slots)
{
	static char page[4096];
	for (int i = 0; i < 16 - slots; i++)
		zt_put(wr, page, sizeof page);
}

static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

/* The blocking pipe with room for one page, and a signal every 300 ms. */
static void blocked(FILE *in, FILE *pw, int rd, int wr)
{
	struct sigaction sa = { .sa_handler = on_tick }; /* no SA_RESTART */
	struct itimerval it = { { 0, 300000 }, { 0, 300000 } }, off = { { 0, 0 }, { 0, 0 } };
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		zt_die("sigaction");
	fill(wr, 1);
	if (fread(buf, 1, CHUNK, in) != CHUNK)
		zt_die("fread");
	ticks = 0;
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		zt_die("setitimer");
	errno = 0;
	size_t w = fwrite(buf, 1, CHUNK, pw);
	int e = errno;
	int seen = ticks;
	setitimer(ITIMER_REAL, &off, NULL);
	printf("blocking, room 1 page: fwrite %zu ferror %d errno %s after %d signal(s)\n", w,
	       ferror(pw) != 0, e ? zt_errname(e) : "0", seen);
	drain(rd, "blocking");
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "blocking") == 0))
		zt_usage("stdio_pipe_full SRC DST [blocking]");
	int blocking = argc == 4;
	FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
	int p[2];
	if (!in || !out || pipe2(p, blocking ? 0 : O_NONBLOCK) != 0 ||
	    fcntl(p[1], F_SETPIPE_SZ, 16 * 4096) < 0)
		zt_die("setup");
	FILE *pw = fdopen(p[1], "wb");
	if (!pw)
		zt_die("fdopen");
	for (int i = 0; i < 8; i++) {
		if (fread(buf, 1, CHUNK, in) != CHUNK)
			zt_die("fread");
		if (fwrite(buf, 1, CHUNK, out) != CHUNK)
			zt_die("fwrite");
	}
	if (blocking) {
		/* The reading end never waits (it is its own open file). */
		if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
			zt_die("fcntl");
		/* The stream's buffer first: glibc's first fwrite makes it. */
		fill(p[1], 16);
		if (fwrite(buf, 1, 1, pw) != 1 || fflush(pw) != 0)
			zt_die("fwrite");
		drain(p[0], "first byte");
		blocked(in, pw, p[0], p[1]);
		return 0;
	}
	static const int slots[] = { 1, 0, 2, 15 }; /* (the first fwrite makes the buffer) */
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
		char what[32];
		snprintf(what, sizeof what, "room %d pages", slots[i]);
		fill(p[1], slots[i]);
		if (fread(buf, 1, CHUNK, in) != CHUNK)
			zt_die("fread");
		errno = 0;
		size_t w = fwrite(buf, 1, CHUNK, pw);
		int e = errno;
		printf("%s: fwrite %zu ferror %d errno %s\n", what, w, ferror(pw) != 0,
		       e ? zt_errname(e) : "0");
		clearerr(pw);
		drain(p[0], what);
	}
	fclose(in);
	if (fclose(out) != 0)
		zt_die("fclose");
	return 0;
}
