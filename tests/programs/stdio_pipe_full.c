/*
 * stdio_pipe_full - fwrite of 64 KiB chunks into a non-blocking pipe that
 * nobody reads, with room for exactly SLOTS pages: glibc writes the 4 KiB
 * block that fills its buffer (a unit: all of it or EAGAIN), then the
 * blocks, until EAGAIN.  The program prints each fwrite's count, ferror and
 * errno, then drains the pipe and prints how many bytes it held and their
 * hash, so every count and byte is compared with and without zcopy.
 * Room -1: one slot left, holding 100 bytes (4 KiB less 100 bytes of room
 * in its page, no free slot): a write of a whole page does not go into it.
 *
 * The chunks are first copied to DST (a file) a few times, so that zcopy's
 * stream is engaged and the chunks written to the pipe are deferred reads.
 * DST "-": they are written into the pipe itself instead (each drained at
 * once), so that the stream's destination is a pipe from the start and
 * zcopy reads the later chunks into a pipe of its own (its pages guarded),
 * which the fwrite then splices out.
 *
 * With a MODE, the pipe blocks (its reading end does not: it is its own
 * open file) and the stream has its buffer; each mode prints fwrite's
 * count, ferror, errno and the signals that came, then what the pipe
 * holds, then (where the reader is still there) the count of one more
 * chunk written into the drained pipe, which goes whole:
 *   blocking  room for one page, a signal (no SA_RESTART) every 100 ms:
 *             glibc's write of the 4 KiB block that fills its buffer goes
 *             at once, its write of the blocks waits, and the first signal
 *             ends it with EINTR: 4096, one signal;
 *   dirty     as blocking, after the program changed a byte in each of
 *             the chunk's first two pages (they go from its memory, the
 *             first by a write of its own);
 *   oddread   as blocking, the chunk read by read(2) 100 bytes past a page
 *             of the file (its pages guarded at an offset inside a file
 *             page: the block goes by a write of its own);
 *   before    no room: the first signal ends the block's own write: 4096
 *             (glibc counts the block as taken), EINTR, one signal;
 *   after     room for three pages: the block and two blocks go, the first
 *             signal cuts the blocks' write short, glibc's next write waits
 *             and the second signal ends it: 12288, EINTR, two signals;
 *   restart   room for one page, signals with SA_RESTART, and a thread that
 *             drains the pipe after the third: every byte goes, no error
 *             (the signals printed as 3, however many came meanwhile);
 *   epipe     room for one page; a thread closes the reading end while the
 *             blocks' write waits: 4096, EPIPE, one SIGPIPE (handled);
 *   closed    the reading end closed before: 4096, EPIPE, one SIGPIPE;
 *   cancel    room for one page; the writing thread is cancelled in the
 *             blocks' write: the pipe holds the block, and the stream
 *             still writes (10 bytes and fflush);
 *   cancelstart  as cancel, with no room: the thread is cancelled in the
 *             write of the block that fills the buffer, which glibc's
 *             buffer still holds: the stream writes it before its next
 *             10 bytes;
 *   jumpstart no room; a timer's handler leaves that write by siglongjmp:
 *             the same;
 *   jumpblocks  room for one page: the handler leaves the blocks' write,
 *             after the block went: the buffer is empty;
 *   dup2      room for one page; while the blocks' write waits, another
 *             pipe is made the stream's descriptor (dup2): the write goes
 *             on into the first pipe, the stream's next bytes go to the
 *             second.
 *
 * usage: stdio_pipe_full SRC DST [MODE]
 */
#include <pthread.h>
#include <setjmp.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/time.h>

#include "zt.h"

#define CHUNK (64 * 1024)

static char buf[CHUNK] __attribute__((aligned(4096)));

static volatile sig_atomic_t ticks, pipes;
static sigjmp_buf out_of_write;
static const char *src_path;
static FILE *dst;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

static void on_jump(int sig)
{
	(void)sig;
	ticks++;
	siglongjmp(out_of_write, 1);
}

static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

/* SIGALRM every ms milliseconds, with SA_RESTART or not; 0: stop. */
static void timer(int ms, int restart)
{
	struct sigaction sa = { .sa_handler = on_tick, .sa_flags = restart ? SA_RESTART : 0 };
	struct itimerval it = { { 0, ms * 1000 }, { 0, ms * 1000 } };
	if ((ms && sigaction(SIGALRM, &sa, NULL) != 0) || setitimer(ITIMER_REAL, &it, NULL) != 0)
		zt_die("timer");
}

/* Reads from the non-blocking rd until want bytes came; their hash. */
static uint64_t take(int rd, long long want, long long *got)
{
	static char b[CHUNK];
	uint64_t h = 14695981039346656037ull;
	*got = 0;
	while (*got < want) {
		ssize_t k = read(rd, b, sizeof b);
		if (k > 0) {
			*got += k;
			h = zt_fnv(h, b, (size_t)k);
		} else if (k == 0 || errno != EAGAIN) {
			break;
		} else {
			zt_nap_us(2000);
		}
	}
	return h;
}

struct job {
	FILE *pw;
	int rd, wr, other;
	size_t w;
	int e;
	int started;
};

static void *writer(void *arg)
{
	struct job *j = arg;
	__atomic_store_n(&j->started, 1, __ATOMIC_RELEASE);
	errno = 0;
	j->w = fwrite(buf, 1, CHUNK, j->pw);
	j->e = errno;
	return NULL;
}

/* The reader closes its end a while after the write started. */
static void *closer(void *arg)
{
	struct job *j = arg;
	zt_nap_us(100000);
	close(j->rd);
	return NULL;
}

/* After the third signal, the whole pipe is drained. */
static void *drainer(void *arg)
{
	struct job *j = arg;
	while (ticks < 3)
		zt_nap_us(2000);
	long long got;
	uint64_t h = take(j->rd, 15 * 4096 + CHUNK, &got);
	printf("drainer: %lld bytes, hash %016llx\n", got, (unsigned long long)h);
	return NULL;
}

static void report(const char *mode, size_t w, int e, FILE *pw)
{
	/* With SA_RESTART more signals may come while the drainer runs. */
	int seen = strcmp(mode, "restart") == 0 && ticks > 3 ? 3 : (int)ticks;
	printf("%s: fwrite %zu ferror %d errno %s after %d signal(s), %d SIGPIPE\n", mode, w,
	       ferror(pw) != 0, e ? zt_errname(e) : "0", seen, (int)pipes);
}

/* One more chunk into the drained pipe: it has room for all of it. */
static void one_more(FILE *in, FILE *pw, int rd)
{
	clearerr(pw);
	if (fread(buf, 1, CHUNK, in) != CHUNK)
		zt_die("fread");
	errno = 0;
	size_t w = fwrite(buf, 1, CHUNK, pw);
	printf("one more: fwrite %zu ferror %d\n", w, ferror(pw) != 0);
	zt_drain_report(rd, "one more");
}

/* After an fwrite that never returned: what the pipe holds, then 10 bytes
 * more and a flush (the stream writes what its buffer kept first), then
 * one more chunk. */
static void ten_more(const char *mode, const char *after, FILE *in, FILE *pw, int rd)
{
	zt_drain_report(rd, mode);
	clearerr(pw);
	if (fwrite("0123456789", 1, 10, pw) != 10 || fflush(pw) != 0)
		zt_die(after);
	zt_drain_report(rd, after);
	one_more(in, pw, rd);
}

static void blocked(const char *mode, FILE *in, FILE *pw, int rd, int wr)
{
	struct sigaction sp = { .sa_handler = on_pipe };
	if (sigaction(SIGPIPE, &sp, NULL) != 0)
		zt_die("sigaction");
	int room = strcmp(mode, "before") == 0 || strcmp(mode, "cancelstart") == 0 ||
				   strcmp(mode, "jumpstart") == 0
			   ? 0
		   : strcmp(mode, "after") == 0 ? 3
						: 1;
	if (strcmp(mode, "closed") != 0)
		zt_fill_pipe(wr, room);
	if (strcmp(mode, "oddread") == 0) {
		/* Chunks read at an offset inside a page, copied to DST first
		 * (so that the stream is engaged), then one more for the pipe. */
		int fd = open(src_path, O_RDONLY);
		if (!dst || fd < 0 || lseek(fd, 100, SEEK_SET) != 100)
			zt_die("open");
		for (int i = 0; i < 6; i++) {
			if (read(fd, buf, CHUNK) != CHUNK)
				zt_die("read");
			if (fwrite(buf, 1, CHUNK, dst) != CHUNK || fflush(dst) != 0)
				zt_die("fwrite");
		}
		if (read(fd, buf, CHUNK) != CHUNK)
			zt_die("read");
	} else if (fread(buf, 1, CHUNK, in) != CHUNK) {
		zt_die("fread");
	}
	if (strcmp(mode, "dirty") == 0) {
		buf[0] ^= 0x5a;
		buf[4096] ^= 0x5a;
	}
	struct job j = { .pw = pw, .rd = rd, .wr = wr };
	pthread_t t;
	ticks = pipes = 0;
	if (strcmp(mode, "jumpstart") == 0 || strcmp(mode, "jumpblocks") == 0) {
		struct sigaction sa = { .sa_handler = on_jump };
		struct itimerval it = { { 0, 0 }, { 0, 100 * 1000 } };
		if (sigaction(SIGALRM, &sa, NULL) != 0)
			zt_die("sigaction");
		if (sigsetjmp(out_of_write, 1) == 0) {
			if (setitimer(ITIMER_REAL, &it, NULL) != 0)
				zt_die("timer");
			fwrite(buf, 1, CHUNK, pw);
			printf("%s: fwrite returned\n", mode);
		} else {
			printf("%s: left by siglongjmp after %d signal(s)\n", mode, (int)ticks);
		}
		ten_more(mode, "after the jump", in, pw, rd);
		return;
	}
	if (strcmp(mode, "cancel") == 0 || strcmp(mode, "cancelstart") == 0 ||
	    strcmp(mode, "dup2") == 0) {
		int q[2];
		if (pipe2(q, O_NONBLOCK) != 0 || pthread_create(&t, NULL, writer, &j) != 0)
			zt_die("setup");
		/* The block is in (the pipe holds 16 pages), then a while for
		 * the blocks' write to wait. */
		int held = 0;
		while (!__atomic_load_n(&j.started, __ATOMIC_ACQUIRE) ||
		       (ioctl(rd, FIONREAD, &held) == 0 && held < 16 * 4096))
			zt_nap_us(1000);
		zt_nap_us(100000);
		if (strcmp(mode, "dup2") != 0) {
			void *res;
			if (pthread_cancel(t) != 0 || pthread_join(t, &res) != 0)
				zt_die("cancel");
			printf("%s: %s\n", mode, res == PTHREAD_CANCELED ? "cancelled" : "returned");
			ten_more(mode, "after cancel", in, pw, rd);
			return;
		}
		/* The stream's descriptor names the other pipe from now on. */
		if (dup2(q[1], wr) != wr)
			zt_die("dup2");
		long long got;
		uint64_t h = take(rd, 15 * 4096 + CHUNK, &got);
		if (pthread_join(t, NULL) != 0)
			zt_die("join");
		report(mode, j.w, j.e, pw);
		printf("dup2: first pipe %lld bytes, hash %016llx\n", got, (unsigned long long)h);
		zt_drain_report(q[0], "dup2, second pipe");
		one_more(in, pw, q[0]);
		return;
	}
	if (strcmp(mode, "closed") == 0)
		close(rd);
	if (strcmp(mode, "epipe") == 0 && pthread_create(&t, NULL, closer, &j) != 0)
		zt_die("thread");
	if (strcmp(mode, "restart") == 0 && pthread_create(&t, NULL, drainer, &j) != 0)
		zt_die("thread");
	/* (No signal where the reader leaves: it would end the wait first.) */
	int timed = strcmp(mode, "epipe") != 0 && strcmp(mode, "closed") != 0;
	if (timed)
		timer(strcmp(mode, "restart") == 0 ? 30 : 100, strcmp(mode, "restart") == 0);
	errno = 0;
	size_t w = fwrite(buf, 1, CHUNK, pw);
	int e = errno;
	if (timed)
		timer(0, 0);
	report(mode, w, e, pw);
	if (strcmp(mode, "epipe") == 0 || strcmp(mode, "restart") == 0)
		pthread_join(t, NULL);
	if (strcmp(mode, "epipe") == 0 || strcmp(mode, "closed") == 0)
		return;
	zt_drain_report(rd, mode);
	one_more(in, pw, rd);
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4)
		zt_usage("stdio_pipe_full SRC DST [MODE]");
	int blocking = argc == 4;
	src_path = argv[1];
	int into_pipe = strcmp(argv[2], "-") == 0;
	FILE *in = fopen(argv[1], "rb"), *out = into_pipe ? NULL : fopen(argv[2], "wb");
	int p[2];
	if (!in || (!into_pipe && !out) || pipe2(p, blocking ? 0 : O_NONBLOCK) != 0 ||
	    fcntl(p[1], F_SETPIPE_SZ, 16 * 4096) < 0 ||
	    (into_pipe && fcntl(p[0], F_SETFL, O_NONBLOCK) != 0))
		zt_die("setup");
	FILE *pw = fdopen(p[1], "wb");
	if (!pw)
		zt_die("fdopen");
	for (int i = 0; i < 8; i++) {
		if (fread(buf, 1, CHUNK, in) != CHUNK)
			zt_die("fread");
		if (fwrite(buf, 1, CHUNK, into_pipe ? pw : out) != CHUNK)
			zt_die("fwrite");
		long long got;
		if (into_pipe && (take(p[0], CHUNK, &got), got != CHUNK))
			zt_die("warm-up: the pipe did not hold the chunk");
	}
	if (blocking) {
		/* The reading end never waits (it is its own open file). */
		if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
			zt_die("fcntl");
		/* The stream's buffer first: glibc's first fwrite makes it. */
		zt_fill_pipe(p[1], 16);
		if (fwrite(buf, 1, 1, pw) != 1 || fflush(pw) != 0)
			zt_die("fwrite");
		zt_drain_report(p[0], "first byte");
		dst = out;
		blocked(argv[3], in, pw, p[0], p[1]);
		return 0;
	}
	static const int slots[] = { 1, 0, 2, 15, -1 }; /* (the first fwrite makes the buffer) */
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
		char what[32];
		snprintf(what, sizeof what, "room %d pages", slots[i]);
		zt_fill_pipe(p[1], slots[i] < 0 ? 1 : slots[i]);
		if (slots[i] < 0)
			zt_put(p[1], buf, 100);
		if (fread(buf, 1, CHUNK, in) != CHUNK)
			zt_die("fread");
		errno = 0;
		size_t w = fwrite(buf, 1, CHUNK, pw);
		int e = errno;
		printf("%s: fwrite %zu ferror %d errno %s\n", what, w, ferror(pw) != 0,
		       e ? zt_errname(e) : "0");
		clearerr(pw);
		zt_drain_report(p[0], what);
	}
	fclose(in);
	if (out && fclose(out) != 0)
		zt_die("fclose");
	return 0;
}
