/*
 * engine.c - deciding, per call, whether a read is deferred and how a write
 * reaches its destination.
 *
 * Owns the detector, the engine lock and the per-call accounting.  The lock
 * is held only while the detector and the phantom table are consulted or
 * changed, never across a call that may block (a write to a full pipe must
 * not stop another thread's free()).  Every path that does not redirect ends
 * in the very call the program made, so its results are the plain ones.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "detect.h"
#include "fdinfo.h"
#include "log.h"
#include "phantom.h"
#include "real.h"
#include "stats.h"
#include "transfer.h"

volatile int zc_ready;
volatile int zc_mode = ZC_MODE_OFF;
size_t zc_min_chunk = ZC_DEFAULT_MIN_CHUNK;
size_t zc_read_min = SIZE_MAX;
size_t zc_write_min = SIZE_MAX;
__thread int zc_inside __attribute__((tls_model("initial-exec")));

static pthread_mutex_t engine_mu = PTHREAD_MUTEX_INITIALIZER;
static struct zc_detector det;

void zc_lock(void) { pthread_mutex_lock(&engine_mu); }
void zc_unlock(void) { pthread_mutex_unlock(&engine_mu); }

void zc_engine_reset(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	engine_mu = fresh;
	zc_det_init(&det);
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

static int source_kind_ok(const struct zc_fdinfo *fi)
{
	return (fi->kind == ZC_K_FILE || fi->kind == ZC_K_BLOCK) && (fi->flags & ZC_FL_READ);
}

/* Size of the data behind a file or block device. */
static off_t source_size(int fd, const struct stat *st)
{
	if (S_ISBLK(st->st_mode)) {
		uint64_t sz = 0;
		return ioctl(fd, BLKGETSIZE64, &sz) == 0 ? (off_t)sz : 0;
	}
	return st->st_size;
}

/* ---- reads --------------------------------------------------------------- */

/*
 * Tries to defer one read of n bytes of fd at *pos (or at the file offset).
 * Returns the count read() would return, or -1 with *why set if the plain
 * call must be made.  Caller holds the lock; s is the stream.
 */
static ssize_t try_defer(int fd, void *buf, size_t n, const off_t *pos, struct zc_stream *s,
			 int *why)
{
	struct zc_fdinfo fi;
	struct stat st;
	uintptr_t b = (uintptr_t)buf;

	if (zc_fd_get(fd, &fi, ZC_FD_VALIDATE, &st) < 0 || !source_kind_ok(&fi)) {
		*why = ZC_FB_SRC_NOT_FILE;
		return -1;
	}
	if (fi.flags & ZC_FL_DIRECT) {
		*why = ZC_FB_SRC_DIRECT;
		return -1;
	}
	if (on_stack(b)) {
		*why = ZC_FB_STACK;
		return -1;
	}
	/* Checked once per stream: every way the memory behind the buffer can
	 * change (free, munmap, mmap over it, mremap) ends the stream. */
	if (s->buf_ok == 0)
		s->buf_ok = zc_buffer_is_private_anon(b, n) ? 1 : 2;
	if (s->buf_ok != 1) {
		*why = ZC_FB_BUFFER_KIND;
		return -1;
	}
	int saved = errno;
	off_t off = pos ? *pos : REAL(lseek)(fd, 0, SEEK_CUR);
	if (off < 0) {
		errno = saved;
		*why = ZC_FB_SRC_NOT_FILE;
		return -1;
	}
	struct stat sized = st;
	sized.st_size = source_size(fd, &st);
	size_t got = 0;
	if (zc_phantom_defer(fd, buf, n, off, &sized, (int)(s - det.s), &got, why) != ZC_DEFER_OK)
		return -1;
	if (!pos && REAL(lseek)(fd, off + (off_t)got, SEEK_SET) < 0) {
		/* Cannot happen for a file we just read; keep the bytes right anyway. */
		zc_phantom_materialize(b, b + got);
		errno = saved;
		*why = ZC_FB_MAP_FAILED;
		return -1;
	}
	errno = saved;
	return (ssize_t)got;
}

/* Observe mode: would this read have been deferred?  -1 yes, else ZC_FB_*. */
static int observe_read(int fd, uintptr_t b, size_t got, size_t n, const off_t *pos)
{
	struct zc_fdinfo fi;
	if (zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) < 0 || !source_kind_ok(&fi))
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
	if ((b - (uintptr_t)off) & (zc_page - 1))
		return ZC_FB_ALIGNMENT;
	return -1;
}

static ssize_t plain_read(int fd, void *buf, size_t n, const off_t *pos)
{
	return pos ? REAL(pread)(fd, buf, n, *pos) : REAL(read)(fd, buf, n);
}

ssize_t zc_engine_read(int fd, void *buf, size_t n, const off_t *pos)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF)
		return plain_read(fd, buf, n, pos);
	zc_inside = 1;
	uintptr_t b = (uintptr_t)buf;
	int why = -1;
	ssize_t r = -1;

	struct zc_fdinfo fi;
	if (zc_mode == ZC_MODE_ON &&
	    (zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) < 0 || !source_kind_ok(&fi))) {
		zc_inside = 0; /* not a file: nothing to defer, nothing to learn */
		return plain_read(fd, buf, n, pos);
	}
	if (zc_mode == ZC_MODE_ON && n >= zc_min_chunk) {
		zc_lock();
		enum zc_read_verdict v = zc_det_before_read(&det, fd, b);
		struct zc_stream *s = zc_det_lookup(&det, fd, b);
		if (v == ZC_READ_DEFER && s) {
			r = try_defer(fd, buf, n, pos, s, &why);
			if (r > 0) {
				zc_det_after_read(&det, fd, b, (size_t)r, 1);
				s->why = -1;
				zc_unlock();
				zc_inside = 0;
				return r;
			}
			if (why == ZC_FB_MAP_FAILED || why == ZC_FB_BUFFER_KIND || why == ZC_FB_STACK)
				zc_det_touched(&det, s); /* do not ask again for a while */
		} else {
			why = v == ZC_READ_BACKOFF ? ZC_FB_BACKOFF : ZC_FB_WARMUP;
		}
		zc_unlock();
	} else if (zc_mode == ZC_MODE_ON) {
		why = ZC_FB_TOO_SMALL;
	}

	r = plain_read(fd, buf, n, pos);
	if (r > 0) {
		int saved = errno;
		zc_lock();
		enum zc_read_verdict v = ZC_READ_PLAIN;
		if (zc_mode == ZC_MODE_OBSERVE) {
			v = zc_det_before_read(&det, fd, b);
			why = observe_read(fd, b, (size_t)r, n, pos);
			if (why < 0 && v != ZC_READ_DEFER)
				why = v == ZC_READ_BACKOFF ? ZC_FB_BACKOFF : ZC_FB_WARMUP;
		}
		zc_det_after_read(&det, fd, b, (size_t)r, 0);
		struct zc_stream *s = zc_det_lookup(&det, fd, b);
		if (s)
			s->why = (int8_t)why;
		zc_unlock();
		errno = saved;
	}
	zc_inside = 0;
	return r;
}

ssize_t zc_engine_readv(int fd, const struct iovec *iov, int cnt, const off_t *pos)
{
	struct zc_fdinfo fi;
	int big = 0;
	for (int i = 0; i < cnt && iov; i++)
		big |= iov[i].iov_len >= zc_min_chunk;
	if (!big || zc_inside || !zc_ready || zc_mode != ZC_MODE_ON ||
	    zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) < 0 || !source_kind_ok(&fi) || cnt <= 0 ||
	    cnt > IOV_MAX)
		return pos ? REAL(preadv)(fd, iov, cnt, *pos) : REAL(readv)(fd, iov, cnt);

	/* A vector read of a file is the reads of its pieces at increasing
	 * offsets; each piece goes through the engine as a pread would. */
	int saved = errno;
	off_t off = pos ? *pos : REAL(lseek)(fd, 0, SEEK_CUR);
	if (off < 0) {
		errno = saved;
		return pos ? REAL(preadv)(fd, iov, cnt, *pos) : REAL(readv)(fd, iov, cnt);
	}
	size_t total = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			break;
		off_t at = off + (off_t)total;
		ssize_t r = zc_engine_read(fd, iov[i].iov_base, iov[i].iov_len, &at);
		if (r < 0) {
			if (total == 0)
				return -1;
			break;
		}
		total += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	if (!pos)
		REAL(lseek)(fd, off + (off_t)total, SEEK_SET);
	errno = saved;
	return (ssize_t)total;
}

/* ---- writes -------------------------------------------------------------- */

static uintptr_t page_up(uintptr_t a) { return (a + zc_page - 1) & ~(uintptr_t)(zc_page - 1); }
static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(zc_page - 1); }

#define ZC_MAX_PIECES 16

struct wctx {
	int fd;
	enum zc_wcall how;
	int flags;
	const off_t *pos0; /* the call's explicit offset, or NULL */
	off_t pos;         /* running offset when pos0 != NULL */
	size_t total;      /* bytes written so far */
	int err;           /* errno of a failure, 0 if none */
};

/* Writes iovecs plainly with the program's own call; returns 0 if all went. */
static int emit_plain(struct wctx *w, const struct iovec *iov, int cnt)
{
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	if (want == 0)
		return 0;
	ssize_t r;
	switch (w->how) {
	case ZC_W_PWRITE:
		r = cnt == 1 ? REAL(pwrite)(w->fd, iov[0].iov_base, iov[0].iov_len, w->pos)
			     : REAL(pwritev)(w->fd, iov, cnt, w->pos);
		break;
	case ZC_W_SEND:
	case ZC_W_SENDTO:
		r = REAL(send)(w->fd, iov[0].iov_base, iov[0].iov_len, w->flags);
		break;
	default:
		r = cnt == 1 ? REAL(write)(w->fd, iov[0].iov_base, iov[0].iov_len)
			     : REAL(writev)(w->fd, iov, cnt);
	}
	if (r < 0) {
		w->err = errno;
		return -1;
	}
	ZC_ADD(bytes_copied, r);
	w->total += (size_t)r;
	w->pos += r;
	return (size_t)r == want ? 0 : -1;
}

/* Adds [a, a+len) to the gathered plain stretches, flushing when full. */
static int add_plain(struct wctx *w, struct iovec *plain, int *np, uintptr_t a, size_t len)
{
	if (len == 0)
		return 0;
	if (*np == ZC_MAX_PIECES) {
		if (emit_plain(w, plain, *np))
			return -1;
		*np = 0;
	}
	plain[(*np)++] = (struct iovec){ (void *)a, len };
	return 0;
}

static int emit_plain1(struct wctx *w, uintptr_t a, size_t len)
{
	struct iovec v = { (void *)a, len };
	return emit_plain(w, &v, 1);
}

/*
 * Writes [a, a+len), which lies in phantom p, to the destination: clean pages
 * by a kernel transfer from the source file, the rest plainly.  Returns 0 if
 * all of it went out.
 */
static int emit_phantom(struct wctx *w, const struct zc_fdinfo *o, const struct zc_phantom *p,
			uintptr_t a, size_t len, int *touched)
{
	uint8_t st[512];
	struct zc_fdinfo fi;
	struct stat sst;
	if ((a | len) & (zc_page - 1))
		return emit_plain1(w, a, len); /* only whole pages can be phantoms */
	int same = p->fd >= 0 && zc_fd_get(p->fd, &fi, ZC_FD_VALIDATE, &sst) == 0 &&
		   sst.st_dev == p->dev && sst.st_ino == p->ino;
	if (!same) {
		zc_fallback(ZC_FB_SOURCE_CHANGED, len);
		return emit_plain1(w, a, len);
	}
	while (len > 0) {
		size_t npg = len / zc_page < 512 ? len / zc_page : 512;
		if (zc_pagemap(a, npg, st) < 0) {
			zc_fallback(ZC_FB_DIRTY_PAGES, len);
			return emit_plain1(w, a, len);
		}
		for (size_t i = 0; i < npg;) {
			size_t j = i;
			unsigned clean = st[i] & ZC_PG_CLEAN;
			while (j < npg && (st[j] & ZC_PG_CLEAN) == clean)
				j++;
			for (size_t k = i; k < j; k++)
				*touched |= (st[k] & ZC_PG_PRESENT) != 0;
			uintptr_t ra = a + i * zc_page;
			size_t rl = (j - i) * zc_page;
			if (!clean) {
				zc_fallback(ZC_FB_DIRTY_PAGES, rl);
				ZC_ADD(materialized_bytes, rl);
				if (emit_plain1(w, ra, rl))
					return -1;
			} else {
				int refused, eof;
				off_t *op = w->pos0 ? &w->pos : NULL;
				ssize_t r = zc_transfer(w->fd, o, op, p->fd, &fi, p->off + (off_t)(ra - p->addr),
							rl, &refused, &eof);
				if (r < 0) {
					w->err = (int)-r;
					return -1;
				}
				if (r > 0) {
					ZC_ADD(bytes_zero_copy, r);
					w->total += (size_t)r;
				}
				if ((size_t)r < rl) {
					if (refused) {
						zc_fallback(ZC_FB_PRIMITIVE, rl);
						if (emit_plain1(w, ra, rl))
							return -1;
					} else if (eof) {
						/* The source shrank under us: those pages now
						 * read as zeros, and are written as such. */
						zc_lock();
						zc_phantom_zero(ra + (size_t)r, ra + rl);
						zc_unlock();
						if (emit_plain1(w, ra + (size_t)r, rl - (size_t)r))
							return -1;
					} else {
						return -1; /* short, like a plain short write */
					}
				}
			}
			i = j;
		}
		a += npg * zc_page;
		len -= npg * zc_page;
	}
	return 0;
}

/* The common path of write, pwrite, writev, pwritev, send and sendto. */
static ssize_t engine_writev(struct wctx *w, const struct iovec *iov, int cnt)
{
	struct zc_fdinfo o;
	struct stat ost;
	struct zc_phantom ph[ZC_MAX_PIECES];
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;

	/* Without live phantoms nothing is redirected: the cached kind is enough
	 * for the accounting, and costs no system call. */
	int live = zc_phantom_live;
	if (zc_fd_get(w->fd, &o, live ? ZC_FD_VALIDATE : ZC_FD_CACHED, &ost) < 0)
		return -2; /* let the plain call report EBADF */

	zc_lock();
	/* A write into a file that phantoms stand for: they keep the old bytes. */
	if (live && (o.kind == ZC_K_FILE || o.kind == ZC_K_BLOCK)) {
		int saved = errno;
		off_t at = w->pos0 ? *w->pos0
			   : (o.flags & ZC_FL_APPEND) ? ost.st_size
						      : REAL(lseek)(w->fd, 0, SEEK_CUR);
		errno = saved;
		zc_phantom_file_changing(o.dev, o.ino, at < 0 ? 0 : at, at < 0 ? 0 : (off_t)n);
	}
	int refusal = zc_transfer_refusal(&o);
	if (refusal < 0 && (w->how == ZC_W_SEND || w->how == ZC_W_SENDTO) && w->flags)
		refusal = ZC_FB_SEND_FLAGS;
	if (refusal < 0 && o.kind == ZC_K_PIPE && n <= PIPE_BUF)
		refusal = ZC_FB_TOO_SMALL; /* atomic pipe write: one unit */

	/* Pairing (for the detector) and, in observe mode, accounting. */
	struct zc_stream *pair = NULL;
	for (int i = 0; i < cnt; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		size_t len = iov[i].iov_len;
		struct zc_stream *s = len >= zc_page ? zc_det_on_write(&det, b, len) : NULL;
		if (!s)
			continue;
		pair = s;
		if (zc_mode != ZC_MODE_OBSERVE)
			continue;
		int why = refusal >= 0 ? refusal : s->why;
		struct zc_fdinfo si;
		if (why < 0 && (zc_fd_get(s->fd, &si, ZC_FD_CACHED, NULL) < 0 || !source_kind_ok(&si)))
			why = ZC_FB_SRC_NOT_FILE;
		uintptr_t ps = (b + zc_page - 1) & ~(uintptr_t)(zc_page - 1);
		uintptr_t pe = (b + len) & ~(uintptr_t)(zc_page - 1);
		size_t whole = pe > ps ? pe - ps : 0;
		if (why >= 0) {
			zc_fallback((enum zc_fallback)why, len);
		} else {
			ZC_ADD(would_zero_copy_bytes, whole);
			if (len > whole)
				zc_fallback(ZC_FB_PARTIAL_PAGES, len - whole);
		}
	}

	int nph = 0;
	if (zc_mode == ZC_MODE_ON && zc_phantom_live) {
		for (int i = 0; i < cnt; i++) {
			struct zc_phantom got[ZC_MAX_PIECES];
			uintptr_t b = (uintptr_t)iov[i].iov_base;
			int m = zc_phantom_overlapping(b, b + iov[i].iov_len, got, ZC_MAX_PIECES);
			/* Merge into ph: sorted by address, each record once. */
			for (int k = 0; k < m; k++) {
				int j = 0;
				while (j < nph && ph[j].addr < got[k].addr)
					j++;
				if ((j < nph && ph[j].addr == got[k].addr) || nph == ZC_MAX_PIECES)
					continue;
				memmove(&ph[j + 1], &ph[j], (size_t)(nph - j) * sizeof ph[0]);
				ph[j] = got[k];
				nph++;
			}
		}
	}
	if (nph == 0 || refusal >= 0) {
		if (zc_mode == ZC_MODE_ON && pair) {
			int why = refusal >= 0 ? refusal : pair->why;
			zc_fallback(why >= 0 ? (enum zc_fallback)why : ZC_FB_WARMUP, n);
			/* Deferring for a destination that takes only plain writes
			 * would make the kernel fault the file in: back off. */
			if (refusal >= 0 && nph > 0)
				zc_det_touched(&det, pair);
		}
		zc_unlock();
		return -2;
	}
	zc_unlock();

	/* Emit pieces in order: plain stretches gathered into one call. */
	struct iovec plain[ZC_MAX_PIECES];
	int np = 0, touched = 0, stream = -1;
	for (int i = 0; i < cnt; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base, e = a + iov[i].iov_len;
		for (int k = 0; k < nph && a < e; k++) {
			uintptr_t pa = ph[k].addr, pe = ph[k].addr + ph[k].len;
			if (pe <= a || pa >= e)
				continue;
			if (pa > a && add_plain(w, plain, &np, a, pa - a))
				goto out;
			a = pa > a ? pa : a;
			/* Only whole pages go by transfer; a piece that starts or ends
			 * inside a page has those bytes sent plainly. */
			uintptr_t run_end = pe < e ? pe : e;
			uintptr_t wa = page_up(a), we = page_down(run_end);
			if (we > wa) {
				if (add_plain(w, plain, &np, a, wa - a))
					goto out;
				if (np && emit_plain(w, plain, np))
					goto out;
				np = 0;
				stream = ph[k].stream;
				if (emit_phantom(w, &o, &ph[k], wa, we - wa, &touched))
					goto out;
				a = we;
			}
			if (add_plain(w, plain, &np, a, run_end - a))
				goto out;
			a = run_end;
		}
		if (add_plain(w, plain, &np, a, e - a))
			goto out;
	}
	if (np)
		emit_plain(w, plain, np);
out:
	if (touched && stream >= 0) {
		zc_lock();
		zc_det_touched(&det, &det.s[stream]);
		zc_unlock();
	}
	if (w->total > 0)
		return (ssize_t)w->total;
	if (w->err) {
		errno = w->err;
		return -1;
	}
	return 0;
}

ssize_t zc_engine_write(int fd, const void *buf, size_t n, const off_t *pos, enum zc_wcall how,
			int flags)
{
	struct iovec v = { (void *)buf, n };
	return zc_engine_writev_call(fd, &v, 1, pos, how, flags);
}

ssize_t zc_engine_writev_call(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			      enum zc_wcall how, int flags)
{
	ssize_t r = -2;
	if (!zc_inside && zc_ready && zc_mode != ZC_MODE_OFF && cnt > 0 && cnt <= IOV_MAX) {
		int saved = errno;
		zc_inside = 1;
		struct wctx w = { fd, how, flags, pos, pos ? *pos : 0, 0, 0 };
		r = engine_writev(&w, iov, cnt);
		zc_inside = 0;
		if (r == -2)
			errno = saved;
	}
	if (r != -2)
		return r;
	/* The plain call, exactly as the program made it. */
	ssize_t p;
	switch (how) {
	case ZC_W_PWRITE:
		p = cnt == 1 && iov ? REAL(pwrite)(fd, iov[0].iov_base, iov[0].iov_len, *pos)
				    : REAL(pwritev)(fd, iov, cnt, *pos);
		break;
	case ZC_W_SEND:
	case ZC_W_SENDTO:
		p = REAL(send)(fd, iov[0].iov_base, iov[0].iov_len, flags);
		break;
	default:
		p = cnt == 1 && iov ? REAL(write)(fd, iov[0].iov_base, iov[0].iov_len)
				    : REAL(writev)(fd, iov, cnt);
	}
	if (p > 0 && zc_ready && zc_mode != ZC_MODE_OFF)
		ZC_ADD(bytes_copied, p);
	return p;
}

ssize_t zc_engine_writev(int fd, const struct iovec *iov, int cnt, const off_t *pos)
{
	return zc_engine_writev_call(fd, iov, cnt, pos, pos ? ZC_W_PWRITE : ZC_W_WRITE, 0);
}

/* ---- fds and files ------------------------------------------------------- */

void zc_engine_fd_closed(int fd)
{
	zc_fd_forget(fd);
	if (!zc_ready || zc_inside)
		return;
	zc_inside = 1;
	zc_lock();
	zc_det_forget_fd(&det, fd);
	zc_phantom_fd_closed(fd);
	zc_unlock();
	zc_inside = 0;
}

void zc_engine_fd_range_closed(unsigned lo, unsigned hi)
{
	zc_fd_forget_range(lo, hi);
	if (!zc_ready || zc_inside)
		return;
	zc_inside = 1;
	zc_lock();
	for (int i = 0; i < ZC_STREAMS; i++)
		if (det.s[i].fd >= 0 && (unsigned)det.s[i].fd >= lo && (unsigned)det.s[i].fd <= hi)
			zc_det_forget_fd(&det, det.s[i].fd);
	struct zc_phantom all[ZC_MAX_PHANTOMS];
	int n = zc_phantom_overlapping(0, UINTPTR_MAX, all, ZC_MAX_PHANTOMS);
	for (int i = 0; i < n; i++)
		if (all[i].fd >= 0 && (unsigned)all[i].fd >= lo && (unsigned)all[i].fd <= hi)
			zc_phantom_fd_closed(all[i].fd);
	int own = zc_phantom_own_fd();
	if (own >= 0 && (unsigned)own >= lo && (unsigned)own <= hi)
		zc_phantom_fd_closed(own);
	zc_unlock();
	zc_inside = 0;
}

void zc_engine_file_changing(int fd, off_t off, off_t len)
{
	if (!zc_phantom_live || zc_inside)
		return;
	struct zc_fdinfo o;
	int saved = errno;
	if (zc_fd_get(fd, &o, ZC_FD_VALIDATE, NULL) == 0 &&
	    (o.kind == ZC_K_FILE || o.kind == ZC_K_BLOCK)) {
		zc_inside = 1;
		if (off < 0)
			off = (o.flags & ZC_FL_APPEND) ? o.size : REAL(lseek)(fd, 0, SEEK_CUR);
		zc_lock();
		zc_phantom_file_changing(o.dev, o.ino, off < 0 ? 0 : off, off < 0 ? 0 : len);
		zc_unlock();
		zc_inside = 0;
	}
	errno = saved;
}

/* ---- memory -------------------------------------------------------------- */

void zc_engine_memory(uintptr_t lo, uintptr_t hi, enum zc_mem_event ev)
{
	if (zc_inside)
		return;
	zc_inside = 1;
	int saved = errno;
	zc_lock();
	zc_det_forget_range(&det, lo, hi);
	if (zc_phantom_live) {
		if (ev == ZC_MEM_GONE)
			zc_phantom_drop(lo, hi);
		else if (ev == ZC_MEM_ZERO)
			zc_phantom_zero(lo, hi);
		else
			zc_phantom_materialize(lo, hi);
	}
	zc_unlock();
	errno = saved;
	zc_inside = 0;
}

/* ---- stdio (observed, not redirected) ------------------------------------ */

void zc_engine_stdio_read(int fd, void *buf, size_t n)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF || fd < 0 || n == 0)
		return;
	zc_inside = 1;
	zc_lock();
	zc_det_after_read(&det, fd, (uintptr_t)buf, n, 0);
	struct zc_stream *s = zc_det_lookup(&det, fd, (uintptr_t)buf);
	if (s)
		s->why = ZC_FB_STDIO;
	zc_unlock();
	zc_inside = 0;
}

void zc_engine_stdio_write(int fd, const void *buf, size_t n)
{
	if (zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF || fd < 0 || n == 0)
		return;
	zc_inside = 1;
	zc_lock();
	struct zc_stream *s = zc_det_on_write(&det, (uintptr_t)buf, n);
	if (s)
		zc_fallback(ZC_FB_STDIO, n);
	zc_unlock();
	ZC_ADD(bytes_copied, n);
	zc_inside = 0;
}
