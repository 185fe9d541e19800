/*
 * sock.c - reads from stream sockets deferred into pipes zcopy owns (see
 * sock.h for the invariants).
 *
 * Why one splice(2) is the read(2) it stands for, checked against the
 * kernel (tcp_splice_read, unix_stream_splice_read) and by experiment
 * (tests/integration/test_sock.c):
 *  - it waits as read waits: the socket's O_NONBLOCK makes both return
 *    EAGAIN at once, a blocking one waits for the first byte and then
 *    takes what is queued without waiting for more; a signal ends both
 *    the same way (EINTR, or a restart under SA_RESTART);
 *  - an error the socket holds (ECONNRESET) is returned only when no byte
 *    was taken, as read does, and left for the next call otherwise;
 *  - the end of stream is 0.  But a splice also returns 0 at TCP urgent
 *    data, where read skips the urgent byte and goes on: a 0 is therefore
 *    never trusted, and the plain read is made (at a real end it returns 0
 *    again, nothing lost).  A non-blocking splice at the mark says EAGAIN
 *    though bytes follow it: the plain read then too.  Both stop at the
 *    mark once they have bytes, so a short splice there is the read's
 *    count even with bytes queued behind the mark;
 *  - a pipe takes at most one buffer per slot: a socket whose queued data
 *    is fragmented can fill the slots before the count read would return.
 *    After a short splice into a pipe left without a free slot (a short
 *    splice into a pipe with one stopped where read stops: the queue ran
 *    dry), the queue is asked (FIONREAD); if bytes remain,
 *    non-waiting splices take them, into the same pipe while it has slots,
 *    then into a second pipe, and the read makes two records (the page
 *    where they meet is read into the buffer); if bytes remain when both
 *    are full, their bytes go into the buffer and a non-waiting recv takes
 *    the rest, as the plain read would have;
 *  - what splice does not honour stays plain: SO_RCVLOWAT above 1 (TCP's
 *    splice ignores it), a receive timeout (SO_RCVTIMEO), a TCP upper
 *    layer protocol (kTLS: records), and every socket that is not TCP or
 *    UNIX stream.  recv/recvfrom/recvmsg with flags never come here.
 */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "detect.h"
#include "engine.h"
#include "guard.h"
#include "log.h"
#include "optcache.h"
#include "ownfd.h"
#include "phantom.h"
#include "real.h"
#include "stats.h"
#include "transfer.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

/* Pipes: one per record of a socket's bytes, one as a write's scratch
 * pipe, one for the bytes at the end of a read; a few streams at once. */
#define POOL 8

struct spipe {
	int r, w;       /* ownfd slots (-1: not open) */
	int busy;       /* held by a record or a call */
	uint32_t gen;   /* changes whenever it is taken */
	size_t cap;     /* F_GETPIPE_SZ */
	size_t bytes;   /* bytes it holds */
	uintptr_t addr; /* the record's first page, while it backs one */
};

static struct spipe pool[POOL] = {
	[0 ... POOL - 1] = { .r = -1, .w = -1 },
};
static int devnull = -1; /* ownfd slot: where discarded bytes go */

/* The pool pipes this thread's call holds outside the lock, plus one (0:
 * none): a socket read's one or two, a write's P or scratch pipe.  Signal
 * handlers never run while their thread holds the lock (sigdefer.c), so
 * a note and its pipe's owner change together. */
#define HELD 2
static __thread int held[HELD] __attribute__((tls_model("initial-exec")));

/*
 * Reads of one socket by several threads.  A plain read of a stream socket
 * holds the socket for the whole call (UNIX: the socket's iolock; TCP: the
 * socket lock), so it returns one run of adjacent bytes of the stream.
 * zcopy's read is one splice, and more (take_rest) when its pipe ran out of
 * slots with bytes still queued (pipe_full_now): another thread's read of
 * the same socket between them would take bytes from the middle.  So every
 * read zc_sock_read sees is noted by the socket's identity from its start
 * to its end (also through the plain read that follows when it declines:
 * a warm-up's, a refused stream's; engine.c), and a read takes queued
 * bytes after its first splice only if no other noted read of that socket
 * began, was under way or ended since it began; if one did, it returns
 * what the first splice took (two readers of one socket race: a shorter
 * first part is an outcome of that race, a gap is none).  A read that goes
 * on holds new noted reads of the socket off (they wait before their first
 * call, as a plain read waits for the socket's lock) until it is done, at
 * most RD_WAIT_S seconds.  Reads zcopy leaves plain from the start are not
 * noted (README).  Lock held for all of it, except the look at `on` in
 * zc_sock_reading_wait.
 */
#define READING 256
#define RD_WAIT_S 1
struct reading {
	dev_t dev;
	ino_t ino;
	unsigned active; /* reads of it under way (0: the entry is free) */
	unsigned events; /* reads of it begun or ended while the entry lived */
	int on;          /* a read is taking queued bytes after its first splice */
};
static struct reading rd[READING];
static int rd_top;          /* entries from here on are free */
static unsigned rd_unnoted; /* reads under way that found no free entry */

static pthread_cond_t rd_done = PTHREAD_COND_INITIALIZER;
/* This thread's read: its entry plus one (-1: unnoted, 0: none), the
 * entry's events when it began, and whether it is the one going on. */
static __thread int my_rd __attribute__((tls_model("initial-exec")));
static __thread unsigned my_events __attribute__((tls_model("initial-exec")));
static __thread int my_on __attribute__((tls_model("initial-exec")));

/* The smallest size the user's pipe limits refused (pipe-max-size,
 * pipe-user-pages-soft): larger reads are not tried again, which would
 * open, size and close a pipe for each of them. */
static size_t refused_size = SIZE_MAX;

static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(zc_page - 1); }
static uintptr_t page_up(uintptr_t a) { return page_down(a + zc_page - 1); }

int zc_sock_candidate(const struct zc_fdinfo *fi, size_t n)
{
	return fi->kind == ZC_K_STREAM && n >= zc_min_chunk && n <= ZC_MAX_RW;
}

/* ---- the pool ------------------------------------------------------------ */

static void pipe_close(struct spipe *p)
{
	zc_ownfd_close(&p->r);
	zc_ownfd_close(&p->w);
	p->cap = 0;
	p->bytes = 0;
}

/* Opens (or grows) pool pipe p to hold n bytes within the user's pipe
 * limits: 2n when allowed (slots for fragmented socket data), else n.
 * Returns 0, -1 (no pipe), or -2 (the limits refuse n). */
static int pipe_ready(struct spipe *p, size_t n)
{
	if (p->r >= 0 && p->w >= 0 && p->cap >= n)
		return 0;
	if (p->r < 0 || p->w < 0) {
		pipe_close(p);
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) != 0)
			return -1;
		if (zc_ownfd_take(fds[0], &p->r, 0) < 0) {
			REAL(close)(fds[1]);
			return -1;
		}
		if (zc_ownfd_take(fds[1], &p->w, 0) < 0) {
			pipe_close(p);
			return -1;
		}
	}
	int w = zc_ownfd_use(&p->w);
	int got = -1;
	if (w >= 0 && n <= (size_t)INT32_MAX / 2) {
		if (REAL(fcntl)(w, F_SETPIPE_SZ, (int)(2 * n)) < 0)
			REAL(fcntl)(w, F_SETPIPE_SZ, (int)n);
		got = REAL(fcntl)(w, F_GETPIPE_SZ);
	}
	zc_ownfd_unuse(&p->w);
	p->cap = got > 0 ? (size_t)got : 0;
	return p->cap >= n ? 0 : -2;
}

/* A free pool pipe able to hold n bytes, marked busy; its index or -1.
 * One free pipe is tried: an open one big enough, else an open one to
 * grow, else a new one.  A new pipe that cannot hold n (the user is over
 * pipe-user-pages-soft: pipes get two pages and F_SETPIPE_SZ says EPERM)
 * is closed at once: its pages count against the program's own pipes,
 * and trying every slot would only open more of them.  errno is the
 * caller's to restore. */
static int pipe_get(size_t n)
{
	int fit = -1, open_one = -1, closed = -1;
	for (int i = 0; i < POOL; i++) {
		struct spipe *p = &pool[i];
		if (p->busy)
			continue;
		int is_open = p->r >= 0 && p->w >= 0;
		if (is_open && p->cap >= n && fit < 0)
			fit = i;
		else if (is_open && open_one < 0)
			open_one = i;
		else if (!is_open && closed < 0)
			closed = i;
	}
	int i = fit >= 0 ? fit : open_one >= 0 ? open_one : closed;
	/* Descriptors are kept only under a large enough RLIMIT_NOFILE
	 * (ownfd.h), also once open: a program that lowers its limit below
	 * it gets no more reads through pipes of zcopy's.  The limit is
	 * cached (optcache.h), so this asks the kernel only after setrlimit. */
	if (i < 0 || !zc_ownfd_keep_ok())
		return -1;
	struct spipe *p = &pool[i];
	int ready = i != fit && n >= refused_size ? -2 : pipe_ready(p, n);
	if (ready != 0) {
		if (ready == -2 && n < refused_size && i == closed)
			refused_size = n;
		if (i == closed)
			pipe_close(p);
		return -1;
	}
	p->busy = 1;
	p->gen++;
	p->bytes = 0;
	p->addr = 0;
	return i;
}

/* Discards the first n bytes pipe i holds (zero-copy, into /dev/null).
 * Returns 0, or -1 if they could not all be discarded. */
static int pipe_skip(int i, size_t n)
{
	struct spipe *p = &pool[i];
	if (n > p->bytes)
		n = p->bytes;
	if (n == 0)
		return 0;
	if (devnull < 0) {
		int fd = REAL(open)("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			zc_ownfd_take(fd, &devnull, 0);
	}
	int r = zc_ownfd_use(&p->r), d = zc_ownfd_use(&devnull);
	while (r >= 0 && d >= 0 && n > 0) {
		ssize_t k = REAL(splice)(r, NULL, d, NULL, n, SPLICE_F_NONBLOCK);
		if (k <= 0)
			break;
		p->bytes -= (size_t)k;
		n -= (size_t)k;
	}
	zc_ownfd_unuse(&devnull);
	zc_ownfd_unuse(&p->r);
	return n == 0 ? 0 : -1;
}

static void pipe_discard(int i)
{
	if (pipe_skip(i, pool[i].bytes) != 0) {
		/* Cannot be emptied: never reused (its bytes would come first). */
		zc_log(1, "sock: pipe %d keeps %zu bytes; closed", i, pool[i].bytes);
		pipe_close(&pool[i]);
	}
}

int zc_sock_pipe_skip(int i, size_t n)
{
	if (i < 0 || i >= POOL)
		return -1;
	int saved = errno;
	int r = pipe_skip(i, n);
	errno = saved;
	return r;
}

void zc_sock_pipe_put(int i)
{
	if (i < 0 || i >= POOL)
		return;
	int saved = errno;
	pipe_discard(i);
	pool[i].busy = 0;
	pool[i].addr = 0;
	errno = saved;
}

/* Reads exactly len bytes of pipe i into dst.  0, or -1. */
static int pipe_read(int i, void *dst, size_t len)
{
	struct spipe *p = &pool[i];
	size_t done = 0;
	int r = zc_ownfd_use(&p->r);
	while (r >= 0 && done < len && p->bytes > 0) {
		ssize_t k = REAL(read)(r, (char *)dst + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
		p->bytes -= (size_t)k;
	}
	zc_ownfd_unuse(&p->r);
	return done == len ? 0 : -1;
}

int zc_sock_pipe_fill(int i, void *dst, size_t len)
{
	if (i < 0 || i >= POOL)
		return -1;
	int saved = errno;
	int r = pipe_read(i, dst, len);
	errno = saved;
	return r;
}

int zc_sock_pipe_in_range(int i, unsigned lo, unsigned hi)
{
	if (i < 0 || i >= POOL)
		return 0;
	int r = pool[i].r, w = pool[i].w;
	return (r >= 0 && (unsigned)r >= lo && (unsigned)r <= hi) ||
	       (w >= 0 && (unsigned)w >= lo && (unsigned)w <= hi);
}

void zc_sock_after_fork_child(void)
{
	/* The parent's pipes: its records' bytes are in them (the fork
	 * handler materialized this process's own). */
	for (int i = 0; i < POOL; i++) {
		pipe_close(&pool[i]); /* the child's copies only */
		pool[i].busy = 0;
	}
	memset(held, 0, sizeof held); /* nothing of the pool is this thread's */
	/* Of the reads of sockets under way, only this thread's goes on. */
	for (int k = 0; k < rd_top; k++) {
		unsigned ev = rd[k].events;
		if (k != my_rd - 1)
			rd[k] = (struct reading){ 0 };
		else
			rd[k] = (struct reading){ rd[k].dev, rd[k].ino, 1, ev, my_on };
	}
	rd_top = my_rd > 0 ? my_rd : 0;
	rd_unnoted = my_rd < 0;
	rd_done = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	zc_ownfd_close(&devnull);
}

/* ---- file reads into a pool pipe (phantom.c) ------------------------------ */

void zc_sock_pipe_hold(int i)
{
	if (i < 0 || i >= POOL)
		return;
	for (int k = 0; k < HELD; k++)
		if (!held[k]) {
			held[k] = i + 1;
			return;
		}
}

void zc_sock_pipe_unhold(int i)
{
	for (int k = 0; k < HELD && i >= 0; k++)
		if (held[k] == i + 1)
			held[k] = 0;
}

/* What pipe i holds now, by asking the pipe (SIZE_MAX: unknown). */
static size_t pipe_holds(int i)
{
	int n = 0, r = zc_ownfd_use(&pool[i].r);
	int ok = r >= 0 && ioctl(r, FIONREAD, &n) == 0 && n >= 0;
	zc_ownfd_unuse(&pool[i].r);
	return ok ? (size_t)n : SIZE_MAX;
}

void zc_sock_pipe_abandon(void)
{
	zc_sock_reading_end();
	for (int k = 0; k < HELD; k++) {
		if (held[k]) {
			/* The call left may have moved bytes in (a read's splice
			 * whose count was never noted: a pipe put back with them
			 * gave them to the next read that took it, before its own)
			 * or out: the pipe says what it holds, and all of it goes
			 * (a pipe that cannot be emptied is closed). */
			int saved = errno;
			pool[held[k] - 1].bytes = pipe_holds(held[k] - 1);
			errno = saved;
			zc_sock_pipe_put(held[k] - 1);
		}
		held[k] = 0;
	}
}

int zc_sock_pipe_held(void)
{
	if (my_rd)
		return 1; /* a read of a socket, noted */
	for (int k = 0; k < HELD; k++)
		if (held[k])
			return 1;
	return 0;
}

int zc_sock_pipe_take(size_t n)
{
	int saved = errno;
	int i = pipe_get(n);
	errno = saved;
	return i;
}

uint32_t zc_sock_pipe_gen(int i)
{
	return i >= 0 && i < POOL ? pool[i].gen : 0;
}

size_t zc_sock_pipe_bytes(int i)
{
	return i >= 0 && i < POOL ? pool[i].bytes : 0;
}

ssize_t zc_sock_pipe_from_file(int i, int fd, off_t off, size_t n)
{
	if (i < 0 || i >= POOL)
		return -EINVAL;
	int saved = errno;
	int w = zc_ownfd_use(&pool[i].w);
	ssize_t got = -EBADF;
	/* An explicit offset: the file position is the engine's to move (one
	 * lseek that also says where the read starts).  The pipe is empty and
	 * holds n bytes, so the call never waits for room. */
	while (w >= 0) {
		got = REAL(splice)(fd, &off, w, NULL, n, 0);
		if (got >= 0 || errno != EINTR)
			break;
	}
	if (got < 0 && w >= 0)
		got = -errno;
	zc_ownfd_unuse(&pool[i].w);
	if (got > 0)
		pool[i].bytes += (size_t)got;
	errno = saved;
	return got;
}

ssize_t zc_sock_pipe_send_out(int i, int out, const struct zc_fdinfo *o, size_t len,
			      size_t progress, struct zc_inflight *f, enum zc_xfer_end *end)
{
	if (i < 0 || i >= POOL || pool[i].bytes < len) {
		*end = ZC_XF_REFUSED;
		return 0;
	}
	int r = zc_ownfd_use(&pool[i].r);
	ssize_t k = 0;
	*end = ZC_XF_REFUSED;
	if (r >= 0)
		k = zc_transfer_from_pipe(out, o, r, len, progress, f, end);
	zc_ownfd_unuse(&pool[i].r);
	if (k > 0)
		pool[i].bytes -= (size_t)k;
	return k;
}

/* ---- the read ------------------------------------------------------------ */

/* Why a read of socket fd cannot be one splice: -1 if it can, else the
 * ZC_FB_* reason.  Five getsockopt calls: asked once per socket and kept
 * (below) while no setsockopt moved the option generation. */
static int sock_refusal(int fd)
{
	int v = 0, dom = 0, proto = 0;
	socklen_t l = sizeof v;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) != 0)
		return ZC_FB_SOCK_OPTIONS;
	l = sizeof proto;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) != 0)
		return ZC_FB_SOCK_OPTIONS;
	int tcp = (dom == AF_INET || dom == AF_INET6) && proto == IPPROTO_TCP;
	if (!tcp && dom != AF_UNIX)
		return ZC_FB_SOCK_OPTIONS;
	l = sizeof v;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &l) != 0 || v > 1)
		return ZC_FB_SOCK_OPTIONS;
	struct timeval tv = { 0, 0 };
	l = sizeof tv;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) != 0 || tv.tv_sec || tv.tv_usec)
		return ZC_FB_SOCK_OPTIONS;
	if (tcp) {
		char ulp[16] = "";
		l = sizeof ulp;
		/* ENOPROTOOPT on kernels without ULPs: none then. */
		if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &l) == 0 && l > 0 && ulp[0])
			return ZC_FB_SOCK_OPTIONS;
	}
	return -1;
}

/*
 * What sock_refusal said of a socket, by fd number: the socket (dev, ino,
 * from the fd's classification, which the wrappers of close, dup2 ... drop
 * when the number changes) and the option generation read before asking.
 * Its domain and protocol never change; SO_RCVLOWAT, SO_RCVTIMEO and
 * TCP_ULP change only by setsockopt, which moves the generation, also from
 * a forked child sharing the socket (optcache.h).  Under the engine lock.
 */
#define SEEN_MAX 1024
static struct seen {
	uint64_t gen; /* 0: empty */
	dev_t dev;
	ino_t ino;
	int why;
} seen[SEEN_MAX];

/* Under the lock: the kept verdict for fd, or -2 if none is valid. */
static int seen_why(int fd, const struct zc_fdinfo *fi, uint64_t gen)
{
	if (fd < 0 || fd >= SEEN_MAX || gen == 0)
		return -2;
	const struct seen *e = &seen[fd];
	return e->gen == gen && e->dev == fi->dev && e->ino == fi->ino ? e->why : -2;
}

static void seen_keep(int fd, const struct zc_fdinfo *fi, uint64_t gen, int why)
{
	if (fd < 0 || fd >= SEEN_MAX || gen == 0)
		return;
	seen[fd] = (struct seen){ gen, fi->dev, fi->ino, why };
}

/* Buffers this close to the stack pointer are taken for stack memory (as
 * in engine.c: generous, a false "stack" only costs speed). */
static int on_stack(uintptr_t b)
{
	char here;
	uintptr_t sp = (uintptr_t)&here;
	uintptr_t d = b > sp ? b - sp : sp - b;
	return d < ((uintptr_t)64 << 20);
}

/* Refusals that say something about the socket or the buffer, not about
 * this read: the stream backs off.  Lock held. */
static void refused(int fd, uintptr_t b, int why)
{
	struct zc_stream *s = zc_det_lookup(&zc_det_state, fd, b);
	if (!s)
		return;
	zc_det_touched(&zc_det_state, s);
	s->refused = (int8_t)why;
}

/* Under the lock: may this read be deferred?  Returns a reserved pool
 * pipe, or -1 with *why set. */
static int reserve(int fd, uintptr_t b, size_t n, int *stream, int *why)
{
	enum zc_read_verdict v = zc_det_before_read(&zc_det_state, fd, b);
	struct zc_stream *s = zc_det_lookup(&zc_det_state, fd, b);
	if (v != ZC_READ_DEFER || !s) {
		*why = s && s->refused >= 0 ? s->refused
		       : v == ZC_READ_BACKOFF ? ZC_FB_BACKOFF : ZC_FB_WARMUP;
		return -1;
	}
	*stream = (int)(s - zc_det_state.s);
	*why = -1;
	if (on_stack(b))
		*why = ZC_FB_STACK;
	else if (s->buf_bad)
		*why = ZC_FB_BUFFER_KIND;
	else if (!zc_cfg.guard || !zc_guard_thread_ok())
		*why = ZC_FB_SOCK_NO_GUARD;
	else if (!zc_guard_memory_ok(b, b + n))
		*why = ZC_FB_BUFFER_KIND;
	if (*why == ZC_FB_BUFFER_KIND)
		s->buf_bad = 1;
	if (*why >= 0) {
		refused(fd, b, *why);
		return -1;
	}
	int i = pipe_get(n);
	if (i < 0)
		*why = ZC_FB_SOCK_NO_PIPE; /* for this read: the pool may be busy */
	return i;
}

/* All got bytes of pipe i, then the got2 of pipe j (if not -1), go into
 * the buffer (no phantom): a read that spans no whole page, or pipes that
 * could not take what the socket held (then a non-waiting recv takes the
 * rest, as read would have).  Lock held.  Returns the count. */
static ssize_t fill_all(int fd, int i, int j, uintptr_t b, size_t got, size_t got2, size_t n,
			int more)
{
	zc_phantom_materialize(b, b + n);
	if (pipe_read(i, (void *)b, got) != 0 || (j >= 0 && pipe_read(j, (void *)(b + got), got2) != 0))
		zc_log(1, "sock: pipe %d lost bytes", i); /* cannot happen: it holds them */
	if (j >= 0)
		got += got2;
	if (more && got < n) {
		ssize_t r = REAL(recv)(fd, (void *)(b + got), n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	ZC_ADD(bytes_copied, got);
	return (ssize_t)got;
}

/* Moves the first len bytes of pipe i into pipe q (buffers, not bytes).
 * Returns the bytes moved. */
static size_t pipe_move(int i, int q, size_t len)
{
	size_t done = 0;
	int r = zc_ownfd_use(&pool[i].r), w = zc_ownfd_use(&pool[q].w);
	while (r >= 0 && w >= 0 && done < len) {
		ssize_t k = REAL(splice)(r, NULL, w, NULL, len - done, SPLICE_F_NONBLOCK);
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	zc_ownfd_unuse(&pool[q].w);
	zc_ownfd_unuse(&pool[i].r);
	pool[i].bytes -= done;
	pool[q].bytes += done;
	return done;
}

/* The bytes at the end of a read (after its whole pages) are the last in
 * pipe i: the whole pages' bytes move to another pipe first, the end is
 * read into the buffer, and the other pipe backs the record.  Returns the
 * pipe holding exactly the len bytes of the pages, or -1 (then they are in
 * the buffer after all: pages [ps, ps+len) must be ordinary memory). */
static int split_tail(int i, uintptr_t ps, size_t len, uintptr_t pe, size_t tail)
{
	/* As many slots as pipe i: the move takes its buffers one for one,
	 * and small socket buffers need more slots than the byte count says. */
	int q = pipe_get(pool[i].cap > len ? pool[i].cap : len);
	size_t moved = q >= 0 ? pipe_move(i, q, len) : 0;
	if (moved != len) {
		/* The pages take their bytes after all, in order: what moved
		 * comes first, then the rest of i. */
		zc_phantom_materialize(ps, ps + len);
		if (q >= 0) {
			pipe_read(q, (void *)ps, moved);
			zc_sock_pipe_put(q);
		}
		pipe_read(i, (void *)(ps + moved), len - moved);
		pipe_read(i, (void *)pe, tail);
		return -1;
	}
	pipe_read(i, (void *)pe, tail);
	return q;
}

/* Lays out the got bytes in pipe i over [b, b+got): partial pages as real
 * bytes, whole pages as a phantom backed by a pipe.  Lock held.  Returns
 * the pipe that backs the new record (i or another), or -1 if none was
 * made (every byte is in the buffer).  Pipe i is the caller's to put. */
static int place(int fd, const struct zc_fdinfo *fi, int i, uintptr_t b, size_t got, int stream)
{
	uintptr_t ps = page_up(b), pe = page_down(b + got);
	size_t head = ps - b, tail = b + got - pe;
	/* What lies under the partial pages gets its bytes first (the new
	 * record replaces what lies under its pages: phantom.c). */
	zc_phantom_pipe_overwrite(b, b + got);
	zc_phantom_materialize(b, ps);
	zc_phantom_materialize(pe, b + got);
	if (head)
		pipe_read(i, (void *)b, head);
	int q = i;
	if (tail && (q = split_tail(i, ps, pe - ps, pe, tail)) < 0) {
		ZC_ADD(bytes_copied, got);
		return -1;
	}
	pool[q].addr = ps;
	if (zc_phantom_defer_pipe(fd, fi->dev, fi->ino, ps, pe, q, pool[q].gen, stream) != 0) {
		/* No record (table full, mprotect failed): the pages are
		 * ordinary memory and take the bytes now. */
		pipe_read(q, (void *)ps, pe - ps);
		if (q != i)
			zc_sock_pipe_put(q);
		ZC_ADD(bytes_copied, got);
		return -1;
	}
	ZC_ADD(bytes_copied, head + tail);
	return q;
}

/* The splice itself, without the lock (it may wait as read would). */
static ssize_t take(int fd, int i, size_t n)
{
	int w = zc_ownfd_use(&pool[i].w);
	ssize_t got = w >= 0 ? REAL(splice)(fd, NULL, w, NULL, n, 0) : -1;
	int e = w >= 0 ? errno : EINVAL;
	zc_ownfd_unuse(&pool[i].w);
	errno = e;
	return got;
}

/* Is TCP's urgent mark the next byte of socket fd?  (0 for sockets
 * without one: SIOCATMARK fails on UNIX sockets.) */
static int at_mark(int fd)
{
	int mark = 0;
	return ioctl(fd, SIOCATMARK, &mark) == 0 && mark;
}

/* After a short splice into pipe i: did the pipe stop it?  A socket's
 * splice stops early only when the pipe has no free slot or the queue
 * runs dry (TCP also at the urgent mark, or with a signal pending, where
 * read stops too).  read(2) stops when the queue runs dry as well, so
 * bytes that arrive after that are the next read's: only a pipe without a
 * free slot (poll says it is not writable) left bytes that read would have
 * taken. */
static int pipe_full_now(int i)
{
	int w = zc_ownfd_use(&pool[i].w);
	struct pollfd p = { .fd = w, .events = POLLOUT };
	int full = w >= 0 && poll(&p, 1, 0) == 0;
	zc_ownfd_unuse(&pool[i].w);
	return full;
}

/* After a short splice: are bytes still queued that read would take now?
 * At TCP's urgent mark read stops as splice did (it never goes past the
 * mark once it has bytes): bytes after it are the next read's. */
static int queued(int fd)
{
	int avail = 0;
	return ioctl(fd, FIONREAD, &avail) == 0 && avail > 0 && !at_mark(fd);
}

/* A splice of up to n queued bytes of socket fd into pool pipe i, after
 * what it holds.  Bytes are queued (queued() said so), so it does not wait
 * (TCP's splice ignores SPLICE_F_NONBLOCK for the socket: only another
 * reader of the same socket taking those bytes meanwhile could make it
 * wait, and that reader makes any outcome a race).  Lock not held. */
static ssize_t take_queued(int fd, int i, size_t n)
{
	int w = zc_ownfd_use(&pool[i].w);
	ssize_t k = w >= 0 ? REAL(splice)(fd, NULL, w, NULL, n, SPLICE_F_NONBLOCK) : -1;
	zc_ownfd_unuse(&pool[i].w);
	return k;
}

/*
 * The splice into pipe i took *got of n bytes, and bytes are still queued
 * that the plain read would go on taking: ones that arrived meanwhile, or
 * ones pipe i had no slot for (a pipe takes one socket buffer per slot,
 * and a 1 MiB read of a pipe-max-size pipe meets buffers smaller than a
 * page).  They go into pipe i while it takes them, then into a second
 * pool pipe with as many slots, whose index is returned (-1: none) with
 * its bytes in *got2.  Returns whether bytes are queued still (both pipes
 * full: the caller reads them plainly).  Lock not held.
 */
static int take_rest(int fd, int i, size_t n, size_t *got, int *j, size_t *got2)
{
	int cur = i;
	int more = 1;
	while (more) {
		ssize_t k = take_queued(fd, cur, n - *got - *got2);
		if (k > 0) {
			*(cur == i ? got : got2) += (size_t)k;
			more = *got + *got2 < n && queued(fd);
			continue;
		}
		if (cur != i)
			break; /* the second pipe is full too */
		zc_lock();
		*j = pipe_get(pool[i].cap);
		zc_sock_pipe_hold(*j);
		zc_unlock();
		if (*j < 0)
			break;
		cur = *j;
	}
	if (*j >= 0) {
		zc_lock();
		pool[*j].bytes = *got2;
		if (*got2 == 0) {
			zc_sock_pipe_unhold(*j);
			zc_sock_pipe_put(*j);
			*j = -1;
		}
		zc_unlock();
	}
	return more;
}

/* The got bytes in pipe i over [b, b+got) (place, or into the buffer when
 * they span no whole page).  Lock held.  The pipe backing the record, or
 * -1; pipe i is the caller's to put. */
static int lay(int fd, const struct zc_fdinfo *fi, int i, uintptr_t b, size_t got, int stream)
{
	if (page_down(b + got) > page_up(b))
		return place(fd, fi, i, b, got, stream);
	zc_phantom_materialize(b, b + got);
	pipe_read(i, (void *)b, got);
	ZC_ADD(bytes_copied, got);
	return -1;
}

/* After the splice(s), under the lock: the count and the buffer.  Pipe i
 * holds the first got bytes, pipe j (or -1) the next got2. */
static ssize_t settle(int fd, const struct zc_fdinfo *fi, int i, int j, uintptr_t b, size_t got,
		      size_t got2, int more, size_t n, int stream)
{
	pool[i].bytes = got;
	int q = -1, q2 = -1;
	ssize_t r;
	if (more || (j < 0 && page_down(b + got) <= page_up(b))) {
		/* Still bytes queued (the second pipe's slots ran out too), or
		 * no whole page: all of them into the buffer, as read. */
		r = fill_all(fd, i, j, b, got, got2, n, more);
	} else {
		/* The records the read replaces give up their bytes first, all
		 * at once: laying out the first pipe's bytes must not make the
		 * part of an old record over the second's pages materialize. */
		if (j >= 0)
			zc_phantom_pipe_overwrite(b, b + got + got2);
		q = lay(fd, fi, i, b, got, stream);
		if (j >= 0)
			q2 = lay(fd, fi, j, b + got, got2, stream);
		r = (ssize_t)(got + got2);
		zc_phantom_hollow_end(); /* every page handed on was taken over */
	}
	int made = q >= 0 || q2 >= 0;
	if (q != i)
		zc_sock_pipe_put(i);
	if (j >= 0 && q2 != j)
		zc_sock_pipe_put(j);
	zc_det_after_read(&zc_det_state, fd, b, (size_t)r, made);
	struct zc_stream *s = zc_det_lookup(&zc_det_state, fd, b);
	if (s && made) {
		s->why = -1;
		s->refused = -1;
	}
	zc_log(3, "sock: fd %d read %zu of %zu%s", fd, (size_t)r, n, made ? " (pipe phantom)" : "");
	return r;
}

/* ---- reads of one socket by several threads (struct reading) ---------- */

/* Lock held: this thread's read of the socket fi names begins. */
static void reading_begin(const struct zc_fdinfo *fi)
{
	if (my_rd || !zc_cfg.guard)
		return; /* (without the guard no read goes past one splice) */
	int f = -1;
	for (int k = 0; k < rd_top && f < 0; k++)
		if (rd[k].active && rd[k].dev == fi->dev && rd[k].ino == fi->ino)
			f = k;
	for (int k = 0; k < READING && f < 0; k++)
		if (!rd[k].active) {
			f = k;
			rd[k] = (struct reading){ .dev = fi->dev, .ino = fi->ino };
			if (k >= rd_top)
				rd_top = k + 1;
		}
	if (f < 0) {
		rd_unnoted++; /* and no read goes on while it lasts */
		my_rd = -1;
		return;
	}
	rd[f].active++;
	my_events = ++rd[f].events;
	my_rd = f + 1;
}

int zc_sock_reading_noted(void)
{
	return my_rd != 0;
}

void zc_sock_reading_end(void)
{
	if (!my_rd)
		return;
	if (my_rd < 0) {
		rd_unnoted--;
	} else {
		struct reading *e = &rd[my_rd - 1];
		if (my_on) {
			__atomic_store_n(&e->on, 0, __ATOMIC_RELEASE);
			my_on = 0;
			pthread_cond_broadcast(&rd_done);
		}
		e->active--;
		e->events++;
		while (rd_top > 0 && !rd[rd_top - 1].active)
			rd_top--;
	}
	my_rd = 0;
}

/* Lock held: may this thread's read take queued bytes after its first
 * splice?  If so, new reads of the socket wait until it ends. */
static int reading_may_go_on(void)
{
	if (my_rd <= 0 || rd_unnoted)
		return 0;
	struct reading *e = &rd[my_rd - 1];
	if (e->active != 1 || e->events != my_events)
		return 0;
	__atomic_store_n(&e->on, 1, __ATOMIC_RELEASE);
	my_on = 1;
	return 1;
}

void zc_sock_reading_wait(void)
{
	/* (A read that went on set `on` under the lock before this thread's
	 * reading_begin took it, or it saw this one begin and did not.) */
	if (my_rd <= 0 || !__atomic_load_n(&rd[my_rd - 1].on, __ATOMIC_ACQUIRE))
		return;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += RD_WAIT_S;
	zc_lock();
	while (rd[my_rd - 1].on && zc_lock_wait(&rd_done, &until) != ETIMEDOUT)
		;
	zc_unlock();
}

static void read_cancelled(void *arg)
{
	(void)arg;
	zc_ownfd_abandon();
	zc_lock();
	zc_sock_pipe_abandon();
	zc_unlock();
}

/* take, then take_rest when bytes are still queued.  splice is a
 * cancellation point: a thread cancelled while it waits gives back the
 * pool pipes it holds and the use of their fds (as a jump out of it does,
 * zc_engine_abandon). */
static ssize_t take_cancellable(int fd, int i, size_t n, int *e, size_t *got1, int *j,
				size_t *got2, int *more)
{
	ssize_t got;
	int cancel;
	zc_cleanup_push(read_cancelled, NULL);
	cancel = zc_cancel_window_open(); /* the program's read, in its state */
	got = take(fd, i, n);
	*e = errno;
	*got1 = got > 0 ? (size_t)got : 0;
	if (got > 0 && *got1 < n && pipe_full_now(i)) {
		zc_lock();
		int go_on = reading_may_go_on();
		zc_unlock();
		if (go_on && queued(fd))
			*more = take_rest(fd, i, n, got1, j, got2);
		if (!go_on)
			zc_log(3, "sock: fd %d: another read of the socket, none past the first splice",
			       fd);
	}
	zc_cancel_window_close(cancel);
	zc_cleanup_pop(0);
	return got;
}

ssize_t zc_sock_read(int fd, const struct zc_fdinfo *fi, void *buf, size_t n, int *why)
{
	uintptr_t b = (uintptr_t)buf;
	int saved = errno, stream = -1;
	zc_lock();
	reading_begin(fi); /* until the end of this read, or of the plain one */
	int i = reserve(fd, b, n, &stream, why);
	zc_sock_pipe_hold(i); /* a jump out of the splice gives it back */
	/* Read before asking: a setsockopt meanwhile makes what is kept stale. */
	uint64_t gen = zc_sockopt_gen();
	int known = i >= 0 ? seen_why(fd, fi, gen) : -2;
	zc_unlock();
	if (i < 0) {
		errno = saved; /* pipe2 or F_SETPIPE_SZ may have failed */
		return ZC_PLAIN;
	}
	*why = known != -2 ? known : sock_refusal(fd);
	if (known == -2) {
		zc_lock();
		seen_keep(fd, fi, gen, *why);
		zc_unlock();
	}
	if (*why >= 0) {
		zc_lock();
		zc_sock_pipe_unhold(i);
		zc_sock_pipe_put(i);
		refused(fd, b, *why);
		zc_unlock();
		errno = saved;
		return ZC_PLAIN;
	}
	int e, j = -1, more = 0;
	size_t got1, got2 = 0;
	zc_sock_reading_wait();
	ssize_t got = take_cancellable(fd, i, n, &e, &got1, &j, &got2, &more);
	/* A non-blocking splice says EAGAIN at TCP's urgent mark even with
	 * bytes queued behind it, where read skips the urgent byte (or, with
	 * SO_OOBINLINE, returns it) and goes on: nothing was taken, so the
	 * plain read answers. */
	int mark = got < 0 && e == EAGAIN && at_mark(fd);
	/* The socket's own failure (EAGAIN, ECONNRESET, EINTR ...): the error
	 * is taken from the socket, as read takes it. */
	int failed = got < 0 && !mark && e != EINVAL && e != ENOMEM && e != EBADF &&
		     e != ESPIPE && e != ENOSYS;
	zc_lock();
	zc_sock_pipe_unhold(i);
	zc_sock_pipe_unhold(j);
	ssize_t r = ZC_PLAIN;
	if (got > 0)
		r = settle(fd, fi, i, j, b, got1, got2, more, n, stream);
	else
		zc_sock_pipe_put(i);
	if (r != ZC_PLAIN || failed)
		zc_sock_reading_end(); /* (else the plain read follows, still noted) */
	zc_unlock();
	if (failed) {
		errno = e;
		return -1;
	}
	/* 0 (the end, or TCP urgent data), EAGAIN at the urgent mark, or a
	 * socket splice refuses: the plain read answers. */
	errno = saved;
	return r;
}

/* ---- the write ----------------------------------------------------------- */

/* Under the lock: a scratch pipe holding a copy (page references, by tee)
 * of the first len bytes of record pipe i, generation gen at addr; or -1. */
static int scratch_of(int i, uint32_t gen, uintptr_t addr, size_t len)
{
	if (i < 0 || i >= POOL || !pool[i].busy || pool[i].gen != gen || pool[i].addr != addr ||
	    pool[i].bytes < len)
		return -1; /* the record went meanwhile */
	/* As many slots as the record's pipe: tee copies its buffers one
	 * for one, and a record of a few bytes in many small socket buffers
	 * (a second pipe's) needs more slots than its byte count says. */
	int s = pipe_get(pool[i].cap > len ? pool[i].cap : len);
	if (s < 0)
		return -1;
	int r = zc_ownfd_use(&pool[i].r), w = zc_ownfd_use(&pool[s].w);
	ssize_t t = r >= 0 && w >= 0 ? tee(r, w, len, SPLICE_F_NONBLOCK) : -1;
	zc_ownfd_unuse(&pool[s].w);
	zc_ownfd_unuse(&pool[i].r);
	pool[s].bytes = t > 0 ? (size_t)t : 0;
	if (t != (ssize_t)len) {
		zc_sock_pipe_put(s);
		return -1;
	}
	return s;
}

ssize_t zc_sock_send(int i, uint32_t gen, uintptr_t addr, size_t len, int out, off_t *pos)
{
	int saved = errno;
	zc_lock();
	int s = scratch_of(i, gen, addr, len);
	zc_sock_pipe_hold(s);
	zc_unlock();
	if (s < 0) {
		errno = saved;
		return ZC_PLAIN;
	}
	/* One splice is the write: into a file or block device it stops where
	 * the write would (a full disk, an I/O error); into a stream socket it
	 * waits as the write waits (the socket's O_NONBLOCK and SO_SNDTIMEO
	 * are the kernel's to apply) and returns what went when a signal or an
	 * error ends it.  It never waits for the pipe, which holds all len
	 * bytes. */
	int r = zc_ownfd_use(&pool[s].r);
	ssize_t k = r >= 0 ? REAL(splice)(r, NULL, out, pos, len, 0) : -1;
	int e = r >= 0 ? errno : EINVAL;
	zc_ownfd_unuse(&pool[s].r);
	if (k > 0) {
		ZC_ADD(transfers[ZC_T_SPLICE], 1);
		pool[s].bytes -= (size_t)k;
	}
	zc_lock();
	zc_sock_pipe_unhold(s);
	zc_sock_pipe_put(s);
	zc_unlock();
	errno = saved;
	if (k > 0)
		return k;
	/* Nothing went.  The kernel cannot (EINVAL), or the peer went away:
	 * the plain write follows, and its SIGPIPE (held back by the caller)
	 * reaches the program when the write sent nothing (redirect.c,
	 * release_sigpipe).  Other failures are the write's own. */
	if (k == 0 || e == EINVAL || e == ENOSYS || e == EPIPE || e == EBADF)
		return ZC_PLAIN;
	return -e;
}
