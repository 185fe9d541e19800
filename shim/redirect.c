/*
 * redirect.c - the write side: how the bytes of one write, writev, pwrite or
 * send reach their destination.
 *
 * The written range is cut into runs, in order: whole phantom pages the
 * program has not modified go by a kernel transfer from the source file
 * (transfer.c); everything else goes by the program's own call, gathered
 * into as few calls as possible.  The result is what the plain call would
 * have returned: the byte count, a short count when a piece came up short
 * (non-blocking destination, signal, full disk), or -1 and the errno of a
 * first piece that failed.  The engine lock is held only while the detector
 * and the phantom table are read; never across the I/O.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "engine.h"
#include "fdinfo.h"
#include "log.h"
#include "phantom.h"
#include "real.h"
#include "stats.h"
#include "transfer.h"

#define det zc_det_state


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
	int first;         /* first write of the bytes of the latest read (not a retry) */
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
		if (cnt == 1) {
			r = REAL(send)(w->fd, iov[0].iov_base, iov[0].iov_len, w->flags);
		} else {
			/* Several stretches: one call, as the program's one send. */
			struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };
			r = sendmsg(w->fd, &m, w->flags);
		}
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

/* Phantom bytes [lo, hi) lie past the end of a source another process
 * truncated: they read as zeros from now on, except that the page holding
 * the new end keeps its bytes below it. */
static void past_the_end(uintptr_t lo, uintptr_t hi)
{
	zc_lock();
	if (lo & (zc_page - 1))
		zc_phantom_materialize(lo, lo + 1);
	zc_phantom_zero(page_up(lo), hi);
	zc_unlock();
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
	/* Pages wholly or partly past the source's end (another process
	 * truncated it) cannot be sent from the file, and a plain write from
	 * them would fail with EFAULT: they become past_the_end() and go out
	 * plainly. */
	size_t tail = 0;
	if (S_ISREG(sst.st_mode)) {
		uintptr_t dend = sst.st_size > p->off ? p->addr + (uintptr_t)(sst.st_size - p->off)
						      : p->addr;
		if (dend < a + len) {
			uintptr_t lo = dend > a ? dend : a;
			past_the_end(lo, a + len);
			size_t keep = page_down(lo) > a ? page_down(lo) - a : 0;
			tail = len - keep;
			len = keep;
		}
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
				if (w->first) /* a retry of a short write is not new work */
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
						/* The source shrank during the transfer: as
						 * above, the rest reads as zeros. */
						past_the_end(ra + (size_t)r, ra + rl);
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
	return tail ? emit_plain1(w, a, tail) : 0;
}

/* The common path of write, pwrite, writev, pwritev, send and sendto. */
static ssize_t emit(struct wctx *w, const struct zc_fdinfo *o, const struct iovec *iov, int cnt,
		    const struct zc_phantom *ph, int nph);
static ssize_t emit_nosignal(struct wctx *w, const struct zc_fdinfo *o, const struct iovec *iov,
			     int cnt, const struct zc_phantom *ph, int nph);

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
	if (live && (o.kind == ZC_K_FILE || o.kind == ZC_K_BLOCK) && zc_phantom_of_file(o.dev, o.ino)) {
		int saved = errno;
		off_t at = w->pos0 ? *w->pos0
			   : (o.flags & ZC_FL_APPEND) ? ost.st_size
						      : REAL(lseek)(w->fd, 0, SEEK_CUR);
		errno = saved;
		zc_phantom_file_changing(o.dev, o.ino, at < 0 ? 0 : at, at < 0 ? 0 : (off_t)n);
	}
	int refusal = zc_transfer_refusal(&o);
	/* The call's own contract comes first: pwrite needs a file (a pipe or
	 * socket gives ESPIPE), send a socket (anything else: ENOTSOCK). */
	if (w->how == ZC_W_PWRITE && o.kind != ZC_K_FILE && o.kind != ZC_K_BLOCK)
		refusal = ZC_FB_DEST_KIND;
	if ((w->how == ZC_W_SEND || w->how == ZC_W_SENDTO) && o.kind != ZC_K_STREAM)
		refusal = o.kind == ZC_K_DGRAM ? ZC_FB_DEST_DATAGRAM : ZC_FB_DEST_KIND;
	if (refusal < 0 && (w->how == ZC_W_SEND || w->how == ZC_W_SENDTO) && (w->flags & ~MSG_NOSIGNAL))
		refusal = ZC_FB_SEND_FLAGS; /* MSG_MORE, MSG_DONTWAIT, ... have no transfer form */
	if (refusal < 0 && o.kind == ZC_K_PIPE && n <= PIPE_BUF)
		refusal = ZC_FB_TOO_SMALL; /* atomic pipe write: one unit */

	/* Pairing (for the detector) and, in observe mode, accounting. */
	struct zc_stream *pair = NULL;
	for (int i = 0; i < cnt; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		size_t len = iov[i].iov_len;
		struct zc_stream *was = len >= zc_page ? zc_det_find(&det, b, len) : NULL;
		if (was && was->paired)
			w->first = 0; /* these bytes were written before: a retry */
		/* Only a destination that can take a transfer counts towards
		 * engaging (a small pipe write can: only its size refused). */
		struct zc_stream *s = len < zc_page ? NULL
				      : (refusal >= 0 && refusal != ZC_FB_TOO_SMALL)
					      ? zc_det_on_refused_write(&det, b, len)
					      : zc_det_on_write(&det, b, len);
		if (!s)
			continue;
		pair = s;
		if (zc_mode != ZC_MODE_OBSERVE || !w->first)
			continue;
		int why = refusal >= 0 ? refusal : s->why;
		struct zc_fdinfo si;
		if (why < 0 && (zc_fd_get(s->fd, &si, ZC_FD_CACHED, NULL) < 0 || !zc_fd_is_source(&si)))
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
		if (zc_mode == ZC_MODE_ON && pair && w->first) {
			int why = refusal >= 0 ? refusal : pair->why;
			zc_fallback(why >= 0 ? (enum zc_fallback)why : ZC_FB_WARMUP, n);
			/* Deferring for a destination that takes only plain writes
			 * would make the kernel fault the file in: back off.  (A small
			 * remainder of a short pipe write says nothing about that.) */
			if (refusal >= 0 && refusal != ZC_FB_TOO_SMALL && nph > 0) {
				zc_det_touched(&det, pair);
				pair->refused = (int8_t)refusal;
			}
		}
		zc_unlock();
		return -2;
	}
	zc_unlock();

	if (w->flags & MSG_NOSIGNAL)
		return emit_nosignal(w, &o, iov, cnt, ph, nph);
	return emit(w, &o, iov, cnt, ph, nph);
}

/* Emits the pieces of the write in order: plain stretches gathered into one
 * call, whole clean phantom pages by transfer. */
static ssize_t emit(struct wctx *w, const struct zc_fdinfo *o, const struct iovec *iov, int cnt,
		    const struct zc_phantom *ph, int nph)
{
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
				if (emit_phantom(w, o, &ph[k], wa, we - wa, &touched))
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
	if (touched && stream >= 0 && w->first) {
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

/*
 * send(..., MSG_NOSIGNAL): sendfile has no flags, and a peer that went away
 * makes it raise SIGPIPE where the plain send would not.  SIGPIPE is blocked
 * around the emission and one that the emission raised is taken back, so
 * the program sees EPIPE alone, as it asked.
 */
static ssize_t emit_nosignal(struct wctx *w, const struct zc_fdinfo *o, const struct iovec *iov,
			     int cnt, const struct zc_phantom *ph, int nph)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
	ssize_t r = emit(w, o, iov, cnt, ph, nph);
	int saved = errno;
	if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		struct timespec now = { 0, 0 };
		sigtimedwait(&pipe_set, NULL, &now);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return r;
}

/* Lengths the kernel accepts in one call without EINVAL, and below its
 * per-call cap (MAX_RW_COUNT): anything else is left to the plain call. */
static int iov_sane(const struct iovec *iov, int cnt)
{
	if (!iov || cnt <= 0 || cnt > IOV_MAX)
		return 0;
	size_t total = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > ZC_MAX_RW - total)
			return 0;
		total += iov[i].iov_len;
	}
	return 1;
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
	if (!iov_sane(iov, cnt)) {
		/* The kernel's own checks (EINVAL) and limits apply: plain call. */
	} else if (zc_mode == ZC_MODE_OBSERVE && cnt == 1 && iov && !zc_inside &&
	    iov[0].iov_len < zc_min_chunk && zc_small_read.len &&
	    (uintptr_t)iov[0].iov_base >= zc_small_read.buf &&
	    (uintptr_t)iov[0].iov_base + iov[0].iov_len <= zc_small_read.buf + zc_small_read.len) {
		/* A small write of the bytes of this thread's small read: a pair
		 * that could not be deferred, counted without the engine. */
		zc_fallback((enum zc_fallback)zc_small_read.why, iov[0].iov_len);
		zc_small_read.len = 0;
	} else if (!zc_inside && zc_ready && zc_mode != ZC_MODE_OFF && cnt > 0 && cnt <= IOV_MAX) {
		int saved = errno;
		zc_inside = 1;
		struct wctx w = { .fd = fd, .how = how, .flags = flags, .pos0 = pos,
				  .pos = pos ? *pos : 0, .first = 1 };
		r = engine_writev(&w, iov, cnt);
		zc_inside = 0;
		if (r != -1)
			errno = saved; /* a success, even a short one, leaves errno alone */
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

