/*
 * engine.c - deciding, per call, whether a read is deferred; fd, memory and
 * stdio events.  (The write side is redirect.c.)
 *
 * Owns the detector state, the engine lock and the read-side accounting.
 * The lock is held only while the detector and the phantom table are
 * consulted or changed, and never across a call that waits for another
 * thread or process (a write to a full pipe must not stop another thread's
 * free()); the file and memory calls of a deferral run under it.  Every path that does
 * not defer ends in the very call the program made, so its results are the
 * plain ones.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "detect.h"
#include "fdinfo.h"
#include "guard.h"
#include "log.h"
#include "ownfd.h"
#include "phantom.h"
#include "pin.h"
#include "real.h"
#include "redirect.h"
#include "signals.h"
#include "sock.h"
#include "stats.h"
#include "streams.h"
#include "transfer.h"

volatile int zc_ready;
volatile int zc_mode = ZC_MODE_OFF;
size_t zc_min_chunk = ZC_DEFAULT_MIN_CHUNK;
size_t zc_read_min = SIZE_MAX;
size_t zc_write_min = SIZE_MAX;
__thread int zc_inside __attribute__((tls_model("initial-exec")));
__thread int zc_cancel_old __attribute__((tls_model("initial-exec")));
__thread int zc_cancel_held __attribute__((tls_model("initial-exec")));
__thread struct zc_cancel_span *zc_cancel_spans __attribute__((tls_model("initial-exec")));
__thread size_t zc_stdio_read_rest __attribute__((tls_model("initial-exec")));

static pthread_mutex_t engine_mu = PTHREAD_MUTEX_INITIALIZER;
struct zc_detector zc_det_state;
#define det zc_det_state

/* Whether this thread holds the lock: a signal handler that interrupts it
 * there and calls fork() must not wait for the lock in the fork handler. */
static __thread int holding __attribute__((tls_model("initial-exec")));
/* The cancellation state the lock was taken in: no cancellation point
 * (a splice emptying a pipe, a pread, a condition wait) may end the thread
 * while it holds the lock, also inside a window of the program's own state
 * (engine.h, "Cancellation"). */
static __thread int lock_cancel __attribute__((tls_model("initial-exec")));

void zc_lock(void)
{
#ifdef ZC_DEBUG
	/* The lock is taken only with zc_inside set: a signal handler that
	 * interrupts its holder then takes the plain path instead of waiting
	 * for it forever.  Debug builds (CFLAGS=-DZC_DEBUG) check. */
	if (!zc_inside) {
		zc_log(0, "engine lock taken without zc_inside set");
		abort();
	}
	if (zc_cancel_held == 1) {
		int state, type;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
		pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
		if (state != PTHREAD_CANCEL_DISABLE || type != PTHREAD_CANCEL_DEFERRED) {
			zc_log(0, "zc_cancel_held set with cancellation on");
			abort();
		}
	}
#endif
	/* From before the mutex to after its release, the program's signal
	 * handlers wait (sigdefer.c): one that touched a guarded page here
	 * could not have it served, its thread holding the lock. */
	zc_sig_hold = 1;
	__asm__ __volatile__("" ::: "memory");
	/* (-1: zcopy already keeps cancellation off here, zc_cancel_held;
	 * in a window only the state changes, the type being deferred.) */
	int cancel = -1;
	if (zc_cancel_held == 2) {
		int state;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
		cancel = zc_cancel_saved(PTHREAD_CANCEL_DEFERRED, state);
	} else if (zc_cancel_held == 0) {
		cancel = zc_cancel_off();
	}
	pthread_mutex_lock(&engine_mu);
	holding = 1;
	lock_cancel = cancel;
}

void zc_unlock(void)
{
	int cancel = lock_cancel;
	holding = 0;
	pthread_mutex_unlock(&engine_mu);
	if (cancel >= 0)
		zc_cancel_on(cancel);
	zc_sigdefer_release(); /* the handlers that waited run now */
}

int zc_lock_held(void)
{
	return holding;
}

/* How long a program handler held back during zc_lock_wait may wait. */
#define WAIT_SLICE_NS 2000000L

int zc_lock_wait(pthread_cond_t *cv, const struct timespec *until)
{
	/* The wait goes in slices: the program's handlers held back meanwhile
	 * (the lock counts as held for them throughout, sigdefer.c) run between
	 * two, with the mutex released as for a spurious wakeup, so a handler
	 * waits a few milliseconds, not the whole wait. */
	struct timespec slice;
	clock_gettime(CLOCK_MONOTONIC, &slice);
	slice.tv_nsec += WAIT_SLICE_NS;
	if (slice.tv_nsec >= 1000000000L) {
		slice.tv_sec++;
		slice.tv_nsec -= 1000000000L;
	}
	int last = slice.tv_sec > until->tv_sec ||
		   (slice.tv_sec == until->tv_sec && slice.tv_nsec >= until->tv_nsec);
	holding = 0;
	int r = pthread_cond_clockwait(cv, &engine_mu, CLOCK_MONOTONIC, last ? until : &slice);
	holding = 1;
	if (r == ETIMEDOUT && !last)
		r = 0; /* a slice ended: the caller looks again */
	if (zc_sig_head != zc_sig_tail) {
		zc_unlock(); /* the held-back handlers run now */
		zc_lock();
	}
	return r;
}

void zc_engine_reset(void)
{
	/* The detector and the phantom table are the process's state and stay
	 * valid in a forked child (same memory, same fds); only the lock, which
	 * another thread of the parent may have held, starts afresh. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	engine_mu = fresh;
}

void zc_engine_init(void)
{
	zc_engine_reset();
	zc_det_init(&det);
	zc_pin_init();
}

/*
 * A plain read is about to fill [b, b+n), which holds phantom pages (the
 * stream backed off, or a forked child is warming up again).  The kernel
 * would copy-on-write them one by one and the records would then describe
 * pages that are no longer the file's; instead they become ordinary memory
 * first, keeping their bytes in case the read returns fewer than n.
 */
static void before_plain_read(uintptr_t b, size_t n)
{
	struct zc_phantom any;
	zc_lock();
	if (zc_phantom_overlapping(b, b + n, &any, 1) > 0)
		zc_phantom_materialize(b, b + n);
	zc_unlock();
}

/* Until a read has started a stream, no write can pair with one or carry a
 * phantom page: in mode on, writes stay on the wrappers' fast path (one
 * compare) until then.  Called with the lock held. */
static void arm_writes(void)
{
	if (zc_mode == ZC_MODE_ON && zc_write_min == SIZE_MAX)
		zc_write_min = zc_page;
}

/* Why a read that was not even tried is plain: the reason the stream was
 * last refused for, if it was (the back-off it earned says nothing new),
 * else back-off after the program touched its data, else warm-up. */
static int waiting_reason(const struct zc_stream *s, enum zc_read_verdict v)
{
	if (s && s->refused >= 0)
		return s->refused;
	return v == ZC_READ_BACKOFF ? ZC_FB_BACKOFF : ZC_FB_WARMUP;
}

/* Buffers this close to the stack pointer are taken for stack memory, which
 * is never deferred (generous: a false "stack" only costs speed). */
static int on_stack(uintptr_t b)
{
	char here;
	uintptr_t sp = (uintptr_t)&here;
	uintptr_t d = b > sp ? b - sp : sp - b;
	return d < ((uintptr_t)64 << 20);
}

/* Size of the data behind a file or block device, or -1 if unknown. */
static off_t source_size(int fd, const struct stat *st)
{
	if (S_ISBLK(st->st_mode)) {
		uint64_t sz = 0;
		return ioctl(fd, BLKGETSIZE64, &sz) == 0 ? (off_t)sz : -1;
	}
	return st->st_size;
}

/* ---- reads --------------------------------------------------------------- */

/* st_blocks of a pin's stat that was not asked (fpipe_candidate): only
 * the identity is known. */
#define ZC_FPIPE_STAT ((blkcnt_t)-2)

/* Where the latest read of fd ended, for every stream of fd: a program may
 * alternate between buffers (python frees the previous bytes object only
 * after the next read), and each continues where the other stopped. */
static void set_next_off(int fd, off_t v)
{
	for (int i = 0; i < ZC_STREAMS; i++)
		if (det.s[i].fd == fd)
			det.s[i].next_off = v;
}

/* Why a read of this description cannot be deferred at all: -1 if it can,
 * else the ZC_FB_* reason. */
static int source_refusal(const struct zc_fdinfo *fi)
{
	if (!zc_fd_is_source(fi))
		return ZC_FB_SRC_NOT_FILE;
	if (fi->flags & ZC_FL_DIRECT)
		return ZC_FB_SRC_DIRECT;
	return -1;
}

/* Where the read starts.  One lseek in the common case: move the offset by
 * n, which tells where the read starts; only a short read (the end of the
 * file) or a refusal needs a second one to put it where read() would leave
 * it.  Returns -1 if the offset cannot be had (nothing moved then). */
static off_t start_offset(int pfd, size_t n, const off_t *pos)
{
	if (pos)
		return *pos;
	off_t end = REAL(lseek)(pfd, (off_t)n, SEEK_CUR);
	if (end < 0 || (uint64_t)end < n)
		return -1;
	return end - (off_t)n;
}

/* A stream that a new buffer took over (detect.h) continues only where the
 * freed buffer's stream stopped: another read of the same fd is something
 * else, and warms up on its own.  Returns 1 when s starts warming up. */
static int adopted_elsewhere(struct zc_stream *s, off_t off)
{
	if (!s->adopted)
		return 0;
	s->adopted = 0;
	if (s->next_off < 0 || off == s->next_off)
		return 0;
	s->engaged = 0;
	s->pairs = 0;
	return 1;
}

/* The memory the read would fill, [b, b+fill), must be private anonymous
 * memory (or ours).  Checked once per stream and length: every way the
 * memory behind a buffer can change (free, munmap, mmap over it, mremap,
 * mprotect) ends the stream.  Buffers that will be guarded are checked
 * against the mappings (not a thread's stack; private memory also where
 * pages were never touched, such as freed memory given fresh zero pages,
 * which pagemap cannot tell from shared memory); guard.c caches the verdict
 * per region. */
static int buffer_ok(struct zc_stream *s, uintptr_t b, off_t off, size_t fill)
{
	int guarded = zc_cfg.guard && ((b - (uintptr_t)off) & (zc_page - 1)) != 0;
	if (guarded)
		return zc_guard_memory_ok(b, b + fill);
	if (fill <= s->buf_ok_len)
		return 1;
	if (!zc_buffer_is_private_anon(b, fill))
		return 0;
	s->buf_ok_len = fill;
	return 1;
}

/*
 * May a read's whole pages be guarded even where the file could be mapped
 * over them?  Guards allowed on this thread and for this memory; a regular
 * file not opened O_DIRECT; not a stream whose bytes went through glibc's
 * own write(2) (that write is not wrapped and would fail with EFAULT on a
 * guarded page, so the pages got their bytes first, stdio_unguard: each
 * later read guarded again would only be read in again).  An fread's
 * direct read is guarded as read(2)'s is: glibc's copies and writes of
 * the items all come after a wrapper that gives guarded pages their bytes
 * (stdio.c, stdio_write.c).  Lock held.
 */
static int guard_aligned_ok(const struct zc_stream *s, uintptr_t b, size_t n,
			    const struct zc_fdinfo *fi)
{
	if (!zc_cfg.guard || s->via_stdio || n == 0)
		return 0;
	if (fi->kind != ZC_K_FILE || (fi->flags & ZC_FL_DIRECT))
		return 0;
	return zc_guard_thread_ok() && zc_guard_memory_ok(b, b + n);
}

/*
 * May this read be one splice into a pipe of zcopy's (phantom.h,
 * zc_phantom_defer_fpipe)?  Where its stream's bytes go to a pipe or a
 * character device, which take a splice of the pipe, and a page-aligned
 * buffer of whole pages (the file offset is checked once known).
 */
static int fpipe_candidate(const struct zc_stream *s, uintptr_t b, size_t n,
			   const struct zc_fdinfo *fi)
{
	if (((b | n) & (zc_page - 1)) || (s->dest_kind != ZC_K_PIPE && s->dest_kind != ZC_K_CHAR))
		return 0;
	return guard_aligned_ok(s, b, n, fi);
}

/*
 * Should the whole pages of this read be guarded rather than mapped, where
 * its stream's bytes go to a file or a stream socket?  copy_file_range and
 * sendfile read the file themselves, so the transfer is the same; guarded
 * pages that stay untouched need no mmap per read and no pagemap pread per
 * write (the steady state of a file-to-file or file-to-socket loop: lseek,
 * fstat and the transfer).
 */
static int guard_for_reading_dest(const struct zc_stream *s, uintptr_t b, size_t n,
				  const struct zc_fdinfo *fi)
{
	return (s->dest_kind == ZC_K_FILE || s->dest_kind == ZC_K_STREAM) &&
	       guard_aligned_ok(s, b, n, fi);
}

/* The read as one splice into a pipe of zcopy's, at off (explicit: the
 * offset is moved by the caller).  Returns the count, or ZC_PLAIN (nothing
 * changed: today's strategies follow). */
static ssize_t defer_into_pipe(int fd, int pin, void *buf, size_t n, off_t off,
			       const struct stat *st, struct zc_stream *s)
{
	if (off & (off_t)(zc_page - 1))
		return ZC_PLAIN; /* pages spliced from mid-page would fill a pipe otherwise */
	size_t got = 0;
	/* st: the identity (try_defer set it from fi), all the record keeps. */
	if (zc_phantom_defer_fpipe(fd, pin, buf, n, off, st, (int)(s - det.s), &got) != ZC_DEFER_OK)
		return ZC_PLAIN;
	return (ssize_t)got;
}

/*
 * Defers one read of n bytes at *pos (or at the file offset) of the pinned
 * description pfd (the program's fd, pin index pin).  Returns the count
 * read() would return, or ZC_PLAIN with *why set if the plain call must be
 * made; then the file offset is where it was (one exit undoes the lseek).
 * st (the caller's, used by nothing after) is changed in place: it ends
 * with the size the read went by.
 */
static ssize_t defer_pinned(int pfd, int fd, int pin, void *buf, size_t n, const off_t *pos,
			    struct zc_stream *s, const struct zc_fdinfo *fi, struct stat *st,
			    int *why)
{
	uintptr_t b = (uintptr_t)buf;
	if ((*why = source_refusal(fi)) >= 0)
		return ZC_PLAIN;
	int saved = errno;
	off_t off = start_offset(pfd, n, pos);
	if (off < 0) {
		errno = saved;
		*why = ZC_FB_SRC_NOT_FILE;
		return ZC_PLAIN;
	}
	if (adopted_elsewhere(s, off)) {
		*why = ZC_FB_WARMUP;
		goto undo;
	}
	size_t got = 0;
	struct stat *sized = st;
	if (st->st_blocks == ZC_FPIPE_STAT) {
		ssize_t k = defer_into_pipe(fd, pin, buf, n, off, st, s);
		if (k != ZC_PLAIN) {
			got = (size_t)k;
			goto done;
		}
		/* Today's strategies need the size the pipe's splice would have told. */
		if (zc_fstat(pfd, sized) < 0) {
			*why = ZC_FB_SRC_NOT_FILE;
			goto undo;
		}
	}
	if (sized->st_blocks == ZC_SIZE_CLAIMED)
		sized->st_size = off + (off_t)n; /* the last page's pread proves it */
	else
		sized->st_size = source_size(pfd, sized);
	/* At the end, read() returns 0 and leaves the buffer alone (a plain
	 * read here would first have to give phantom pages their bytes). */
	while (sized->st_size <= 0 || sized->st_size > off) {
		size_t fill = sized->st_size > off && (uint64_t)(sized->st_size - off) < n
				      ? (size_t)(sized->st_size - off) : n;
		if (!buffer_ok(s, b, off, fill)) {
			s->buf_bad = 1;
			*why = ZC_FB_BUFFER_KIND;
			goto undo;
		}
		enum zc_defer_result r = zc_phantom_defer(fd, pin, buf, n, off, sized,
							  (int)(s - det.s), &got, why,
							  guard_for_reading_dest(s, b, n, fi));
		if (r == ZC_DEFER_OK)
			break;
		if (r != ZC_DEFER_SHORT)
			goto undo;
		/* The file ends inside this read: its size decides the count. */
		if (zc_fstat(pfd, sized) < 0) {
			*why = ZC_FB_SRC_NOT_FILE;
			goto undo;
		}
	}
done:
	if (!pos && got != n && REAL(lseek)(pfd, off + (off_t)got, SEEK_SET) < 0) {
		/* Cannot happen for a file we just read: undo, read plainly. */
		zc_phantom_materialize(b, b + got);
		*why = ZC_FB_MAP_FAILED;
		goto undo;
	}
	set_next_off(fd, off + (off_t)got);
	errno = saved;
	return (ssize_t)got;
undo:
	if (!pos)
		REAL(lseek)(pfd, off, SEEK_SET);
	errno = saved;
	return ZC_PLAIN;
}

/*
 * Tries to defer one read of n bytes of fd at *pos (or at the file offset).
 * Returns the count read() would return, or ZC_PLAIN with *why set if the
 * plain call must be made.  Caller holds the lock; s is the stream.
 */
static ssize_t try_defer(int fd, void *buf, size_t n, const off_t *pos, struct zc_stream *s,
			 int *why)
{
	struct zc_fdinfo fi;
	struct stat st;
	uintptr_t b = (uintptr_t)buf;

	if (on_stack(b)) {
		*why = ZC_FB_STACK;
		return ZC_PLAIN;
	}
	if (s->buf_bad) {
		*why = ZC_FB_BUFFER_KIND;
		return ZC_PLAIN;
	}
	if (s->dest_kind == ZC_K_PIPE && n <= PIPE_BUF) {
		/* Its write into the pipe is one atomic unit, always made
		 * plainly (zc_write_refusal): deferred, the read would only
		 * add calls (the bytes read back for the write). */
		*why = ZC_FB_TOO_SMALL;
		return ZC_PLAIN;
	}
	/* From here on every call is made on the pin: the read happens on the
	 * description fd named when kcmp compared them, whatever another
	 * thread does to the number meanwhile. */
	/* A read whose last page is partial proves the size it needs with
	 * that page's pread (phantom.h): no fstat then. */
	int claim = ((b + n) & (zc_page - 1)) != 0;
	memset(&st, 0, sizeof st);
	/* A read that may be one splice into a pipe learns the size from the
	 * splice: no fstat either (asked later if it goes another way). */
	struct zc_fdinfo cached;
	int fp = zc_fd_get(fd, &cached, ZC_FD_CACHED, NULL) == 0 && fpipe_candidate(s, b, n, &cached);
	int pin = zc_pin_get(fd, &fi, !claim && !fp, &st);
	if (pin < 0) {
		*why = pin == -2 ? ZC_FB_FD_LIMIT : ZC_FB_NO_PIN;
		return ZC_PLAIN;
	}
	if (claim) {
		/* What the records need of the file: its identity (the pin's). */
		st.st_dev = fi.dev;
		st.st_ino = fi.ino;
		st.st_mode = fi.kind == ZC_K_BLOCK ? S_IFBLK : S_IFREG;
		if (fi.kind == ZC_K_FILE)
			st.st_blocks = ZC_SIZE_CLAIMED; /* a block device's is asked */
	}
	if (fp && !claim) {
		st.st_dev = fi.dev;
		st.st_ino = fi.ino;
		st.st_mode = S_IFREG;
		st.st_blocks = ZC_FPIPE_STAT; /* not asked: the splice tells */
	}
	int pfd = zc_pin_use(pin);
	ssize_t r = ZC_PLAIN;
	if (pfd >= 0)
		r = defer_pinned(pfd, fd, pin, buf, n, pos, s, &fi, &st, why);
	else
		*why = ZC_FB_SRC_NOT_FILE;
	zc_pin_unuse(pin);
	zc_pin_put(pin);
	return r;
}

/* Observe mode: would this read have been deferred?  -1 yes, else ZC_FB_*. */
static int observe_read(int fd, uintptr_t b, size_t got, size_t n, const off_t *pos)
{
	struct zc_fdinfo fi;
	if (zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) < 0 || !zc_fd_is_source(&fi))
		return ZC_FB_SRC_NOT_FILE;
	if (fi.flags & ZC_FL_DIRECT)
		return ZC_FB_SRC_DIRECT;
	if (n < zc_min_chunk)
		return ZC_FB_TOO_SMALL;
	if (on_stack(b))
		return ZC_FB_STACK;
	int saved = errno;
	off_t off = pos ? *pos : REAL(lseek)(fd, 0, SEEK_CUR) - (off_t)got;
	errno = saved;
	if (off < 0)
		return ZC_FB_SRC_NOT_FILE;
	if (((b - (uintptr_t)off) & (zc_page - 1)) && !zc_cfg.guard)
		return ZC_FB_ALIGNMENT; /* guards would take it (would_guard_bytes) */
	return -1;
}

static ssize_t plain_read(int fd, void *buf, size_t n, const off_t *pos)
{
	zc_guard_before_kernel(buf, n);
	return pos ? REAL(pread)(fd, buf, n, *pos) : REAL(read)(fd, buf, n);
}

/* Tells the detector about a read that was made plainly; in observe mode
 * also works out whether it would have been deferred.  Inside zcopy. */
static void note_plain_read(int fd, uintptr_t b, size_t got, size_t n, const off_t *pos, int why)
{
	int saved = errno;
	zc_lock();
	if (zc_mode == ZC_MODE_OBSERVE) {
		enum zc_read_verdict v = zc_det_before_read(&det, fd, b);
		why = observe_read(fd, b, got, n + zc_stdio_read_rest, pos);
		if (why < 0 && v != ZC_READ_DEFER)
			why = waiting_reason(zc_det_lookup(&det, fd, b), v);
	}
	zc_det_after_read(&det, fd, b, got, 0);
	arm_writes();
	set_next_off(fd, -1); /* where a plain read ended is not known here */
	struct zc_stream *s = zc_det_lookup(&det, fd, b);
	if (s) {
		s->why = (int8_t)why;
		s->adopted = 0;
	}
	zc_unlock();
	errno = saved;
}

/* Observe mode: a vector read is the reads of its pieces. */
static ssize_t observe_readv(int fd, const struct iovec *iov, int cnt, const off_t *pos)
{
	ssize_t r = pos ? REAL(preadv)(fd, iov, cnt, *pos) : REAL(readv)(fd, iov, cnt);
	if (r <= 0 || zc_inside)
		return r;
	zc_enter();
	int saved = errno;
	off_t at = pos ? *pos : REAL(lseek)(fd, 0, SEEK_CUR) - r;
	errno = saved;
	size_t left = (size_t)r;
	for (int i = 0; i < cnt && left > 0; i++) {
		size_t got = iov[i].iov_len < left ? iov[i].iov_len : left;
		if (got)
			note_plain_read(fd, (uintptr_t)iov[i].iov_base, got, iov[i].iov_len,
					at >= 0 ? &at : NULL, -1);
		at += (off_t)got;
		left -= got;
	}
	zc_leave();
	return r;
}

/* Observe mode sees every call; the small ones (the 1-byte loops) are paired
 * per thread, without the lock or the detector: the thread's latest small
 * read, and the reason it could not have been deferred. */
__thread struct zc_small_read zc_small_read __attribute__((tls_model("initial-exec")));

static ssize_t observe_small_read(int fd, void *buf, size_t n, const off_t *pos)
{
	ssize_t r = plain_read(fd, buf, n, pos);
	if (r > 0) {
		int saved = errno;
		struct zc_fdinfo fi;
		zc_small_read.buf = (uintptr_t)buf;
		zc_small_read.len = (size_t)r;
		zc_small_read.why = zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) < 0 || !zc_fd_is_source(&fi)
					    ? ZC_FB_SRC_NOT_FILE
					    : ZC_FB_TOO_SMALL;
		errno = saved;
	}
	return r;
}

/* Refusals that say something about the stream's buffer or the process,
 * not about this one read: do not ask again for a while. */
static int backs_off(int why)
{
	return why == ZC_FB_MAP_FAILED || why == ZC_FB_BUFFER_KIND || why == ZC_FB_STACK ||
	       why == ZC_FB_ALIGNMENT || why == ZC_FB_FD_LIMIT || why == ZC_FB_NO_PIN;
}

/* Mode on, a read of at least ZCOPY_MIN_CHUNK from a source: deferred if
 * the detector says its stream is engaged.  Returns the count read() would
 * return, or ZC_PLAIN with *why set (the plain read follows).  Takes the
 * lock. */
static ssize_t consider(int fd, void *buf, size_t n, const off_t *pos, int *why)
{
	uintptr_t b = (uintptr_t)buf;
	ssize_t r = ZC_PLAIN;
	zc_lock();
	enum zc_read_verdict v = zc_det_before_read(&det, fd, b);
	struct zc_stream *s = zc_det_lookup(&det, fd, b);
	if (v != ZC_READ_DEFER || !s) {
		*why = waiting_reason(s, v);
	} else if ((r = try_defer(fd, buf, n, pos, s, why)) > 0) {
		zc_det_after_read(&det, fd, b, (size_t)r, 1);
		arm_writes();
		s->why = -1;
		s->refused = -1;
	} else if (r < 0 && backs_off(*why)) {
		zc_det_touched(&det, s);
		s->refused = (int8_t)*why;
	}
	zc_unlock();
	return r;
}

/* A read of a stream socket (sock.c): deferred into a pipe when its stream
 * is engaged.  Returns the count (or -1 and errno) read() returns, or
 * ZC_PLAIN with *why set. */
static ssize_t consider_socket(int fd, const struct zc_fdinfo *fi, void *buf, size_t n, int *why)
{
	zc_flow_read(fd); /* a write of other bytes next is "transformed" */
	*why = ZC_FB_WARMUP;
	return zc_sock_read(fd, fi, buf, n, why);
}

static void noted_read_cancelled(void *arg)
{
	(void)arg;
	zc_lock();
	zc_sock_reading_end();
	zc_unlock();
}

/* The plain read after a declined socket read that stays noted as a read
 * of its socket (sock.h) until it is done, also when the thread is
 * cancelled in it. */
static ssize_t noted_plain_read(int fd, void *buf, size_t n)
{
	ssize_t r;
	zc_sock_reading_wait();
	zc_cleanup_push(noted_read_cancelled, NULL);
	int cancel = zc_cancel_window_open();
	r = plain_read(fd, buf, n, NULL);
	zc_cancel_window_close(cancel);
	zc_cleanup_pop(0);
	int e = errno;
	zc_lock();
	zc_sock_reading_end();
	zc_unlock();
	errno = e;
	return r;
}

ssize_t zc_engine_read(int fd, void *buf, size_t n, const off_t *pos)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF)
		return plain_read(fd, buf, n, pos);
	if (zc_mode == ZC_MODE_OBSERVE && n + zc_stdio_read_rest < zc_min_chunk)
		return observe_small_read(fd, buf, n, pos);
	if (n > ZC_MAX_RW)
		return plain_read(fd, buf, n, pos); /* the kernel's own checks and cap */
	pthread_testcancel(); /* a pending cancel acts here, as at read's start */
	zc_enter();
	uintptr_t b = (uintptr_t)buf;
	int why = -1, sock_noted = 0;
	struct zc_fdinfo fi;
	if (zc_mode == ZC_MODE_ON) {
		int got_fi = zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) >= 0;
		int renamed = zc_vfork_child_renamed();
		if (got_fi && !pos && !renamed && zc_sock_candidate(&fi, n + zc_stdio_read_rest)) {
			ssize_t r = consider_socket(fd, &fi, buf, n, &why);
			if (r != ZC_PLAIN) {
				zc_leave();
				return r;
			}
			/* Still noted as a read of the socket if it reached the
			 * splice (sock.c): another thread's read of it does not go
			 * on around this one. */
			sock_noted = zc_sock_reading_noted();
			goto plain; /* the detector learns of it (sockets too) */
		}
		if (!got_fi || !zc_fd_is_source(&fi) || renamed) {
			/* Not a file: nothing to defer, nothing to learn.  (Nor in
			 * a vfork child that changed what a number names: the pin
			 * of fd may name what it let go of, ownfd.h.) */
			if (zc_phantom_live)
				before_plain_read(b, n);
			zc_leave();
			return plain_read(fd, buf, n, pos);
		}
		why = ZC_FB_TOO_SMALL;
		if (n + zc_stdio_read_rest >= zc_min_chunk)
			zc_flow_read(fd); /* a write of other bytes next is "transformed" */
		/* An fread's request counts whole (stdio_read.c reads its rest). */
		ssize_t r = n + zc_stdio_read_rest >= zc_min_chunk ? consider(fd, buf, n, pos, &why)
								    : ZC_PLAIN;
		if (r != ZC_PLAIN) {
			zc_leave();
			return r;
		}
	}
plain:
	if (zc_phantom_live)
		before_plain_read(b, n);
	if (zc_mode == ZC_MODE_OBSERVE)
		zc_flow_read(fd);
	/* The program's own call (a socket's may wait): its cancellation
	 * state, nothing of zcopy's held. */
	ssize_t r;
	if (sock_noted) {
		r = noted_plain_read(fd, buf, n);
	} else {
		int cancel = zc_cancel_window_open();
		r = plain_read(fd, buf, n, pos);
		zc_cancel_window_close(cancel);
	}
	if (r > 0)
		note_plain_read(fd, b, (size_t)r, n, pos, why);
	zc_leave();
	return r;
}

/* A vector the kernel accepts, one of whose pieces is big enough to defer
 * (an invalid or huge one is left to the kernel's checks). */
static int has_big_piece(const struct iovec *iov, int cnt)
{
	if (!iov || cnt <= 0 || cnt > IOV_MAX)
		return 0;
	size_t total = 0;
	int big = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > ZC_MAX_RW - total)
			return 0;
		total += iov[i].iov_len;
		big |= iov[i].iov_len >= zc_min_chunk;
	}
	return big;
}

ssize_t zc_engine_readv(int fd, const struct iovec *iov, int cnt, const off_t *pos)
{
	struct zc_fdinfo fi;
	if (zc_mode == ZC_MODE_OBSERVE && zc_ready && cnt > 0 && cnt <= IOV_MAX && iov)
		return observe_readv(fd, iov, cnt, pos);
	if (!has_big_piece(iov, cnt) || zc_inside || !zc_ready || zc_mode != ZC_MODE_ON ||
	    zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) < 0 || !zc_fd_is_source(&fi)) {
		if (cnt > 0 && iov)
			zc_guard_before_kernel_iov(iov, (size_t)cnt);
		return pos ? REAL(preadv)(fd, iov, cnt, *pos) : REAL(readv)(fd, iov, cnt);
	}

	/* A vector read of a file is the reads of its pieces at increasing
	 * offsets; each piece goes through the engine as a pread would.  The
	 * plain call is one cancellation point, at its start: the pieces are
	 * none. */
	int saved = errno;
	pthread_testcancel();
	off_t off = pos ? *pos : REAL(lseek)(fd, 0, SEEK_CUR);
	if (off < 0) {
		errno = saved;
		zc_guard_before_kernel_iov(iov, (size_t)cnt);
		return pos ? REAL(preadv)(fd, iov, cnt, *pos) : REAL(readv)(fd, iov, cnt);
	}
	struct zc_cancel_span span;
	zc_cancel_span_begin(&span);
	size_t total = 0;
	for (int i = 0; i < cnt; i++) {
		off_t at = off + (off_t)total;
		ssize_t r = zc_engine_read(fd, iov[i].iov_base, iov[i].iov_len, &at);
		if (r < 0) {
			if (total == 0) {
				/* The program's state comes back on this way out too. */
				int e = errno;
				zc_cancel_span_end(&span);
				errno = e;
				return -1;
			}
			break;
		}
		total += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	if (!pos)
		REAL(lseek)(fd, off + (off_t)total, SEEK_SET);
	zc_cancel_span_end(&span);
	errno = saved;
	return (ssize_t)total;
}

/* ---- fds and files ------------------------------------------------------- */

__thread uintptr_t zc_inside_sp __attribute__((tls_model("initial-exec")));

void zc_engine_abandon(void)
{
	if (zc_lock_held()) {
		/* The jump leaves a section that was changing the tables, which
		 * may be half changed: from now on every call passes through. */
		zc_mode = ZC_MODE_OFF;
		zc_read_min = SIZE_MAX;
		zc_write_min = SIZE_MAX;
		zc_unlock();
		zc_log(1, "a signal handler jumped out of zcopy's locked work; zcopy is off now");
	}
	zc_write_abandon();
	if (zc_sock_pipe_held()) {
		/* A socket read's pool pipes, taken before its splice. */
		zc_lock();
		zc_sock_pipe_abandon();
		zc_unlock();
	}
	/* A pool pipe's fd in use by the splice: its mover would wait for it. */
	zc_ownfd_abandon();
	zc_leave();
}

/* fds a signal handler closed while its thread was inside zcopy. */
#define ZC_PENDING_FDS 16
__thread int zc_pending_n __attribute__((tls_model("initial-exec")));
static __thread int pending_fds[ZC_PENDING_FDS] __attribute__((tls_model("initial-exec")));

void zc_defer_fd_closed(int fd)
{
	int n = zc_pending_n;
	if (n < ZC_PENDING_FDS)
		pending_fds[n] = fd;
	zc_pending_n = n + 1; /* more than fit: every pin is checked */
}

static void forget_fd(int fd)
{
	zc_det_forget_fd(&det, fd);
	zc_phantom_fd_closed(fd);
	zc_pin_fd_closed(fd);
	zc_flow_fds_closed((unsigned)fd, (unsigned)fd);
}

void zc_leave_slow(void)
{
	int saved = errno;
	int held = zc_lock_held();
	if (!held)
		zc_lock();
	/* A handler may queue more meanwhile: until none is left. */
	for (int n; (n = zc_pending_n) != 0;) {
		zc_pending_n = 0;
		if (n > ZC_PENDING_FDS)
			zc_pin_check_all();
		for (int i = 0; i < n && i < ZC_PENDING_FDS; i++)
			forget_fd(pending_fds[i]);
	}
	if (!held)
		zc_unlock();
	errno = saved;
}

/* Guarded pages read through a pin whose number is in [lo, hi] get their
 * bytes while it can still read them.  Lock held. */
static void guard_pins_closing(unsigned lo, unsigned hi)
{
	struct zc_phantom all[ZC_MAX_PHANTOMS];
	int n = zc_phantom_overlapping(0, UINTPTR_MAX, all, ZC_MAX_PHANTOMS);
	for (int i = 0; i < n; i++) {
		int own = all[i].pin >= 0 ? zc_pin_fd(all[i].pin) : -1;
		if (all[i].kind == ZC_PH_GUARD && own >= 0 && (unsigned)own >= lo &&
		    (unsigned)own <= hi)
			zc_phantom_guard_materialize(all[i].addr, all[i].addr + all[i].len);
	}
}

/* A vfork child's close or dup2 over [lo, hi]: the child's fd table is its
 * own, and the tables stay as they are; but the range may hold pins (its
 * program's dup2 or closefrom reaches zcopy's numbers in its fd table too)
 * that guarded pages, memory it shares with the parent, get their bytes
 * through. */
static void vfork_child_closing(unsigned lo, unsigned hi)
{
	if (zc_guard_live && !zc_inside) {
		int saved = zc_enter_locked();
		guard_pins_closing(lo, hi);
		zc_leave_locked(saved);
	}
}

void zc_engine_fd_closed(int fd)
{
	zc_fd_forget(fd);
	if (!zc_ready)
		return;
	if ((zc_pins_live || zc_phantom_live || fd == 2) && zc_vfork_child_renames()) {
		vfork_child_closing((unsigned)fd, (unsigned)fd);
		return;
	}
	if (fd == 2)
		zc_stats_stderr_closing();
	if (zc_inside) {
		zc_defer_fd_closed(fd);
		return;
	}
	int saved = zc_enter_locked();
	forget_fd(fd);
	zc_leave_locked(saved);
}

void zc_engine_fd_range_closed(unsigned lo, unsigned hi)
{
	zc_fd_forget_range(lo, hi);
	if (!zc_ready)
		return;
	if (zc_vfork_child_renames()) {
		vfork_child_closing(lo, hi);
		return;
	}
	if (lo <= 2 && hi >= 2)
		zc_stats_stderr_closing();
	if (zc_inside) {
		zc_pending_n = ZC_PENDING_FDS + 1; /* check every pin on the way out */
		return;
	}
	int saved = zc_enter_locked();
	for (int i = 0; i < ZC_STREAMS; i++)
		if (det.s[i].fd >= 0 && (unsigned)det.s[i].fd >= lo && (unsigned)det.s[i].fd <= hi)
			zc_det_forget_fd(&det, det.s[i].fd);
	struct zc_phantom all[ZC_MAX_PHANTOMS];
	int n = zc_phantom_overlapping(0, UINTPTR_MAX, all, ZC_MAX_PHANTOMS);
	for (int i = 0; i < n; i++) {
		if (all[i].fd >= 0 && (unsigned)all[i].fd >= lo && (unsigned)all[i].fd <= hi)
			zc_phantom_fd_closed(all[i].fd);
		/* The range may hold the pin itself (zcopy's duplicate, kept at the
		 * top): the call moves it, or closes it when there is no room
		 * (ownfd.c).  Guarded pages get their bytes while it can still
		 * read them. */
		int own = all[i].pin >= 0 ? zc_pin_fd(all[i].pin) : -1;
		if ((all[i].kind == ZC_PH_GUARD && own >= 0 && (unsigned)own >= lo &&
		     (unsigned)own <= hi) ||
		    zc_sock_pipe_in_range(all[i].pipe, lo, hi)) /* a socket's bytes: the same */
			zc_phantom_guard_materialize(all[i].addr, all[i].addr + all[i].len);
	}
	zc_pin_range_closed(lo, hi);
	zc_flow_fds_closed(lo, hi);
	zc_leave_locked(saved);
}

void zc_engine_file_changing(int fd, off_t off, off_t len)
{
	if (!zc_phantom_live || zc_inside)
		return;
	struct zc_fdinfo o;
	int saved = errno;
	int file = zc_fd_get(fd, &o, ZC_FD_VALIDATE, NULL) == 0 &&
		   (o.kind == ZC_K_FILE || o.kind == ZC_K_BLOCK);
	errno = saved;
	if (!file)
		return;
	saved = zc_enter_locked();
	if (zc_phantom_of_file(o.dev, o.ino)) {
		if (off < 0)
			off = (o.flags & ZC_FL_APPEND) ? o.size : REAL(lseek)(fd, 0, SEEK_CUR);
		zc_phantom_file_changing(o.dev, o.ino, off < 0 ? 0 : off, off < 0 ? 0 : len);
	}
	zc_leave_locked(saved);
}

void zc_engine_all_files_changing(void)
{
	if (!zc_phantom_live || zc_inside)
		return;
	int saved = zc_enter_locked();
	zc_phantom_materialize(0, UINTPTR_MAX - zc_page); /* the top page is never ours */
	zc_leave_locked(saved);
}

void zc_engine_path_changing(int dirfd, const char *path, off_t from)
{
	if (!zc_phantom_live || zc_inside)
		return;
	struct stat st;
	int saved = errno;
	zc_enter();
	if (REAL(fstatat)(dirfd, path, &st, 0) == 0 && S_ISREG(st.st_mode)) {
		zc_lock();
		zc_phantom_file_changing(st.st_dev, st.st_ino, from < 0 ? 0 : from, 0);
		zc_unlock();
	}
	zc_leave();
	errno = saved;
}

/* ---- memory -------------------------------------------------------------- */

void zc_engine_memory(uintptr_t lo, uintptr_t hi, enum zc_mem_event ev)
{
	if (zc_inside)
		return;
	int saved = zc_enter_locked();
	/* Freed memory ends the buffer, not the stream: the program's next
	 * buffer may take it over (detect.h).  Other changes end both. */
	int freed = ev == ZC_MEM_FREE || ev == ZC_MEM_FREE_MAPPED;
	int zero = ev == ZC_MEM_ZERO || freed;
	if (zero)
		zc_det_release_range(&det, lo, hi);
	else
		zc_det_forget_range(&det, lo, hi);
	if (!zero || ev == ZC_MEM_FREE_MAPPED)
		zc_guard_maps_changed(); /* mappings may change: re-read maps */
	if (ev == ZC_MEM_GONE || freed)
		zc_guard_never_gone(lo, hi);
	if (zc_phantom_live) {
		if (ev == ZC_MEM_GONE)
			zc_phantom_drop(lo, hi);
		else if (freed)
			zc_phantom_freed(lo, hi);
		else if (ev == ZC_MEM_ZERO)
			zc_phantom_zero(lo, hi);
		else
			zc_phantom_materialize(lo, hi);
	}
	zc_leave_locked(saved);
}

/* ---- stdio ---------------------------------------------------------------- */

void zc_engine_stdio_read(int fd, void *buf, size_t n)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF || fd < 0 || n == 0)
		return;
	int saved = zc_enter_locked();
	zc_det_after_read(&det, fd, (uintptr_t)buf, n, 0);
	arm_writes();
	struct zc_stream *s = zc_det_lookup(&det, fd, (uintptr_t)buf);
	if (s)
		s->why = ZC_FB_STDIO;
	zc_leave_locked(saved);
}

void zc_engine_stdio_write(int fd, const void *buf, size_t n)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF || fd < 0 || n == 0)
		return;
	int saved = zc_enter_locked();
	struct zc_stream *s = zc_det_on_write(&det, (uintptr_t)buf, n);
	if (s)
		zc_fallback(ZC_FB_STDIO, n);
	ZC_ADD(bytes_copied, n);
	zc_leave_locked(saved);
}

int zc_engine_stdio_phantom(const void *buf, size_t n)
{
	if (!zc_phantom_live || zc_inside || !zc_ready || zc_mode != ZC_MODE_ON)
		return 0;
	struct zc_phantom any;
	uintptr_t b = (uintptr_t)buf;
	int saved = zc_enter_locked();
	int r = b + n > b && zc_phantom_overlapping(b, b + n, &any, 1) > 0;
	zc_leave_locked(saved);
	return r;
}

void zc_engine_stdio_read_more(int fd, const void *buf, size_t n)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF)
		return;
	int saved = zc_enter_locked();
	struct zc_stream *s = zc_det_lookup(&det, fd, (uintptr_t)buf);
	if (s && s->len < n)
		s->len = n;
	zc_leave_locked(saved);
}

void zc_engine_stdio_plain_read(void *buf, size_t n)
{
	if (!zc_phantom_live || zc_inside || !zc_ready || n == 0)
		return;
	int saved = errno;
	zc_enter();
	before_plain_read((uintptr_t)buf, n);
	zc_leave();
	errno = saved;
}

/* Guarded pages in [b, b+n) get their bytes before glibc's own write(2)
 * of them, without backing the stream off (the program did not look at
 * them), and the stream's reads stop going into a pipe of zcopy's: each of
 * them would be guarded again. */
static void stdio_unguard(uintptr_t b, size_t n)
{
	if (zc_lock_held() || !zc_phantom_guard_maybe(b, b + n))
		return; /* held: a signal handler's call while zcopy holds the lock */
	struct zc_nest nest = zc_nest_enter();
	zc_lock();
	int st = zc_phantom_guard_materialize(b, b + n);
	if (st >= 0)
		det.s[st].via_stdio = 1;
	zc_unlock();
	zc_nest_leave(nest);
}

void zc_engine_stdio_copy_out(const void *buf, size_t n)
{
	if (zc_guard_live && n)
		stdio_unguard((uintptr_t)buf, n);
}

ssize_t zc_engine_stdio_plain_write(int fd, const void *buf, size_t n)
{
	/* A plain write from mapped phantom pages is always correct (the
	 * mapping holds the file's bytes); from guarded ones the kernel fails
	 * with EFAULT, and this write(2) is glibc's, past every wrapper. */
	zc_engine_stdio_copy_out(buf, n);
	return REAL(write)(fd, buf, n);
}

void zc_engine_stdio_buffered(size_t n)
{
	if (n) {
		zc_fallback(ZC_FB_STDIO, n);
		ZC_ADD(bytes_copied, n);
	}
}


