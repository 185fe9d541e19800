/*
 * span_copy - a copy loop whose buffer starts 16 bytes into a page (perl's
 * and glibc's large malloc blocks do), so each 128 KiB read leaves a partial
 * page at both ends of the buffer: 4080 bytes before its whole pages and 16
 * after them.  Each mode does one thing to those partial pages, or to the
 * source behind them, between a read and its write.
 *
 * usage: span_copy MODE SRC DST
 *   copy          read, write, nothing else
 *   pipe          the writes go into a pipe a child drains into DST
 *   head          every 3rd chunk, the first byte is changed before the write
 *   tail          every 3rd chunk, the last byte is changed before the write
 *   thread_head   every 3rd chunk, another thread changes the first byte
 *                 (the main thread waits for it before the write)
 *   neighbour     every chunk, the bytes that share the buffer's last page
 *                 after its end (another object's) are rewritten
 *   partial       each chunk written in two calls: 1000 bytes, then the rest
 *   alternate     python's copyfileobj: 64 KiB reads, each into a new malloc
 *                 block; the previous block is freed after the read, before
 *                 the write (two blocks alternate, and the one freed ends in
 *                 the first page of the one written)
 *   pwrite_head   SRC is copied to "work", which is the source; at chunk 6
 *                 the program pwrites over the first 100 bytes it just read,
 *                 then writes the buffer (the bytes read)
 *   pwrite_tail   the same over the last 8 bytes it just read
 *   truncate      at chunk 6, "work" is cut 8 bytes before the end of what
 *                 was just read, then the buffer is written (all of it)
 *   dup2          at chunk 6, /dev/null is dup2'ed over the source between
 *                 the read and the write (the next read ends the copy)
 *   munmap_tail   at chunk 6, the page holding the buffer's last bytes is
 *                 unmapped: the write fails (EFAULT) and the errno is
 *                 printed; the page comes back (zeros) and the chunk is
 *                 written again
 *   mprotect_head at chunk 6, the page holding the buffer's first bytes is
 *                 made PROT_NONE: the same, then it is made writable again
 *   nonblock      into a non-blocking pipe of the program's own that takes
 *                 64 KiB: each write's count is printed, the pipe drained to
 *                 DST, and the rest written
 *   signal        into a blocking pipe of the program's own that nobody reads
 *                 for a while: a SIGALRM handler (no SA_RESTART) changes
 *                 the buffer's first byte (sent already) and ends the
 *                 write; its count is printed, the pipe drained to DST, and
 *                 the rest written (first 3 chunks; then the pipe is made
 *                 non-blocking, as for "nonblock")
 * Prints what it did and the offsets at the end.
 */
#include <pthread.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "zt.h"

#define CH ZT_CHUNK
#define LEAD 16 /* the buffer's start within its first page */

static int in, out;
static char *area; /* 34 pages: the buffer, and what shares its partial pages */
static char *buf;  /* area + LEAD */

static const char *mode;
static int is(const char *m) { return strcmp(mode, m) == 0; }

static void write_chunk(const char *p, size_t n)
{
	int err;
	size_t w = zt_write_all(out, p, n, &err);
	if (err) {
		printf("write after %zu: %s\n", w, strerror(err));
		return;
	}
}

/* ---- another thread changes the first byte ------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int want, done_edit;

static void *editor(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!want)
			pthread_cond_wait(&cv, &mu);
		if (want < 0)
			break;
		buf[0] = (char)(buf[0] ^ 0x5a);
		want = 0;
		done_edit = 1;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void edit_by_thread(void)
{
	pthread_mutex_lock(&mu);
	want = 1;
	done_edit = 0;
	pthread_cond_broadcast(&cv);
	while (!done_edit)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

/* ---- a pipe of the program's own ------------------------------------------ */

static int pfd[2];
static char drain_buf[65536];

static void drain(void)
{
	for (;;) {
		ssize_t r = read(pfd[0], drain_buf, sizeof drain_buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		zt_put(out, drain_buf, (size_t)r);
	}
}

/* The handler changes the buffer's first byte while the write waits: its
 * first 64 KiB went before the wait, as with the plain write, so the byte
 * sent is the one read.  Only once the pipe holds bytes: the pipe's lock
 * makes FIONREAD answer before the write began (0) or while it waits,
 * never halfway through a copy; a timer that fired before the write began
 * (a loaded machine) changes nothing and the next one tries again. */
static volatile sig_atomic_t flip;
static void on_alarm(int sig)
{
	(void)sig;
	int queued = 0;
	if (flip && ioctl(pfd[0], FIONREAD, &queued) == 0 && queued > 0) {
		buf[0] = (char)(buf[0] ^ 0x5a);
		flip = 0;
	}
}

/* One chunk into the program's pipe: each call's count printed, the pipe
 * drained after it. */
static void through_own_pipe(const char *p, size_t n, int chunk)
{
	int timed = is("signal") && chunk < 3;
	size_t done = 0;
	if (is("signal") && chunk == 3 && fcntl(pfd[1], F_SETFL, O_NONBLOCK) != 0)
		zt_die("fcntl");
	while (done < n) {
		if (timed) {
			/* Repeated: one that lands just before the write blocks
			 * is followed by another while it waits. */
			struct itimerval t = { { 0, 50 * 1000 }, { 0, 50 * 1000 } };
			flip = 1;
			setitimer(ITIMER_REAL, &t, NULL);
		}
		ssize_t w = write(pfd[1], p + done, n - done);
		int e = errno;
		if (timed) {
			struct itimerval off = { { 0, 0 }, { 0, 0 } };
			setitimer(ITIMER_REAL, &off, NULL);
		}
		timed = 0;
		if (w < 0 && e != EAGAIN && e != EINTR)
			zt_die("write");
		printf("chunk %d write at %zu: %zd%s\n", chunk, done, w, w < 0 ? zt_errname(e) : "");
		if (w > 0)
			done += (size_t)w;
		drain();
	}
}

/* ---- the changes around one chunk ----------------------------------------- */

/* At chunk 6 of the modes that change the source or the memory. */
static void at_chunk6(size_t n)
{
	off_t end = lseek(in, 0, SEEK_CUR), start = end - (off_t)n;
	if (is("pwrite_head") || is("pwrite_tail")) {
		char x[100];
		memset(x, 'X', sizeof x);
		size_t len = is("pwrite_head") ? 100 : 8;
		off_t at = is("pwrite_head") ? start : end - 8;
		if (pwrite(in, x, len, at) != (ssize_t)len)
			zt_die("pwrite");
	} else if (is("truncate")) {
		if (ftruncate(in, end - 8) != 0)
			zt_die("ftruncate");
	} else if (is("dup2")) {
		int z = open("/dev/null", O_RDONLY);
		if (z < 0 || dup2(z, in) != in)
			zt_die("dup2");
		close(z);
	} else if (is("munmap_tail") || is("mprotect_head")) {
		char *page = is("munmap_tail") ? area + 32 * ZT_PAGE : area;
		int r = is("munmap_tail") ? munmap(page, ZT_PAGE) : mprotect(page, ZT_PAGE, PROT_NONE);
		if (r != 0)
			zt_die("munmap/mprotect");
		ssize_t w = write(out, buf, n);
		printf("write with the page gone: %zd %s\n", w, w < 0 ? zt_errname(errno) : "");
		if (is("munmap_tail")) {
			if (mmap(page, ZT_PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != page)
				zt_die("mmap");
		} else if (mprotect(page, ZT_PAGE, PROT_READ | PROT_WRITE) != 0) {
			zt_die("mprotect");
		}
	}
}

static void one_chunk(size_t n, int chunk)
{
	if (chunk % 3 == 2 && is("head"))
		buf[0] = (char)(buf[0] ^ 0x5a);
	if (chunk % 3 == 2 && is("tail"))
		buf[n - 1] = (char)(buf[n - 1] ^ 0x5a);
	if (chunk % 3 == 2 && is("thread_head"))
		edit_by_thread();
	if (is("neighbour"))
		memset(buf + CH, chunk & 0xff, ZT_PAGE - LEAD);
	if (chunk == 6)
		at_chunk6(n);
	if (is("nonblock") || is("signal")) {
		through_own_pipe(buf, n, chunk);
	} else if (is("partial") && n > 1000) {
		write_chunk(buf, 1000);
		write_chunk(buf + 1000, n - 1000);
	} else {
		write_chunk(buf, n);
	}
}

static pid_t open_dest(const char *dst)
{
	pid_t child = -1;
	if (is("pipe")) {
		struct zt_reader r = { .piece = 65536, .save = dst, .drop = { -1, -1, -1 } };
		out = zt_sink("pipe", &r, &child);
		return child;
	}
	out = zt_open_out(dst, 0);
	if (is("nonblock") || is("signal")) {
		if (pipe(pfd) != 0 || fcntl(pfd[0], F_SETFL, O_NONBLOCK) != 0)
			zt_die("pipe");
		if (is("nonblock") && fcntl(pfd[1], F_SETFL, O_NONBLOCK) != 0)
			zt_die("fcntl");
		struct sigaction sa = { .sa_handler = on_alarm };
		sigaction(SIGALRM, &sa, NULL);
	}
	return child;
}

/* The "alternate" loop: returns the bytes copied. */
static long long alternate(void)
{
	long long total = 0;
	char *prev = NULL;
	for (;;) {
		char *b = zt_malloc(65536 + 64);
		ssize_t n = zt_read(in, b, 65536);
		free(prev);
		if (n == 0) {
			free(b);
			break;
		}
		write_chunk(b, (size_t)n);
		total += n;
		prev = b;
	}
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("span_copy MODE SRC DST");
	mode = argv[1];
	const char *src = argv[2];
	if (is("pwrite_head") || is("pwrite_tail") || is("truncate")) {
		/* The program changes its source: a copy of its own. */
		int a = zt_open_in(src), b = zt_open_out("work", 0);
		char *tmp = zt_malloc(CH);
		zt_copy(a, b, tmp, CH);
		free(tmp);
		close(a);
		close(b);
		src = "work";
	}
	in = open(src, is("pwrite_head") || is("pwrite_tail") || is("truncate") ? O_RDWR : O_RDONLY);
	if (in < 0)
		zt_die(src);
	pid_t child = open_dest(argv[3]);
	pthread_t th;
	if (is("thread_head") && pthread_create(&th, NULL, editor, NULL) != 0)
		zt_die("pthread_create");
	area = zt_map_anon(34 * ZT_PAGE);
	buf = area + LEAD;
	long long total = is("alternate") ? alternate() : 0;
	for (int chunk = 0; !is("alternate"); chunk++) {
		ssize_t n = zt_read(in, buf, CH);
		if (n == 0)
			break;
		one_chunk((size_t)n, chunk);
		total += n;
	}
	if (is("thread_head")) {
		pthread_mutex_lock(&mu);
		want = -1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		pthread_join(th, NULL);
	}
	close(out);
	if (child > 0)
		waitpid(child, NULL, 0);
	printf("%s: copied %lld, source at %lld\n", mode, total, zt_pos(in));
	return 0;
}
