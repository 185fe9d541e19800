/*
 * world.c - the fuzzer's world: files, fds, buffers, the pipe and socket
 * readers, and the hashes that describe them.
 *
 * Everything here is a function of the seed's setup alone, so every run of
 * a seed (with or without zcopy, any subset of its ops) starts from the same
 * world with the same fd numbers.  The readers are children forked before
 * the script runs; they hash the byte stream they receive (a datagram
 * reader also each datagram's length), never the chunking, so their result
 * does not depend on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define PAGE 4096UL

struct fz_world fzw;

/* ---- hashing ----------------------------------------------------------------- */

void fz_hash_init(struct fz_hash *h) { memset(h, 0, sizeof *h), h->h = 0xcbf29ce484222325ULL; }

static void mix(struct fz_hash *h, uint64_t w)
{
	h->h = (h->h ^ w) * 0x100000001b3ULL;
	h->h ^= h->h >> 29;
}

void fz_hash_add(struct fz_hash *h, const void *p, size_t len)
{
	const unsigned char *b = p;
	h->total += len;
	while (len && h->n) {
		h->acc |= (uint64_t)*b++ << (8 * h->n);
		len--;
		if (++h->n == 8)
			mix(h, h->acc), h->acc = 0, h->n = 0;
	}
	for (; len >= 8; len -= 8, b += 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		mix(h, w);
	}
	while (len--) {
		h->acc |= (uint64_t)*b++ << (8 * h->n);
		if (++h->n == 8)
			mix(h, h->acc), h->acc = 0, h->n = 0;
	}
}

uint64_t fz_hash_end(const struct fz_hash *h)
{
	struct fz_hash t = *h;
	mix(&t, t.acc ^ ((uint64_t)t.n << 56));
	mix(&t, t.total);
	return t.h;
}

uint64_t fz_sum(const void *p, size_t len)
{
	struct fz_hash h;
	fz_hash_init(&h);
	fz_hash_add(&h, p, len);
	return fz_hash_end(&h);
}

/* ---- buffers ------------------------------------------------------------------ */

static __attribute__((aligned(4096))) char static_mem[NBUFS][STATIC_BUF];

void fz_fill(char *p, size_t n, uint64_t tag)
{
	uint64_t r = tag * 0x9E3779B97F4A7C15ULL + 1;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = fz_rand(&r);
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (char)fz_rand(&r);
}

int fz_buf_alloc(int slot, int kind, size_t size, uint64_t tag)
{
	struct fz_buf *b = &fzw.b[slot];
	if (size == 0)
		size = 1;
	if (size > MAX_BUF)
		size = MAX_BUF;
	if (kind == BK_SMALL)
		size = 256 + size % (16 * 1024);
	else if (kind == BK_PAGE16 && size < 128 * 1024)
		size += 128 * 1024;
	else if (kind == BK_STATIC && size > STATIC_BUF)
		size = STATIC_BUF;
	else if (kind == BK_ALIGNED || kind == BK_MMAP)
		size = (size + PAGE - 1) & ~(PAGE - 1);
	void *p = NULL;
	if (kind == BK_ALIGNED) {
		if (posix_memalign(&p, PAGE, size))
			p = NULL;
	} else if (kind == BK_PAGE16 || kind == BK_SMALL) {
		p = malloc(size);
	} else if (kind == BK_STATIC) {
		p = static_mem[slot];
	} else {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	}
	if (!p)
		return -1;
	b->p = p, b->size = size, b->kind = kind;
	fz_fill(p, size, tag);
	return 0;
}

void fz_buf_release(int slot)
{
	struct fz_buf *b = &fzw.b[slot];
	if (b->kind == BK_MMAP)
		munmap(b->p, b->size);
	else if (b->kind != BK_STATIC)
		free(b->p);
	b->p = NULL, b->size = 0;
}

/* ---- readers and setup ---------------------------------------------------------- */

/* Closes every fd from 3 up except the n in keep. */
static void close_except(const int *keep, int n)
{
	unsigned lo = 3;
	for (;;) {
		/* The lowest kept fd at or above lo. */
		int next = -1;
		for (int i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0)
			break;
		if ((unsigned)next > lo)
			close_range(lo, (unsigned)next - 1, 0);
		lo = (unsigned)next + 1;
	}
	close_range(lo, ~0U, 0);
}

void fz_close_all_but(int k1, int k2)
{
	int keep[2] = { k1, k2 };
	close_except(keep, 2);
}

/* A reader child: drains fd, writes "bytes hash" (or datagram count and
 * hash) to its result file, exits.  A stream reader also watches ctl: a 'q'
 * there makes it close fd and quit at once, taking nothing more (the peer
 * op); ctl is checked before every read, so what it took is exactly what was
 * written before the request. */
static void reader(int fd, int dgram, int ctl, int ready, const char *res)
{
	int keep[3] = { fd, ctl, ready };
	close_except(keep, 3);
	/* Only now does the world hold no other end of another reader's pipe
	 * or socket (a peer that quits must leave none behind). */
	if (write(ready, "r", 1) != 1)
		_exit(3);
	close(ready);
	static char buf[1 << 18];
	struct fz_hash h;
	fz_hash_init(&h);
	long count = 0;
	int quit = 0;
	for (;;) {
		int flags = 0;
		struct pollfd pf[2] = { { fd, POLLIN, 0 }, { ctl, POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0)
			continue;
		if (!dgram && pf[1].revents) {
			char q = 0;
			ssize_t k = read(ctl, &q, 1);
			if (k == 1 && q == 'q') {
				quit = 1;
				close(fd);
				break;
			}
			if (k == 0) {
				/* The world is ending: read on to EOF. */
				close(ctl);
				ctl = -1;
			}
			continue;
		}
		if (dgram) {
			/* Datagram peers never see EOF: the parent's end-of-run is
			 * the control pipe closing; then drain what is queued. */
			if (!(pf[0].revents & POLLIN) && pf[1].revents)
				flags = MSG_DONTWAIT;
		}
		ssize_t r = dgram ? recv(fd, buf, sizeof buf, flags) : read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && dgram && flags)
			break;
		if (r < 0 || (r == 0 && !dgram))
			break;
		count++;
		if (dgram) {
			uint64_t len = (uint64_t)r;
			fz_hash_add(&h, &len, sizeof len);
		}
		fz_hash_add(&h, buf, (size_t)r);
	}
	int out = open(res, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char line[128];
	int n = dgram ? snprintf(line, sizeof line, "dgram bytes %llu datagrams %ld hash %016llx\n",
				 (unsigned long long)h.total, count, (unsigned long long)fz_hash_end(&h))
		      : snprintf(line, sizeof line, "stream bytes %llu hash %016llx%s\n",
				 (unsigned long long)h.total, (unsigned long long)fz_hash_end(&h),
				 quit ? " quit" : "");
	if (out >= 0 && write(out, line, (size_t)n) != n)
		_exit(3);
	_exit(0);
}

static pid_t start_reader(int fd, int dgram, int ctl, int ready, const char *name)
{
	char res[FZ_PATH + 16];
	snprintf(res, sizeof res, "%s/%s", fzw.dir, name);
	pid_t pid = fork();
	if (pid == 0)
		reader(fd, dgram, ctl, ready, res);
	return pid;
}

/* The socket source's peer: writes the seeded pattern in seeded pieces,
 * never waiting (the receiver reads nothing until the script runs), and
 * exits.  Exit status 0, or 1 when the socket took less than planned. */
static void ssrc_peer(int fd, const struct fz_setup *w)
{
	static char piece[1 << 18];
	uint64_t r = w->ssrc_seed | 1, tag = w->ssrc_seed * 31 + 7;
	fz_close_all_but(fd, -1);
	for (size_t done = 0; done < w->ssrc_bytes;) {
		long p = fz_below(&r, 100);
		size_t n = w->ssrc_small ? 1 + (size_t)fz_below(&r, 2048)
			 : p < 5    ? 1 + (size_t)fz_below(&r, 255)
			 : p < 25   ? 256 + (size_t)fz_below(&r, 3840)
			 : p < 75   ? 4096 + (size_t)fz_below(&r, 61440)
				    : 65536 + (size_t)fz_below(&r, 196608);
		if (n > w->ssrc_bytes - done)
			n = w->ssrc_bytes - done;
		/* The stream's bytes are one pattern however it is cut. */
		fz_fill(piece, n, tag + done);
		ssize_t k = send(fd, piece, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k != (ssize_t)n)
			_exit(1);
		done += n;
	}
	_exit(0);
}

/*
 * The socket source (slot FD_SSRC): a stream socket whose peer process has
 * written all its bytes and closed its end before the script starts, so a
 * read returns min(asked, left) and then 0, as deterministically as a file
 * (the pieces only decide how the kernel holds them: fragments that fill a
 * splice pipe's slots before the count).  Kept far from the script's
 * numbers, so the fd numbers of a world without it stay as they were.
 */
static int ssrc_setup(const struct fz_setup *w)
{
	int sv[2], one = 1, big = 8 << 20;
	if (w->ssrc_tcp) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t al = sizeof a;
		int l = socket(AF_INET, SOCK_STREAM, 0);
		sv[1] = socket(AF_INET, SOCK_STREAM, 0);
		/* The accepted socket inherits the listener's receive buffer:
		 * room for every byte, none waiting in the sender's queue. */
		if (l < 0 || sv[1] < 0 || setsockopt(l, SOL_SOCKET, SO_RCVBUF, &big, sizeof big) ||
		    bind(l, (struct sockaddr *)&a, al) || listen(l, 1) ||
		    getsockname(l, (struct sockaddr *)&a, &al) ||
		    connect(sv[1], (struct sockaddr *)&a, al) || (sv[0] = accept(l, NULL, NULL)) < 0)
			return -1;
		close(l);
		setsockopt(sv[1], IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
	} else if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		return -1;
	}
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	pid_t pid = fork();
	if (pid == 0)
		ssrc_peer(sv[1], w);
	close(sv[1]);
	int st = -1;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0) {
		fprintf(stderr, "fuzz: the socket source took less than %zu bytes (status %d)\n",
			w->ssrc_bytes, st);
		return -1;
	}
	/* TCP: wait (5 s at most) until every byte is in the receive queue. */
	int q = 0;
	for (int i = 0; i < 5000; i++) {
		if (ioctl(sv[0], FIONREAD, &q) < 0 || (size_t)q >= w->ssrc_bytes)
			break;
		usleep(1000);
	}
	if ((size_t)q != w->ssrc_bytes) {
		fprintf(stderr, "fuzz: the socket source holds %d of %zu bytes\n", q, w->ssrc_bytes);
		return -1;
	}
	fzw.ssrc_queued = w->ssrc_bytes;
	fzw.fd[FD_SSRC] = fcntl(sv[0], F_DUPFD, fzw.highfd - 96);
	fzw.ssrc_keep = fcntl(sv[0], F_DUPFD_CLOEXEC, fzw.highfd - 64);
	close(sv[0]);
	return fzw.fd[FD_SSRC] < 0 || fzw.ssrc_keep < 0 ? -1 : 0;
}

void fz_ssrc_rest(char *line, size_t cap)
{
	static char buf[1 << 16];
	struct fz_hash h;
	fz_hash_init(&h);
	/* recv with a flag: never deferred, and never waiting (the peer is
	 * gone; only the end of the stream or nothing can follow). */
	for (;;) {
		ssize_t k = recv(fzw.ssrc_keep, buf, sizeof buf, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		fz_hash_add(&h, buf, (size_t)k);
	}
	snprintf(line, cap, "bytes %llu hash %016llx", (unsigned long long)h.total,
		 (unsigned long long)fz_hash_end(&h));
}

int fz_world_setup(const struct fz_setup *w, const char *dir)
{
	static char chunk[1 << 16];
	fzw.w = w;
	snprintf(fzw.dir, sizeof fzw.dir, "%s", dir);
	for (int i = 0; i < NFILES; i++) {
		snprintf(fzw.path[i], sizeof fzw.path[i], "%s/f%d", fzw.dir, i);
		int fd = open(fzw.path[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return -1;
		uint64_t r = w->seed * 131 + (uint64_t)i * 7919 + 1;
		for (size_t done = 0; done < w->file_size[i];) {
			size_t k = w->file_size[i] - done < sizeof chunk ? w->file_size[i] - done : sizeof chunk;
			fz_fill(chunk, k, fz_rand(&r));
			if (write(fd, chunk, k) != (ssize_t)k)
				return -1;
			done += k;
		}
		close(fd);
	}
	struct rlimit rl;
	fzw.highfd = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 256)
		fzw.highfd = (int)rl.rlim_cur - 16; /* where zcopy puts its own fd */
	/* The readers' quit pipes, far from the script's numbers (made first,
	 * so the numbers below are those of a world without them). */
	int qp[2][2];
	for (int i = 0; i < 2; i++) {
		if (pipe(qp[i]))
			return -1;
		for (int k = 0; k < 2; k++) {
			int hi = fcntl(qp[i][k], F_DUPFD_CLOEXEC, fzw.highfd - 80);
			close(qp[i][k]);
			qp[i][k] = hi;
		}
	}
	for (int i = 0; i < NFILES; i++)
		fzw.fd[i] = open(fzw.path[i], O_RDWR | (w->append_slot == i ? O_APPEND : 0));
	int pp[2], sv[2], dv[2], cp[2];
	if (pipe(pp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dv) || pipe(cp))
		return -1;
	/* Reads from our ends see EOF instead of blocking forever. */
	shutdown(sv[0], SHUT_RD);
	shutdown(dv[0], SHUT_RD);
	fzw.ctl_rd = cp[0], fzw.ctl_wr = cp[1];
	int rp[2];
	if (pipe(rp))
		return -1;
	fzw.reader[0] = start_reader(pp[0], 0, qp[0][0], rp[1], "r.pipe");
	fzw.reader[1] = start_reader(sv[1], 0, qp[1][0], rp[1], "r.sock");
	fzw.reader[2] = start_reader(dv[1], 1, fzw.ctl_rd, rp[1], "r.dgram");
	close(pp[0]), close(sv[1]), close(dv[1]), close(cp[0]), close(rp[1]);
	/* Every reader closed what it inherited of the others. */
	char rb[3];
	for (size_t got = 0; got < sizeof rb;) {
		ssize_t k = read(rp[0], rb + got, sizeof rb - got);
		if (k <= 0 && errno != EINTR)
			return -1;
		if (k > 0)
			got += (size_t)k;
	}
	close(rp[0]);
	for (int i = 0; i < 2; i++) {
		close(qp[i][0]);
		fzw.quit_wr[i] = qp[i][1];
		fzw.gone[i] = 0;
	}
	if (fz_shared) {
		/* For the supervisor, should this process die by a signal. */
		memcpy(fz_shared->reader, fzw.reader, sizeof fzw.reader);
		snprintf(fz_shared->dir, sizeof fz_shared->dir, "%s", fzw.dir);
		fz_shared->ready = 1;
	}
	fzw.fd[FD_PIPE] = pp[1], fzw.fd[FD_SOCK] = sv[0], fzw.fd[FD_DGRAM] = dv[0];
	/* Room for a stopped reader's 64 KiB however it is cut into pages. */
	fcntl(pp[1], F_SETPIPE_SZ, 1 << 20);
	/* Kept open (as a dup, far from the script's numbers) for the
	 * "is everything taken?" question of stop and of fz_readers_drain,
	 * whatever the script does to its own slots. */
	fzw.stream_fd[0] = fcntl(pp[1], F_DUPFD_CLOEXEC, fzw.highfd - 64);
	fzw.stream_fd[1] = fcntl(sv[0], F_DUPFD_CLOEXEC, fzw.highfd - 64);
	fzw.stream_fd[2] = fcntl(dv[0], F_DUPFD_CLOEXEC, fzw.highfd - 64);
	fzw.fd[FD_NULL] = open("/dev/null", O_RDWR);
	fzw.fd[FD_SPARE] = open(fzw.path[0], O_RDWR);
	/* The slot starts closed next to it; dup2 there, then close, lands
	 * on zcopy's own number. */
	fzw.fd[FD_HIGH] = fzw.highfd + 1;
	for (int i = 0; i < NFPS; i++)
		if (!(fzw.fp[i] = fopen(fzw.path[w->fp_file[i]], "r+")))
			return -1;
	/* --stdio-pipe: a program's stdout-like stream on the pipe and on the
	 * stream socket (no fd of its own: a world without them keeps its
	 * numbers). */
	if (fz_stdio_pipe && (!(fzw.fp[FP_PIPE] = fdopen(fzw.fd[FD_PIPE], "w")) ||
			      !(fzw.fp[FP_SOCK] = fdopen(fzw.fd[FD_SOCK], "w"))))
		return -1;
	if (ssrc_setup(w) < 0)
		return -1;
	for (int i = 0; i < NBUFS; i++)
		if (fz_buf_alloc(i, w->buf_kind[i], w->buf_size[i], 1000000 + (uint64_t)i))
			return -1;
	return 0;
}

void fz_reader_result(int i, char *line, size_t cap, int *status)
{
	static const char *const names[3] = { "r.pipe", "r.sock", "r.dgram" };
	char res[FZ_PATH + 16];
	*status = 0;
	if (i < 2 && fzw.gone[i])
		*status = fzw.gone_status[i]; /* reaped when it quit */
	else
		waitpid(fzw.reader[i], status, 0);
	snprintf(res, sizeof res, "%s/%s", fzw.dir, names[i]);
	snprintf(line, cap, "%s none\n", names[i]);
	int fd = open(res, O_RDONLY);
	size_t n = strlen(names[i]) + 1;
	ssize_t k = fd >= 0 && cap > n ? read(fd, line + n, cap - n - 1) : -1;
	if (k > 0)
		line[n + (size_t)k] = 0;
	if (fd >= 0)
		close(fd);
	unlink(res);
}

static int stopped[2];
int fz_in_flight;
int fz_fd_reuse;
int fz_sock_src;
int fz_stdio_pipe;

/*
 * A script cut down by the shrinker may write more than fits while the
 * reader is stopped: a watchdog lets the reader go on after 2 s, so the write
 * blocks for a while instead of for ever (its result is the same).  A thread,
 * not a child: zcopy gives every deferred page its bytes at fork, so a fork
 * here would take away the very case a stop is there to set up.
 */
static struct {
	pthread_t th;
	int live, watching;
} wd[2];
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;

static void *watchdog(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&wd_lock);
	while (wd[i].watching)
		if (pthread_cond_timedwait(&wd_cond, &wd_lock, &until) == ETIMEDOUT)
			break;
	if (wd[i].watching)
		kill(fzw.reader[i], SIGCONT);
	pthread_mutex_unlock(&wd_lock);
	return NULL;
}
/* The thread's drain and main's stop/cont/drain both signal and wait for
 * the readers and read stopped[]. */
static pthread_mutex_t reader_lock = PTHREAD_MUTEX_INITIALIZER;

/* Bytes written to stream i (0 pipe, 1 socket, 2 datagram) that its reader
 * has not taken yet: a pipe's unread bytes; a UNIX socket's send queue,
 * whose buffers are freed only once the reader has copied them out. */
static int queued(int i)
{
	int q = 0;
	if (i < 2 && fzw.gone[i])
		return 0; /* nobody will take them */
	if (ioctl(fzw.stream_fd[i], i == 0 ? FIONREAD : SIOCOUTQ, &q) < 0)
		return 0;
	return q;
}

/* Waits up to ms milliseconds until reader i has taken everything written
 * to it so far; returns 0 once it has. */
static int wait_taken(int i, int ms)
{
	for (long us = 0; us < ms * 1000L; us += 200) {
		if (!queued(i))
			return 0;
		usleep(200);
	}
	return queued(i) ? -1 : 0;
}

int fz_reader_stop(int i)
{
	pthread_mutex_lock(&reader_lock);
	/* Wait (up to 5 s) until the reader has taken everything written so far,
	 * so that a write of up to 64 KiB then fits without it. */
	wait_taken(i, 5000);
	if (stopped[i] || fzw.gone[i] || kill(fzw.reader[i], SIGSTOP))
		goto fail;
	int st;
	if (waitpid(fzw.reader[i], &st, WUNTRACED) != fzw.reader[i] || !WIFSTOPPED(st)) {
		kill(fzw.reader[i], SIGCONT);
		goto fail;
	}
	stopped[i] = 1;
	wd[i].watching = 1;
	wd[i].live = pthread_create(&wd[i].th, NULL, watchdog, (void *)(intptr_t)i) == 0;
	pthread_mutex_unlock(&reader_lock);
	return 0;
fail:
	pthread_mutex_unlock(&reader_lock);
	return -1;
}

int fz_reader_stopped(int i)
{
	pthread_mutex_lock(&reader_lock);
	int r = stopped[i];
	pthread_mutex_unlock(&reader_lock);
	return r;
}

int fz_reader_cont(int i)
{
	pthread_mutex_lock(&reader_lock);
	int r = -1;
	if (stopped[i]) {
		stopped[i] = 0;
		if (wd[i].live) {
			pthread_mutex_lock(&wd_lock);
			wd[i].watching = 0;
			pthread_cond_broadcast(&wd_cond);
			pthread_mutex_unlock(&wd_lock);
			pthread_join(wd[i].th, NULL);
			wd[i].live = 0;
		}
		r = kill(fzw.reader[i], SIGCONT);
	}
	pthread_mutex_unlock(&reader_lock);
	return r;
}

void fz_readers_drain(void)
{
	if (fz_in_flight)
		return;
	int e = errno;
	pthread_mutex_lock(&reader_lock);
	for (int i = 0; i < 3; i++) {
		if (!queued(i))
			continue;
		/* A stopped reader is let go until it has taken its bytes, then
		 * stopped again: whether it is stopped is the script's business,
		 * when the file changes is not. */
		int held = i < 2 && stopped[i];
		if (held)
			kill(fzw.reader[i], SIGCONT);
		/* Long enough for a reader starved by a loaded machine; a reader
		 * that never takes its bytes only makes the run slower. */
		wait_taken(i, 20000);
		if (held && kill(fzw.reader[i], SIGSTOP) == 0) {
			/* Takes the stop report, as stop does (a forked child gets
			 * ECHILD at once: the readers are its parent's children).
			 * Bounded: the stop watchdog's SIGCONT may cancel this stop. */
			int st;
			for (int k = 0; k < 10000; k++) {
				pid_t w = waitpid(fzw.reader[i], &st, WUNTRACED | WNOHANG);
				if (w != 0)
					break;
				usleep(200);
			}
		}
	}
	pthread_mutex_unlock(&reader_lock);
	errno = e;
}

int fz_reader_quit(int i, int drain)
{
	pthread_mutex_lock(&reader_lock);
	if (fzw.gone[i]) {
		pthread_mutex_unlock(&reader_lock);
		return -1;
	}
	if (drain) {
		if (stopped[i])
			kill(fzw.reader[i], SIGCONT);
		wait_taken(i, 20000);
	}
	/* The request goes first: a stopped reader that is let go sees it
	 * before anything else (it checks it before every read). */
	if (write(fzw.quit_wr[i], "q", 1) != 1) {
		pthread_mutex_unlock(&reader_lock);
		return -1;
	}
	pthread_mutex_unlock(&reader_lock);
	fz_reader_cont(i); /* joins the stop watchdog, lets it go on */
	kill(fzw.reader[i], SIGCONT);
	pthread_mutex_lock(&reader_lock);
	int st = 0;
	waitpid(fzw.reader[i], &st, 0);
	fzw.gone_status[i] = st;
	fzw.gone[i] = 1;
	pthread_mutex_unlock(&reader_lock);
	return 0;
}

static int sndbuf_saved = -1;

int fz_stream_shrink(int i, int fill)
{
	static char pattern[65536];
	if (fzw.gone[i])
		return -1;
	fz_fill(pattern, sizeof pattern, 4242);
	if (i == 0) {
		if (fcntl(fzw.stream_fd[0], F_SETPIPE_SZ, 65536) < 0)
			return -1;
		/* Exactly the pipe's room, in whole pages: fits at once. */
		if (fill && write(fzw.stream_fd[0], pattern, sizeof pattern) != (ssize_t)sizeof pattern)
			return -1;
		return 0;
	}
	int v = 0;
	socklen_t l = sizeof v;
	if (getsockopt(fzw.stream_fd[1], SOL_SOCKET, SO_SNDBUF, &v, &l) < 0)
		return -1;
	sndbuf_saved = v / 2; /* the kernel doubles what it is given */
	v = 32768;
	if (setsockopt(fzw.stream_fd[1], SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0)
		return -1;
	/* Until the socket takes no more (the sizes the kernel charges are the
	 * same in every run: the queue was empty). */
	while (fill && send(fzw.stream_fd[1], pattern, 4096, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
	return 0;
}

void fz_stream_restore(int i)
{
	if (i == 0) {
		fcntl(fzw.stream_fd[0], F_SETPIPE_SZ, 1 << 20);
	} else if (sndbuf_saved > 0) {
		setsockopt(fzw.stream_fd[1], SOL_SOCKET, SO_SNDBUF, &sndbuf_saved, sizeof sndbuf_saved);
		sndbuf_saved = -1;
	}
}

struct fz_shared *fz_shared;

void fz_after_death(const struct fz_setup *w, int status)
{
	char line[200];
	int n = snprintf(line, sizeof line, "end died signal %d\n",
			 WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	if (write(1, line, (size_t)n) != n)
		return;
	if (!fz_shared->ready)
		return;
	fzw.w = w;
	snprintf(fzw.dir, sizeof fzw.dir, "%s", fz_shared->dir);
	for (int i = 0; i < NFILES; i++)
		snprintf(fzw.path[i], sizeof fzw.path[i], "%s/f%d", fzw.dir, i);
	for (int i = 0; i < 3; i++) {
		/* Orphaned readers are ours (a child subreaper): a stopped one
		 * goes on, and every one sees EOF now that the run is gone. */
		fzw.reader[i] = fz_shared->reader[i];
		kill(fzw.reader[i], SIGCONT);
	}
	for (int i = 0; i < 3; i++) {
		int st;
		fz_reader_result(i, line, sizeof line, &st);
		char out[300];
		n = snprintf(out, sizeof out, "end reader status %d %s", st, line);
		if (write(1, out, (size_t)n) != n)
			return;
	}
	for (int i = 0; i < NFILES; i++) {
		uint64_t bytes, h = fz_file_hash(i, &bytes);
		n = snprintf(line, sizeof line, "end file %d bytes %llu hash %016llx\n", i,
			     (unsigned long long)bytes, (unsigned long long)h);
		if (write(1, line, (size_t)n) != n)
			return;
	}
}

void fz_world_forked(void)
{
	pthread_mutex_init(&reader_lock, NULL);
}

uint64_t fz_file_hash(int i, uint64_t *bytes)
{
	static char chunk[8192]; /* below any deferral size: the check stays plain */
	struct fz_hash h;
	fz_hash_init(&h);
	int fd = open(fzw.path[i], O_RDONLY);
	ssize_t k;
	while (fd >= 0 && (k = read(fd, chunk, sizeof chunk)) > 0)
		fz_hash_add(&h, chunk, (size_t)k);
	if (fd >= 0)
		close(fd);
	unlink(fzw.path[i]);
	*bytes = h.total;
	return fz_hash_end(&h);
}
