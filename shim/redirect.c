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
#include <sys/time.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detect.h"
#include "edges.h"
#include "engine.h"
#include "fdinfo.h"
#include "guard.h"
#include "log.h"
#include "inflight.h"
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

#define det zc_det_state

__thread uintptr_t zc_stdio_touch_floor __attribute__((tls_model("initial-exec")));


static uintptr_t page_up(uintptr_t a) { return (a + zc_page - 1) & ~(uintptr_t)(zc_page - 1); }
static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(zc_page - 1); }

#define ZC_MAX_PIECES 16

struct wctx {
	int fd;            /* the program's number */
	int out;           /* what the bytes go to: the pinned duplicate of fd */
	int pin;           /* its pin, or -1 */
	struct zc_fdinfo o; /* the pinned description */
	int pipe_held;     /* SIGPIPE is blocked (stream socket) */
	sigset_t pipe_old; /* the mask to restore */
	int pipe_pending;  /* SIGPIPE was already pending when blocked */
	int deadline_set;  /* a socket's SO_SNDTIMEO runs until deadline */
	struct timespec deadline;
	enum zc_wcall how;
	int flags;
	const off_t *pos0; /* the call's explicit offset, or NULL */
	off_t pos;         /* running offset when pos0 != NULL */
	size_t total;      /* bytes written so far */
	int first;         /* first write of the bytes of the latest read (not a retry) */
	int err;           /* errno of a failure, 0 if none */
	size_t unit;       /* a write of two: the first's bytes (zc_write_unit), or 0 */
};

/* Does the next call of w start a write(2): the first, or the second of a
 * write of two? */
static int at_start(const struct wctx *w)
{
	return w->total == 0 || (w->unit && w->total == w->unit);
}

/*
 * SIGPIPE held back for a write into a stream socket: for send(MSG_NOSIGNAL),
 * whose transfer (sendfile) has no such flag; and for every other write,
 * because one transfer may send some bytes and then meet the reset of a
 * peer that left, which raises SIGPIPE inside the call that returns the
 * count (the kernel sends a splice's pages in pieces), where the plain
 * write returns the count and raises nothing.  One that the held calls
 * raised is taken back at the end when bytes went or the program asked for
 * no signal; a write that sent nothing lets it through, as the plain
 * write's own (release_sigpipe).
 */
static void hold_sigpipe(struct wctx *w)
{
	if (w->pipe_held)
		return;
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	REAL(pthread_sigmask)(SIG_BLOCK, &set, &w->pipe_old);
	/* One already pending is the program's own.  It can be pending here
	 * only if the program blocks it itself: an unblocked one would have
	 * been delivered before this call. */
	w->pipe_pending = sigismember(&w->pipe_old, SIGPIPE) && sigpending(&pending) == 0 &&
			  sigismember(&pending, SIGPIPE);
	w->pipe_held = 1;
}

/* want: the bytes the program's call asked to write.  A call raises SIGPIPE
 * only when it meets EPIPE, and after that every later call of the write
 * fails too: a write that sent all it was asked raised none, and only a
 * short or failed one needs the pending set asked. */
static void release_sigpipe(struct wctx *w, size_t want)
{
	if (!w->pipe_held)
		return;
	int saved = errno;
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if ((w->err || w->total < want) && (w->total > 0 || (w->flags & MSG_NOSIGNAL)) &&
	    !w->pipe_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		struct timespec now = { 0, 0 };
		sigtimedwait(&set, NULL, &now);
	}
	REAL(pthread_sigmask)(SIG_SETMASK, &w->pipe_old, NULL);
	w->pipe_held = 0;
	errno = saved;
}

/* Before a piece of a write that already sent bytes: may it go at all?
 * A file at its size limit would raise SIGXFSZ where the plain write
 * returns the count.  (A stream socket's SIGPIPE is held for the whole
 * write: engine_writev.) */
static int may_continue(struct wctx *w)
{
	if (w->total == 0)
		return 1;
	return !zc_at_size_limit(w->out, &w->o, w->pos0 ? &w->pos : NULL);
}

/* The program's own call, on the pinned description. */
static ssize_t plain_once(struct wctx *w, const struct iovec *iov, int cnt, int nowait)
{
	switch (w->how) {
	case ZC_W_PWRITE:
		return cnt == 1 ? REAL(pwrite)(w->out, iov[0].iov_base, iov[0].iov_len, w->pos)
				: REAL(pwritev)(w->out, iov, cnt, w->pos);
	case ZC_W_SEND:
	case ZC_W_SENDTO: {
		/* Several stretches: one call, as the program's one send. */
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };
		return REAL(sendmsg)(w->out, &m, w->flags | (nowait ? MSG_DONTWAIT : 0));
	}
	default:
		if (nowait)
			return REAL(pwritev2)(w->out, iov, cnt, -1, RWF_NOWAIT);
		return cnt == 1 ? REAL(write)(w->out, iov[0].iov_base, iov[0].iov_len)
				: REAL(writev)(w->out, iov, cnt);
	}
}

/* Has the destination refused pwritev2(RWF_NOWAIT) before (pin.h)?  Only
 * the program's write and writev are made with it (plain_call). */
static int refuses_nowait(const struct wctx *w)
{
	return w->how == ZC_W_WRITE && w->pin >= 0 && zc_pin_nowait_refused(w->pin);
}

/*
 * Waits until the destination takes bytes again, as the plain write would
 * wait: through no signal handler (poll returns on one, SA_RESTART or not)
 * and, for a socket, no longer than its SO_SNDTIMEO in all.  Returns 1 when
 * there is room (or an error the next call will report), 0 when the plain
 * write would have returned.
 */
static int wait_room(struct wctx *w)
{
	int ms = -1;
	if (w->o.kind == ZC_K_STREAM) {
		struct timeval tv;
		socklen_t l = sizeof tv;
		int saved = errno;
		if (!w->deadline_set && getsockopt(w->out, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) == 0 &&
		    (tv.tv_sec || tv.tv_usec)) {
			clock_gettime(CLOCK_MONOTONIC, &w->deadline);
			w->deadline.tv_sec += tv.tv_sec;
			w->deadline.tv_nsec += tv.tv_usec * 1000L;
			if (w->deadline.tv_nsec >= 1000000000L) {
				w->deadline.tv_sec++;
				w->deadline.tv_nsec -= 1000000000L;
			}
			w->deadline_set = 1;
		}
		if (w->deadline_set) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long left = (w->deadline.tv_sec - now.tv_sec) * 1000LL +
					 (w->deadline.tv_nsec - now.tv_nsec) / 1000000L;
			ms = left > 0 ? (int)left : 0;
		}
		errno = saved;
	}
	return zc_wait_writable(w->out, ms) > 0;
}

/*
 * Writes iovecs plainly; returns 0 if all went.  The first piece of a write
 * is the program's call as it made it, and its count is final.  A later
 * piece into a pipe or socket is made without waiting and waited for in
 * poll(2) (wait_room), so that a signal handler ends the write with the
 * count so far, as it would have ended the plain one; whether the
 * destination is non-blocking is asked when it is full, not remembered (it
 * can change through another fd, by ioctl, or in another process).
 */
/*
 * One call of a piece's bytes, without waiting when *nowait.  A destination
 * known to refuse RWF_NOWAIT (refuses_nowait) is asked with poll whether it
 * has room: a pipe with room takes the first page of the piece without
 * waiting, so the blocking call goes at once, its count final, as after
 * wait_room (*nowait is cleared); a full one answers as the refused call
 * would, EOPNOTSUPP, and goes the refusal's way (next_after_nowait).
 */
static ssize_t piece_call(struct wctx *w, const struct iovec *v, int cnt, int *nowait)
{
	if (*nowait && refuses_nowait(w)) {
		if (zc_wait_writable(w->out, 0) <= 0) {
			errno = EOPNOTSUPP;
			return -1;
		}
		*nowait = 0;
	}
	return plain_once(w, v, cnt, *nowait);
}

/* A call made without waiting could not go (EOPNOTSUPP or EAGAIN in e):
 * returns how the next call is made (1 without waiting, 0 blocking), or -1
 * when the plain write would return the count so far. */
static int next_after_nowait(struct wctx *w, int e)
{
	if (e == EOPNOTSUPP && w->how == ZC_W_WRITE && w->pin >= 0)
		zc_pin_refuses_nowait(w->pin);
	if (zc_fd_nonblocking(w->out))
		return e == EAGAIN ? -1 : 0; /* else its own non-blocking call, count final */
	/* Some pipes take no RWF_NOWAIT: wait for room, then one blocking
	 * write, whose count is final. */
	if (!wait_room(w))
		return -1;
	return e == EAGAIN;
}

static int emit_plain_calls(struct wctx *w, const struct iovec *iov, int cnt);

/* The plain stretches of a write of two that reach past its first write's
 * end are cut there: two calls, as glibc makes them. */
static int emit_plain(struct wctx *w, const struct iovec *iov, int cnt)
{
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	if (!w->unit || w->total >= w->unit || w->total + want <= w->unit)
		return emit_plain_calls(w, iov, cnt);
	struct iovec v[ZC_MAX_PIECES] = { { 0 } }; /* cut > 0 fills v[0]: for the compiler */
	size_t cut = w->unit - w->total;
	int k = 0;
	while (cut > 0 && k < cnt) {
		v[k] = iov[k];
		if (v[k].iov_len > cut)
			v[k].iov_len = cut;
		cut -= v[k++].iov_len;
	}
	if (emit_plain_calls(w, v, k))
		return -1;
	/* The rest: from where the cut fell. */
	struct iovec r[ZC_MAX_PIECES];
	int n = 0;
	size_t skip = 0;
	for (int i = 0; i < k; i++)
		skip += v[i].iov_len;
	for (int i = 0; i < cnt; i++) {
		size_t len = iov[i].iov_len;
		size_t s = skip < len ? skip : len;
		skip -= s;
		if (len > s)
			r[n++] = (struct iovec){ (char *)iov[i].iov_base + s, len - s };
	}
	return emit_plain_calls(w, r, n);
}

static int emit_plain_calls(struct wctx *w, const struct iovec *iov, int cnt)
{
	struct iovec v[ZC_MAX_PIECES];
	size_t want = 0;
	for (int i = 0; i < cnt; i++) {
		v[i] = iov[i];
		want += iov[i].iov_len;
	}
	if (want == 0)
		return 0;
	if (!may_continue(w))
		return -1;
	int first = at_start(w);
	int waits = w->o.kind == ZC_K_PIPE || w->o.kind == ZC_K_STREAM;
	int k = 0, nowait = !first && waits;
	size_t done = 0;
	while (done < want) {
		/* The write's first call (sigdefer.c, "Restarts"). */
		ssize_t r = first && !zc_sig_first_call() ? -1
							   : piece_call(w, v + k, cnt - k, &nowait);
		zc_sig_restartable = 0;
		if (r < 0 && nowait && (errno == EOPNOTSUPP || errno == EAGAIN)) {
			nowait = next_after_nowait(w, errno);
			if (nowait < 0)
				break;
			continue;
		}
		if (r < 0) {
			if (w->total == 0)
				w->err = errno;
			else if (first)
				zc_write_unit_err = errno; /* the second write failed */
			break;
		}
		ZC_ADD(bytes_copied, r);
		w->total += (size_t)r;
		zc_write_sent(w->total);
		w->pos += r;
		done += (size_t)r;
		if (!nowait || r == 0)
			break; /* a blocking call's count is final */
		/* Skip what went; go on with the rest. */
		size_t skip = (size_t)r;
		while (k < cnt && skip >= v[k].iov_len)
			skip -= v[k++].iov_len;
		if (k < cnt) {
			v[k].iov_base = (char *)v[k].iov_base + skip;
			v[k].iov_len -= skip;
		}
	}
	return done == want ? 0 : -1;
}

/* What one emit gathers on its way through the write's pieces. */
struct gathered {
	struct iovec plain[ZC_MAX_PIECES]; /* plain stretches not yet written */
	int np;
	int touched; /* the program touched phantom pages that it writes */
	int stream;  /* the stream of the latest phantom written, or -1 */
};

/* Writes the gathered plain stretches, if any. */
static int flush_plain(struct wctx *w, struct gathered *g)
{
	if (g->np == 0)
		return 0;
	int r = emit_plain(w, g->plain, g->np);
	g->np = 0;
	return r;
}

/* Adds [a, a+len) to the gathered plain stretches, flushing when full. */
static int add_plain(struct wctx *w, struct gathered *g, uintptr_t a, size_t len)
{
	if (len == 0)
		return 0;
	if (g->np == ZC_MAX_PIECES && flush_plain(w, g))
		return -1;
	g->plain[g->np++] = (struct iovec){ (void *)a, len };
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

/* Pages [a, a+len) of phantom p, read from its pinned source sfd, lie
 * past the source's current end if another process truncated it: such
 * pages read as zeros from now on (a plain write from them would fail with
 * EFAULT).  Asked only when a run cannot go by transfer. */
static void zero_past_end(int sfd, const struct zc_phantom *p, uintptr_t a, size_t len)
{
	struct stat st;
	int saved = errno;
	if (sfd >= 0 && zc_fstat(sfd, &st) == 0 && S_ISREG(st.st_mode)) {
		uintptr_t dend = st.st_size > p->off ? p->addr + (uintptr_t)(st.st_size - p->off)
						     : p->addr;
		if (dend < a + len)
			past_the_end(dend > a ? dend : a, a + len);
	}
	errno = saved;
}

/* Guarded pages of p about to be written plainly get their bytes first:
 * the kernel would fail with EFAULT on them. */
static void guard_ready(const struct zc_phantom *p, uintptr_t a, size_t len)
{
	if (p->kind != ZC_PH_GUARD)
		return;
	zc_lock();
	zc_phantom_guard_materialize(a, a + len);
	zc_unlock();
}

/* Pages [a, a+len) of phantom p sent from the buffer after all: guarded
 * ones get their bytes, and those past the end of a source another process
 * truncated read as zeros, as the plain write would send them. */
static int emit_from_buffer(struct wctx *w, const struct zc_phantom *p, int sfd, uintptr_t a,
			    size_t len)
{
	guard_ready(p, a, len);
	zero_past_end(sfd, p, a, len);
	return emit_plain1(w, a, len);
}

/* A run of clean phantom pages by kernel transfer from the pinned source. */
static int emit_clean(struct wctx *w, const struct zc_phantom *p, int sfd, struct zc_inflight *f,
		      uintptr_t ra, size_t rl)
{
	struct zc_fdinfo si = { .kind = ZC_K_FILE, .dev = p->dev, .ino = p->ino };
	while (rl > 0) {
		if (!may_continue(w))
			return -1;
		enum zc_xfer_end end;
		off_t *op = w->pos0 ? &w->pos : NULL;
		ssize_t r = zc_transfer(w->out, &w->o, op, sfd, &si, p->off + (off_t)(ra - p->addr), rl,
					w->total, f, &end);
		if (r < 0) {
			w->err = (int)-r;
			return -1;
		}
		ZC_ADD(bytes_zero_copy, r);
		w->total += (size_t)r;
		zc_write_sent(w->total);
		ra += (size_t)r;
		rl -= (size_t)r;
		switch (end) {
		case ZC_XF_DONE:
			continue;
		case ZC_XF_SHORT:
			return -1;
		case ZC_XF_FULL: {
			/* Nothing went yet and the pipe is full: the bytes up to
			 * the next page boundary (a page, or the start of a
			 * guard record's span) by the program's own call wait
			 * exactly as its write would have (signals, SA_RESTART);
			 * the rest goes on without waiting. */
			size_t one = page_up(ra + 1) - ra < rl ? page_up(ra + 1) - ra : rl;
			if (emit_from_buffer(w, p, sfd, ra, one))
				return -1;
			ra += one;
			rl -= one;
			continue;
		}
		case ZC_XF_REFUSED:
			zc_fallback(ZC_FB_PRIMITIVE, rl);
			return emit_from_buffer(w, p, sfd, ra, rl);
		case ZC_XF_EOF:
			/* The source shrank: the rest reads as zeros. */
			guard_ready(p, ra, rl);
			past_the_end(ra, ra + rl);
			return emit_plain1(w, ra, rl);
		case ZC_XF_REVOKED:
			/* This process changed the source: the buffer holds the old
			 * bytes now (materialized before the change). */
			zc_fallback(ZC_FB_SOURCE_CHANGED, rl);
			guard_ready(p, ra, rl);
			return emit_plain1(w, ra, rl);
		}
	}
	return 0;
}

/* A run of phantom pages the program wrote: they go from its buffer. */
static int emit_dirty(struct wctx *w, uintptr_t ra, size_t rl)
{
	zc_fallback(ZC_FB_DIRTY_PAGES, rl);
	if (w->first) /* a retry of a short write is not new work */
		ZC_ADD(materialized_bytes, rl);
	return emit_plain1(w, ra, rl);
}

/* npg pages from a of phantom p, whose pagemap states are st, in runs:
 * clean runs by transfer, dirty runs from the buffer.  *touched is set when
 * the program touched one of them.  Returns 0 if all of them went. */
static int emit_runs(struct wctx *w, const struct zc_phantom *p, int sfd, struct zc_inflight *f,
		     uintptr_t a, size_t npg, const uint8_t *st, int *touched)
{
	for (size_t i = 0; i < npg;) {
		size_t j = i;
		unsigned clean = st[i] & ZC_PG_CLEAN;
		while (j < npg && (st[j] & ZC_PG_CLEAN) == clean)
			j++;
		for (size_t k = i; k < j; k++)
			*touched |= (st[k] & ZC_PG_PRESENT) &&
				    (!(st[k] & ZC_PG_CLEAN) || a + k * zc_page >= zc_stdio_touch_floor);
		uintptr_t ra = a + i * zc_page;
		size_t rl = (j - i) * zc_page;
		if (clean ? emit_clean(w, p, sfd, f, ra, rl) : emit_dirty(w, ra, rl))
			return -1;
		i = j;
	}
	return 0;
}

/* Pages [a, a+len) of a record of a socket's bytes (sock.h): from its pipe
 * when the write starts at the record's first byte and goes to a file, a
 * block device or a stream socket (one splice, a write(2) of its own);
 * else the record gets its bytes and they go plainly. */
static int emit_pipe(struct wctx *w, const struct zc_phantom *p, uintptr_t a, size_t len)
{
	ssize_t r = ZC_PLAIN;
	int why = ZC_FB_SOCK_DEST;
	int kind = w->o.kind;
	if (!may_continue(w))
		return -1;
	if (a == p->addr && (kind == ZC_K_FILE || kind == ZC_K_BLOCK || kind == ZC_K_STREAM)) {
		why = ZC_FB_PRIMITIVE;
		if (!zc_at_size_limit(w->out, &w->o, w->pos0 ? &w->pos : NULL))
			r = zc_sock_send(p->pipe, p->pgen, a, len, w->out, w->pos0 ? &w->pos : NULL);
	}
	if (r == ZC_PLAIN) {
		if (why == ZC_FB_SOCK_DEST && w->first && p->stream >= 0) {
			zc_lock();
			zc_det_touched(&det, &det.s[p->stream]);
			det.s[p->stream].refused = ZC_FB_SOCK_DEST;
			zc_unlock();
		}
		zc_fallback((enum zc_fallback)why, len);
		guard_ready(p, a, len);
		/* The plain write raises its own SIGPIPE. */
		if (w->total == 0)
			release_sigpipe(w, (size_t)-1); /* whatever the calls raised */
		return emit_plain1(w, a, len);
	}
	if (r < 0) {
		w->err = (int)-r;
		return -1;
	}
	ZC_ADD(bytes_zero_copy, r);
	w->total += (size_t)r;
	zc_write_sent(w->total);
	return (size_t)r == len ? 0 : -1;
}

/*
 * Pages [a, a+len) of a file guard record whose pipe P holds its bytes from
 * a on (phantom.h, zc_phantom_defer_fpipe), to a pipe or character device:
 * splices P out, consuming it, with the transfer's write(2) rules.  Returns
 * 0 when all went, -1 when the write ends here, or ZC_PLAIN with *sent
 * bytes gone: the rest goes from the file, as for any guard record.
 */
static int emit_file_pipe(struct wctx *w, const struct zc_phantom *p, struct zc_inflight *f,
			  uintptr_t a, size_t len, size_t *sent)
{
	*sent = 0;
	if (w->o.kind != ZC_K_PIPE && w->o.kind != ZC_K_CHAR)
		return ZC_PLAIN; /* (neither has a size limit or a SIGPIPE to hold) */
	zc_lock();
	int mine = zc_phantom_fpipe_take(p) == 0; /* P is this write's alone now */
	if (mine)
		zc_sock_pipe_hold(p->fpipe); /* a jump out of the write gives it back */
	zc_unlock();
	if (!mine)
		return ZC_PLAIN;
	enum zc_xfer_end end;
	ssize_t r = zc_sock_pipe_send_out(p->fpipe, w->out, &w->o, len, w->total, f, &end);
	size_t k = r > 0 ? (size_t)r : 0;
	zc_lock();
	zc_sock_pipe_unhold(p->fpipe);
	zc_phantom_fpipe_back(p, a + k); /* what P still holds stays the record's */
	zc_unlock();
	if (r < 0) {
		w->err = (int)-r;
		return -1;
	}
	ZC_ADD(bytes_zero_copy, k);
	w->total += k;
	zc_write_sent(w->total);
	*sent = k;
	if (end == ZC_XF_DONE)
		return 0;
	return end == ZC_XF_SHORT ? -1 : ZC_PLAIN;
}

/* The part of [*a, *a+*len) that record p's pipe P holds from its head on,
 * when the write starts where P's bytes do (emit_file_pipe); *a and *len
 * move past what went.  Returns 0 or -1 as emit_file_pipe, or ZC_PLAIN:
 * the rest (if any) goes from the file. */
static int emit_file_pipe_head(struct wctx *w, const struct zc_phantom *p, struct zc_inflight *f,
			       uintptr_t *a, size_t *len)
{
	if (p->fpipe < 0 || *a != p->fhead || *len == 0)
		return ZC_PLAIN;
	size_t sent;
	int r = emit_file_pipe(w, p, f, *a, *len, &sent);
	*a += sent;
	*len -= sent;
	return r;
}

/*
 * Writes [a, a+len), which lies in phantom p, to the destination: clean pages
 * by a kernel transfer from the source file, the rest plainly.  Returns 0 if
 * all of it went out.
 */
static int emit_phantom(struct wctx *w, const struct zc_phantom *p, int sfd, struct zc_inflight *f,
			uintptr_t a, size_t len, int *touched)
{
	uint8_t st[512];
	if ((a | len) & (zc_page - 1))
		return emit_plain1(w, a, len); /* only whole pages can be phantoms */
	if (p->pipe >= 0)
		return emit_pipe(w, p, a, len);
	if (sfd < 0 || !f) {
		/* The program closed the source (or no room to track the
		 * transfer): the buffer's mapping still holds the right bytes. */
		zc_fallback(ZC_FB_SOURCE_CHANGED, len);
		return emit_from_buffer(w, p, -1, a, len); /* without asking the source its size */
	}
	int r = emit_file_pipe_head(w, p, f, &a, &len);
	if (r != ZC_PLAIN)
		return r;
	if (p->kind == ZC_PH_GUARD) {
		/* A guarded page the program touched is no longer in the record:
		 * every page of a snapshot still guarded is the file's. */
		return len ? emit_clean(w, p, sfd, f, a, len) : 0;
	}
	while (len > 0) {
		size_t npg = len / zc_page < 512 ? len / zc_page : 512;
		if (zc_pagemap(a, npg, st) < 0) {
			zc_fallback(ZC_FB_DIRTY_PAGES, len);
			return emit_from_buffer(w, p, sfd, a, len);
		}
		if (emit_runs(w, p, sfd, f, a, npg, st, touched))
			return -1;
		a += npg * zc_page;
		len -= npg * zc_page;
	}
	return 0;
}

/* The common path of write, pwrite, writev, pwritev, send and sendto. */
/* The phantoms a write carries, snapshot under the lock: each with its
 * pinned source (a reference held) and its range registered in flight. */
struct carried {
	struct zc_phantom ph[ZC_MAX_PIECES];
	int sfd[ZC_MAX_PIECES];
	struct zc_inflight *f[ZC_MAX_PIECES];
	/* A guard record's span (edges.h): its pages and the bytes around
	 * them that are still the file's, all by transfer. */
	uintptr_t lo[ZC_MAX_PIECES], hi[ZC_MAX_PIECES];
	int n;
};

static ssize_t emit(struct wctx *w, const struct iovec *iov, int cnt, const struct carried *c);

/*
 * The destination as this write sees it.  Without live phantoms nothing is
 * redirected: the cached kind is enough for the accounting and costs no
 * system call.  With them the destination is pinned: every call of this
 * write goes to what the program's number named now (pin.h).  Returns the
 * pin (or -1 when not pinned); ZC_PLAIN when the write must be the plain
 * call.  Lock held.
 */
static int classify_dest(struct wctx *w, int live)
{
	w->pin = -1;
	if (!live)
		return zc_fd_get(w->fd, &w->o, ZC_FD_CACHED, NULL) < 0 ? ZC_PLAIN : -1;
	int dpin = zc_pin_get(w->fd, &w->o, 0, NULL);
	if (dpin < 0)
		return ZC_PLAIN;
	w->out = zc_pin_use(dpin);
	if (w->out < 0) {
		zc_pin_put(dpin);
		return ZC_PLAIN;
	}
	w->pin = dpin;
	return dpin;
}

/* A write into a file that phantoms stand for: they keep the old bytes,
 * and a transfer reading that range finishes its call first.  Lock held. */
static void note_file_change(struct wctx *w, size_t n)
{
	const struct zc_fdinfo *o = &w->o;
	if ((o->kind != ZC_K_FILE && o->kind != ZC_K_BLOCK) || !zc_phantom_of_file(o->dev, o->ino))
		return;
	int saved = errno;
	struct stat st;
	off_t at = w->pos0 ? *w->pos0
		   : (o->flags & ZC_FL_APPEND) ? (zc_fstat(w->out, &st) == 0 ? st.st_size : -1)
					       : REAL(lseek)(w->out, 0, SEEK_CUR);
	errno = saved;
	zc_phantom_file_changing(o->dev, o->ino, at < 0 ? 0 : at, at < 0 ? 0 : (off_t)n);
}

/* The destination could not be pinned (no room for a pin, no descriptor
 * left) while phantoms live: the write goes plainly, and a file that
 * phantoms stand for changes under them all the same, so they get their
 * bytes first, from the program's own number (a rare path: an fstat).
 * Lock held. */
static void unpinned_file_change(struct wctx *w, size_t n)
{
	w->out = w->fd;
	if (zc_fd_get(w->fd, &w->o, ZC_FD_VALIDATE, NULL) == 0)
		note_file_change(w, n);
}

/* Observe mode: what one written piece that pairs with stream s would have
 * done.  Lock held. */
static void observe_piece(const struct zc_stream *s, uintptr_t b, size_t len, int refusal)
{
	int why = refusal >= 0 ? refusal : s->why;
	struct zc_fdinfo si;
	if (why < 0 && (zc_fd_get(s->fd, &si, ZC_FD_CACHED, NULL) < 0 || !zc_fd_is_source(&si)))
		why = ZC_FB_SRC_NOT_FILE;
	size_t whole = page_down(b + len) > page_up(b) ? page_down(b + len) - page_up(b) : 0;
	if (why >= 0) {
		zc_fallback((enum zc_fallback)why, len);
		if (why == ZC_FB_ALIGNMENT)
			ZC_ADD(would_guard_bytes, whole);
	} else {
		ZC_ADD(would_zero_copy_bytes, whole);
		if (len > whole)
			zc_fallback(ZC_FB_PARTIAL_PAGES, len - whole);
	}
}

/* Pairs the write's pieces with the reads they repeat (the detector's
 * input) and, in observe mode, counts them.  Returns the stream the write
 * belongs to, or NULL.  Lock held. */
static struct zc_stream *pair_with_reads(struct wctx *w, const struct iovec *iov, int cnt,
					 int refusal)
{
	struct zc_stream *pair = NULL;
	for (int i = 0; i < cnt; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		size_t len = iov[i].iov_len;
		if (len < zc_page)
			continue;
		struct zc_stream *was = zc_det_find(&det, b, len);
		if (was && was->paired)
			w->first = 0; /* these bytes were written before: a retry */
		/* Only a destination that can take a transfer counts towards
		 * engaging (a small pipe write can: only its size refused). */
		struct zc_stream *s = (refusal >= 0 && refusal != ZC_FB_TOO_SMALL)
					      ? zc_det_on_refused_write(&det, b, len)
					      : zc_det_on_write(&det, b, len);
		if (!s)
			continue;
		pair = s;
		s->dest_kind = (uint8_t)w->o.kind; /* the read side's choice (engine.c) */
		zc_flow_begin_write(s->fd, w->fd, w->o.kind, len, w->first); /* counts below are its */
		if (zc_mode == ZC_MODE_OBSERVE && w->first)
			observe_piece(s, b, len, refusal);
	}
	return pair;
}

/* Snapshots the phantoms under the write's pieces, sorted by address, each
 * once, with a reference to its pinned source and its range registered in
 * flight.  Lock held. */
static int gather(const struct iovec *iov, int cnt, struct carried *c)
{
	int full = 0;
	c->n = 0;
	for (int i = 0; i < cnt; i++) {
		struct zc_phantom got[ZC_MAX_PIECES];
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		int m = zc_phantom_overlapping(b, b + iov[i].iov_len, got, ZC_MAX_PIECES);
		full |= m == ZC_MAX_PIECES;
		for (int k = 0; k < m; k++) {
			int j = 0;
			while (j < c->n && c->ph[j].addr < got[k].addr)
				j++;
			if (j < c->n && c->ph[j].addr == got[k].addr)
				continue;
			if (c->n == ZC_MAX_PIECES) {
				full = 1;
				continue;
			}
			memmove(&c->ph[j + 1], &c->ph[j], (size_t)(c->n - j) * sizeof c->ph[0]);
			c->ph[j] = got[k];
			c->n++;
		}
	}
	return full;
}

/* The span of guard record p that the piece of the write carrying it may
 * send by transfer (edges.h).  Lock held: the kept copy stays put. */
static void guard_span(const struct iovec *iov, int cnt, const struct zc_phantom *p,
		       uintptr_t *lo, uintptr_t *hi)
{
	for (int i = 0; i < cnt; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base, e = a + iov[i].iov_len;
		if (a < p->addr + p->len && e > p->addr) {
			zc_edges_span(p, a, e, lo, hi);
			return;
		}
	}
}

static void collect(const struct iovec *iov, int cnt, struct carried *c)
{
	if (gather(iov, cnt, c) && zc_guard_live) {
		/* More records than one write carries: the rest would be sent
		 * plainly, so guarded pages among them get their bytes now, and
		 * the records are gathered again. */
		for (int i = 0; i < cnt; i++)
			zc_phantom_guard_materialize((uintptr_t)iov[i].iov_base,
						     (uintptr_t)iov[i].iov_base + iov[i].iov_len);
		gather(iov, cnt, c);
	}
	for (int k = 0; k < c->n; k++) {
		const struct zc_phantom *p = &c->ph[k];
		c->sfd[k] = -1;
		c->f[k] = NULL;
		c->lo[k] = p->addr;
		c->hi[k] = p->addr + p->len;
		if (p->pin < 0)
			continue;
		if (p->kind == ZC_PH_GUARD)
			guard_span(iov, cnt, p, &c->lo[k], &c->hi[k]);
		zc_pin_ref(p->pin);
		c->sfd[k] = zc_pin_use(p->pin);
		/* The span's bytes are read from the file too: a change to
		 * any of them waits for the call reading it. */
		c->f[k] = zc_inflight_begin(p->dev, p->ino, p->off - (off_t)(p->addr - c->lo[k]),
					    (off_t)(c->hi[k] - c->lo[k]));
	}
}

/* Undoes collect() and the destination pin.  Lock held. */
static void release(struct carried *c, int dpin)
{
	for (int k = 0; k < c->n; k++) {
		zc_inflight_end(c->f[k]);
		if (c->ph[k].pin >= 0) {
			zc_pin_unuse(c->ph[k].pin);
			zc_pin_put(c->ph[k].pin);
		}
	}
	c->n = 0;
	if (dpin >= 0) {
		zc_pin_unuse(dpin);
		zc_pin_put(dpin);
	}
}

/* A write of a stream's bytes that goes plainly: say why, and back off a
 * stream whose destination takes only plain writes (deferring would make
 * the kernel fault the file in during the plain write, slower than the copy
 * it replaces; a small remainder of a short pipe write says nothing about
 * that).  Lock held. */
static void decline(const struct wctx *w, struct zc_stream *pair, int refusal, int nph, size_t n)
{
	if (zc_mode != ZC_MODE_ON || !pair || !w->first)
		return;
	int why = refusal >= 0 ? refusal : pair->why;
	zc_fallback(why >= 0 ? (enum zc_fallback)why : ZC_FB_WARMUP, n);
	if (refusal >= 0 && refusal != ZC_FB_TOO_SMALL && nph > 0) {
		zc_det_touched(&det, pair);
		pair->refused = (int8_t)refusal;
	}
}

/* This thread's write in progress, for a signal handler that jumps out of
 * it (zc_write_abandon). */
struct current {
	struct wctx *w;
	struct carried *c;
	int dpin;
};
static __thread struct current *cur __attribute__((tls_model("initial-exec")));

void zc_write_abandon(void)
{
	struct current *k = cur;
	zc_write_unit = 0; /* (the write of two, if it was one, is over) */
	zc_write_start = 0; /* (zc_write_start_gone stays for stdio_write.c) */
	/* A cancellation in the write's first call leaves its restart guard
	 * armed: the trampoline would turn the restart of the thread's next
	 * waiting write (a cleanup handler's) into EINTR. */
	zc_sig_restartable = 0;
	zc_sig_restart_wanted = 0;
	zc_sig_early_restarts = 0;
	if (!k)
		return;
	cur = NULL;
	if (k->w->pipe_held && !k->w->pipe_pending) {
		/* SIGPIPE was blocked for the write, not by the program. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		if (!sigismember(&k->w->pipe_old, SIGPIPE))
			REAL(pthread_sigmask)(SIG_UNBLOCK, &set, NULL);
	}
	zc_lock();
	zc_sock_pipe_abandon(); /* a pool pipe the write held: free again */
	release(k->c, k->dpin);
	zc_unlock();
}

static void write_cancelled(void *arg)
{
	(void)arg;
	zc_write_abandon();
	/* A pool pipe's fd in use by the splice out of it (P's read end): the
	 * thread is gone, and a mover of that fd (close_range, a dup2 over
	 * its number) would wait for the use to end forever. */
	zc_ownfd_abandon();
}

/* The transfer stands for the program's write, a cancellation point: it
 * runs in the program's cancellation state (engine.h, "Cancellation"), and
 * a thread cancelled in it (splice, poll, the plain write) lets go of the
 * write as if it had returned.  Except into a regular file or a block
 * device: the kernel makes the plain write whole once it started (no
 * signal stops it, and it never waits for a reader), so a cancel that
 * comes meanwhile acts after it; a window there let the cancel act between
 * the pieces (or inside a copy_file_range, which a signal cuts short), and
 * the file kept part of the write.  A cancel pending at the start acted
 * before (writev_call). */
static ssize_t emit_in_state(struct wctx *w, const struct iovec *iov, int cnt,
			     const struct carried *c)
{
	int window = w->o.kind != ZC_K_FILE && w->o.kind != ZC_K_BLOCK;
	int cancel = window ? zc_cancel_window_open() : 0;
	ssize_t r = emit(w, iov, cnt, c);
	if (window)
		zc_cancel_window_close(cancel);
	return r;
}

static ssize_t emit_cancellable(struct wctx *w, const struct iovec *iov, int cnt,
				const struct carried *c)
{
	ssize_t r;
	zc_cleanup_push(write_cancelled, NULL);
	r = emit_in_state(w, iov, cnt, c);
	zc_cleanup_pop(0);
	return r;
}

/* The write side of one call: decide under the lock, emit without it.
 * Returns what the plain call would have returned, or ZC_PLAIN. */
static ssize_t engine_writev(struct wctx *w, const struct iovec *iov, int cnt)
{
	struct carried c; /* only c.ph[0 .. c.n) are ever read: not zeroed (2 KiB a write) */
	c.n = 0;
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	int live = zc_phantom_live;

	zc_lock();
	int dpin = classify_dest(w, live);
	int go = dpin != ZC_PLAIN;
	if (!go && live)
		unpinned_file_change(w, n);
	if (go) {
		if (live)
			note_file_change(w, n);
		int refusal = zc_write_refusal(&w->o, w->how, w->flags, n);
		struct zc_stream *pair = pair_with_reads(w, iov, cnt, refusal);
		if (!pair) /* bytes of no read: other bytes than were read? */
			zc_flow_begin_write(-1, w->fd, w->o.kind, n, w->first);
		if (zc_mode == ZC_MODE_ON && zc_phantom_live)
			collect(iov, cnt, &c);
		go = c.n > 0 && refusal < 0;
		if (!go) {
			decline(w, pair, refusal, c.n, n);
			release(&c, dpin);
		}
	}
	zc_unlock();
	if (!go)
		return ZC_PLAIN;

	struct current k = { w, &c, dpin };
	cur = &k;
	/* The one place SIGPIPE is held back (hold_sigpipe says why). */
	if (w->o.kind == ZC_K_STREAM || (w->flags & MSG_NOSIGNAL))
		hold_sigpipe(w);
	ssize_t r = emit_cancellable(w, iov, cnt, &c);
	release_sigpipe(w, n);

	int saved = errno;
	zc_lock();
	cur = NULL;
	release(&c, dpin);
	zc_unlock();
	errno = saved;
	return r;
}

/* Parts of guarded pages of p in [a, run_end) that go plainly (a write
 * that starts or ends inside one) need their bytes first; whole pages
 * [wa, we) go by transfer. */
static void guard_edges(const struct zc_phantom *p, uintptr_t a, uintptr_t wa, uintptr_t we,
			uintptr_t run_end)
{
	if (p->kind != ZC_PH_GUARD)
		return;
	if (we <= wa) {
		guard_ready(p, a, run_end - a);
		return;
	}
	if (wa > a)
		guard_ready(p, a, wa - a);
	if (run_end > we)
		guard_ready(p, we, run_end - we);
}

/* The part of a piece from *ap to e that phantom k of c overlaps: the bytes
 * before it and its partial pages plainly, its whole pages by emit_phantom.
 * *ap moves past the phantom.  Returns 0 if all of it went. */
/*
 * The part of a piece from *ap to e that guard record k of c carries: every
 * byte of its span (collect) is the file's at a known offset (a guarded page
 * holds nothing the program wrote, and the partial pages around it equal
 * what the read put there), so the span's part of the piece goes as one
 * transfer whatever its alignment: its first call waits as the plain write
 * would, the later ones do not (transfer.c).  What lies before the span
 * goes plainly.  *ap moves past the part.  Returns 0 if all of it went.
 */
static int emit_guard_span(struct wctx *w, struct gathered *g, const struct carried *c, int k,
			   uintptr_t *ap, uintptr_t e)
{
	const struct zc_phantom *p = &c->ph[k];
	uintptr_t a = *ap, lo = c->lo[k] > a ? c->lo[k] : a, hi = c->hi[k] < e ? c->hi[k] : e;
	if (add_plain(w, g, a, lo - a))
		return -1;
	if (hi > lo) {
		if (flush_plain(w, g))
			return -1;
		g->stream = p->stream;
		size_t len = hi - lo;
		int r = emit_file_pipe_head(w, p, c->f[k], &lo, &len);
		if (r == -1 || (r == ZC_PLAIN && len && emit_clean(w, p, c->sfd[k], c->f[k], lo, len)))
			return -1;
	}
	*ap = hi > lo ? hi : lo;
	return 0;
}

static int emit_overlap(struct wctx *w, struct gathered *g, const struct carried *c, int k,
			uintptr_t *ap, uintptr_t e)
{
	const struct zc_phantom *p = &c->ph[k];
	if (p->kind == ZC_PH_GUARD && p->pipe < 0 && c->sfd[k] >= 0 && c->f[k])
		return emit_guard_span(w, g, c, k, ap, e);
	uintptr_t a = *ap, pa = p->addr, pe = p->addr + p->len;
	if (pa > a && add_plain(w, g, a, pa - a))
		return -1;
	a = pa > a ? pa : a;
	/* Only whole pages go by transfer; a piece that starts or ends inside
	 * a page has those bytes sent plainly. */
	uintptr_t run_end = pe < e ? pe : e;
	uintptr_t wa = page_up(a), we = page_down(run_end);
	guard_edges(p, a, wa, we, run_end);
	if (we > wa) {
		if (add_plain(w, g, a, wa - a) || flush_plain(w, g))
			return -1;
		g->stream = p->stream;
		if (emit_phantom(w, p, c->sfd[k], c->f[k], wa, we - wa, &g->touched))
			return -1;
		a = we;
	}
	if (add_plain(w, g, a, run_end - a))
		return -1;
	*ap = run_end;
	return 0;
}

/* Every piece of the write in order.  Returns 0 if all of it went. */
static int emit_pieces(struct wctx *w, struct gathered *g, const struct iovec *iov, int cnt,
		       const struct carried *c)
{
	for (int i = 0; i < cnt; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base, e = a + iov[i].iov_len;
		for (int k = 0; k < c->n && a < e; k++) {
			if (c->ph[k].addr + c->ph[k].len <= a || c->ph[k].addr >= e)
				continue;
			if (emit_overlap(w, g, c, k, &a, e))
				return -1;
		}
		if (add_plain(w, g, a, e - a))
			return -1;
	}
	return flush_plain(w, g);
}

/*
 * Does the first write of a write of two, [b, b + w->unit) (one page),
 * enter the pipe as the first buffer of one transfer, or by a plain write
 * of its own?  Either keeps it the unit a write of at most PIPE_BUF is:
 * whole, all of it or an error before any of it.  A transfer puts a page
 * of the file in a pipe buffer of its own when the page's file offset is a
 * page's (filemap_splice_read), so a phantom that holds all of the page at
 * such an offset does; plain stretches are cut at the unit's end
 * (emit_plain).  The head of a record's pipe P is such a page too: P's
 * reads start at a page of the file and go on only from one (fpipe_fill in
 * phantom.c), so each of its pipe buffers is one page, and a splice out of
 * P moves whole buffers.  Only a record that holds part of the page, a
 * guard span that starts or ends inside it, or an offset inside a page of
 * the file could send the page in two pieces: then it is written plainly
 * first.
 */
static int unit_whole(const struct wctx *w, uintptr_t b, const struct carried *c)
{
	uintptr_t e = b + w->unit;
	for (int k = 0; k < c->n; k++) {
		const struct zc_phantom *p = &c->ph[k];
		if (c->hi[k] <= b || c->lo[k] >= e)
			continue;
		if (c->lo[k] > b || c->hi[k] < e || p->pipe >= 0 || c->sfd[k] < 0 || !c->f[k] ||
		    ((p->off + (off_t)(b - p->addr)) & (off_t)(zc_page - 1)))
			return 0;
	}
	return 1;
}

/* Emits the pieces of the write in order: plain stretches gathered into one
 * call, whole clean phantom pages by transfer.  Returns what the plain call
 * would have returned. */
static ssize_t emit(struct wctx *w, const struct iovec *iov, int cnt, const struct carried *c)
{
	struct gathered g; /* (g.plain[0 .. g.np) only: not zeroed) */
	g.np = 0;
	g.touched = 0;
	g.stream = -1;
	uintptr_t b = (uintptr_t)iov[0].iov_base;
	if (w->unit && !unit_whole(w, b, c)) {
		/* The first write by itself (guarded pages get their bytes
		 * first, as for any plain write), then the second. */
		struct iovec head = { iov[0].iov_base, w->unit };
		struct iovec rest = { (void *)(b + w->unit), iov[0].iov_len - w->unit };
		zc_guard_before_write_iov(&head, 1);
		if (emit_plain(w, &head, 1) == 0)
			emit_pieces(w, &g, &rest, 1, c);
	} else {
		emit_pieces(w, &g, iov, cnt, c);
	}
	if (g.touched && g.stream >= 0 && w->first) {
		zc_lock();
		zc_det_touched(&det, &det.s[g.stream]);
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

/* Observe mode: a small write of the bytes of this thread's small read, a
 * pair that could not be deferred, is counted without the engine. */
static int observe_small_pair(const struct iovec *iov, int cnt)
{
	if (zc_mode != ZC_MODE_OBSERVE || cnt != 1 || zc_inside || iov[0].iov_len >= zc_min_chunk ||
	    !zc_small_read.len)
		return 0;
	uintptr_t b = (uintptr_t)iov[0].iov_base;
	if (b < zc_small_read.buf || b + iov[0].iov_len > zc_small_read.buf + zc_small_read.len)
		return 0;
	zc_fallback((enum zc_fallback)zc_small_read.why, iov[0].iov_len);
	zc_small_read.len = 0;
	return 1;
}

/* The plain call, exactly as the program made it (guarded pages get their
 * bytes first: the kernel cannot fault them in). */
static ssize_t plain_write(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			   enum zc_wcall how, int flags)
{
	if (iov && cnt > 0)
		zc_guard_before_write_iov(iov, (size_t)cnt);
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

/* A write of two made plainly: the first write, and when all of it went,
 * the second; *err2 is the second's errno when it failed. */
static ssize_t plain_two(int fd, const struct iovec *iov, size_t unit, int *err2, size_t start)
{
	struct iovec head = { iov[0].iov_base, unit };
	struct iovec rest = { (char *)iov[0].iov_base + unit, iov[0].iov_len - unit };
	ssize_t r = plain_write(fd, &head, 1, NULL, ZC_W_WRITE, 0);
	if (r != (ssize_t)unit)
		return r;
	if (start && start <= unit)
		zc_write_start_gone = 1;
	int saved = errno;
	ssize_t r2 = plain_write(fd, &rest, 1, NULL, ZC_W_WRITE, 0);
	if (r2 < 0) {
		*err2 = errno;
		errno = saved;
		return r;
	}
	return r + r2;
}

static ssize_t writev_call(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			   enum zc_wcall how, int flags, size_t unit, int *err2, size_t start);

/* The second write of two, made again as a write of its own: its count,
 * or 0 with *err2 its errno when it failed before its first byte. */
static ssize_t second_again(int fd, const struct iovec *iov, size_t unit, enum zc_wcall how,
			    int flags, int *err2)
{
	struct iovec rest = { (char *)iov[0].iov_base + unit, iov[0].iov_len - unit };
	int saved = errno;
	ssize_t r2 = writev_call(fd, &rest, 1, NULL, how, flags, 0, NULL, 0);
	*err2 = 0;
	if (r2 >= 0)
		return r2;
	*err2 = errno;
	errno = saved;
	return 0;
}

/* The call made plainly: the write, or the write of two. */
static ssize_t plain_whole(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			  enum zc_wcall how, int flags, size_t unit, int *err2, size_t start)
{
	if (unit)
		return plain_two(fd, iov, unit, err2, start);
	ssize_t r = plain_write(fd, iov, cnt, pos, how, flags);
	if (start && r >= (ssize_t)start)
		zc_write_start_gone = 1;
	return r;
}

/* One write, or with unit > 0 a write of two (zc_engine_write_two); its
 * first start bytes an fwrite's start (transfer.h, zc_write_start), or 0. */
static ssize_t writev_body(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			   enum zc_wcall how, int flags, size_t unit, int *err2, size_t start)
{
	/* Vectors the kernel would refuse (EINVAL) or cap: its own checks.  A
	 * vfork child that changed what a number names: the pins may name
	 * what it let go of (ownfd.h). */
	if (!iov_sane(iov, cnt) || zc_vfork_child_renamed() || observe_small_pair(iov, cnt) ||
	    zc_inside || !zc_ready || zc_mode == ZC_MODE_OFF)
		return plain_whole(fd, iov, cnt, pos, how, flags, unit, err2, start);
	int saved = errno;
	pthread_testcancel(); /* a pending cancel acts here, as at write's start */
again:
	zc_sig_write_begins();
	zc_enter();
	/* Set and read inside the engine only: a signal handler's write
	 * while this one waits is plain (zc_inside) and never sees them. */
	zc_write_unit = unit;
	zc_write_unit_err = 0;
	zc_write_start = start;
	struct wctx w = { .fd = fd, .out = fd, .how = how, .flags = flags, .pos0 = pos,
			  .pos = pos ? *pos : 0, .first = 1, .unit = unit };
	ssize_t r = engine_writev(&w, iov, cnt);
	if (unit && r == (ssize_t)unit)
		*err2 = zc_write_unit_err;
	zc_write_unit = 0;
	zc_write_start = 0;
	zc_leave();
	int restart = zc_sig_restart_take();
	if (restart && r == -1 && errno == EINTR) {
		/* SA_RESTART, emulated: the same write again, from the top. */
		zc_flow_end();
		errno = saved;
		goto again;
	}
	if (restart && unit && r == (ssize_t)unit && *err2 == EINTR) {
		/* The same at the second write of two: the first went whole,
		 * and the second is made again from its start (glibc's next
		 * write(2) would simply have been made after the handler). */
		zc_flow_end();
		errno = saved;
		return unit + second_again(fd, iov, unit, how, flags, err2);
	}
	if (r == ZC_PLAIN) {
		r = plain_whole(fd, iov, cnt, pos, how, flags, unit, err2, start);
		zc_flow_end(); /* after the plain call, whose bytes are the flow's */
		return r;
	}
	zc_flow_end();
	if (r != -1)
		errno = saved; /* a success, even a short one, leaves errno alone */
	return r;
}

/* (zc_write_errno: the program's errno at this write's start; a handler's
 * engine write inside a wait of another keeps the other's.) */
static ssize_t writev_call(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			   enum zc_wcall how, int flags, size_t unit, int *err2, size_t start)
{
	int outer = zc_write_errno;
	zc_write_errno = errno;
	ssize_t r = writev_body(fd, iov, cnt, pos, how, flags, unit, err2, start);
	zc_write_errno = outer;
	return r;
}

ssize_t zc_engine_writev_call(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			      enum zc_wcall how, int flags)
{
	return writev_call(fd, iov, cnt, pos, how, flags, 0, NULL, 0);
}

ssize_t zc_engine_write_two(int fd, const void *buf, size_t n, size_t unit, size_t start,
			    int *err2)
{
	struct iovec v = { (void *)buf, n };
	*err2 = 0;
	if (unit == 0 || unit >= n)
		return writev_call(fd, &v, 1, NULL, ZC_W_WRITE, 0, 0, NULL, start);
	return writev_call(fd, &v, 1, NULL, ZC_W_WRITE, 0, unit, err2, start);
}

ssize_t zc_engine_writev(int fd, const struct iovec *iov, int cnt, const off_t *pos)
{
	return zc_engine_writev_call(fd, iov, cnt, pos, pos ? ZC_W_PWRITE : ZC_W_WRITE, 0);
}

