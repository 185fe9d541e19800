/*
 * transfer.c - copy_file_range / sendfile / splice with write(2) semantics.
 *
 * Invariants: the source's file offset is never used or moved (explicit
 * offsets only); a transfer that moved some bytes and then failed reports the
 * bytes moved, as a short write does, and makes no further call; EPIPE/SIGPIPE,
 * EAGAIN, EINTR and ENOSPC of a first call come from the kernel primitive
 * itself, which raises them exactly as write does for the same destination.
 * The first call of a write may wait, as the write itself would; after the
 * first bytes, pipes are spliced without waiting (SPLICE_F_NONBLOCK) and a
 * full pipe or socket is waited for in poll(2): a signal handler interrupts
 * poll whatever its SA_RESTART, which is when the plain write, having
 * written some bytes, would return.  A write of two (zc_write_unit) starts
 * over at its second: that call is a first call again.
 */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inflight.h"

#include "log.h"
#include "optcache.h"
#include "pin.h"
#include "real.h"
#include "signals.h"
#include "stats.h"

__thread size_t zc_write_unit __attribute__((tls_model("initial-exec")));
__thread int zc_write_unit_err __attribute__((tls_model("initial-exec")));
__thread size_t zc_write_start __attribute__((tls_model("initial-exec")));
__thread int zc_write_errno __attribute__((tls_model("initial-exec")));
__thread int zc_write_start_gone __attribute__((tls_model("initial-exec")));

/* Does the call after `sent` bytes of the engine write start a write(2)?
 * The first, or the second of a write of two (transfer.h). */
static int starts_write(size_t sent)
{
	return sent == 0 || (zc_write_unit && sent == zc_write_unit);
}

/* Pairs of (source, destination) files for which a primitive was refused. */
#define REFUSED_SLOTS 16
struct refused {
	dev_t in_dev, out_dev;
	ino_t in_ino, out_ino;
	unsigned prims; /* bit per enum zc_transfer */
};
static struct refused refused_tab[REFUSED_SLOTS];
static unsigned refused_next;

static struct refused *refused_find(const struct zc_fdinfo *i, const struct zc_fdinfo *o)
{
	for (int k = 0; k < REFUSED_SLOTS; k++) {
		struct refused *r = &refused_tab[k];
		if (r->prims && r->in_dev == i->dev && r->in_ino == i->ino && r->out_dev == o->dev &&
		    r->out_ino == o->ino)
			return r;
	}
	return NULL;
}

static void refused_add(const struct zc_fdinfo *i, const struct zc_fdinfo *o, enum zc_transfer t)
{
	struct refused *r = refused_find(i, o);
	if (!r) {
		r = &refused_tab[refused_next++ % REFUSED_SLOTS];
		r->in_dev = i->dev;
		r->in_ino = i->ino;
		r->out_dev = o->dev;
		r->out_ino = o->ino;
		r->prims = 0;
	}
	r->prims |= 1u << t;
}

static int is_refusal(int e)
{
	return e == EINVAL || e == EXDEV || e == ENOSYS || e == EOPNOTSUPP || e == EPERM ||
	       e == EBADF || e == ESPIPE || e == ETXTBSY || e == EOVERFLOW;
}

/*
 * sendfile waits in the kernel (a full socket, a stopped tty) but is no
 * cancellation point of glibc's, where the write it stands for is one: a
 * thread cancelled while it waited there waited on for ever.  So it is
 * made as glibc makes its own cancellation points (the write's transfer
 * runs in the program's cancellation state, engine.h): asynchronous
 * cancellation for the call's duration, so that a cancel pending at its
 * start, or arriving while it waits, ends the thread there, through the
 * write's cleanup handler.  Disabled cancellation stays disabled.
 */
static ssize_t sendfile_cancellable(int out, int in, off_t *in_off, size_t len)
{
	int state, type, ignored;
	/* Only where a window enabled it: glibc 2.36's SIGCANCEL handler acts
	 * on the asynchronous type alone (cancel.h), so the type must not
	 * become asynchronous while cancellation is off. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	if (state == PTHREAD_CANCEL_DISABLE)
		return REAL(sendfile)(out, in, in_off, len);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &ignored);
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
	ssize_t r = REAL(sendfile)(out, in, in_off, len);
	int e = errno;
	pthread_setcanceltype(type, &ignored);
	errno = e;
	return r;
}

/* One call of primitive t; returns what the syscall returned.  Pipes are
 * always written without waiting (the caller waits in poll, see below). */
static ssize_t prim(enum zc_transfer t, int out, off_t *out_pos, int in, off_t *in_off, size_t len,
		    int first)
{
	if (first && !zc_sig_first_call())
		return -1; /* a handler ran: the whole write again (sigdefer.c, "Restarts") */
	switch (t) {
	case ZC_T_COPY_FILE_RANGE:
		return REAL(copy_file_range)(in, in_off, out, out_pos, len, 0);
	case ZC_T_SPLICE:
		/* The first call of a write waits as the write would (a signal
		 * before any byte restarts or fails both alike); later ones do
		 * not wait at all. */
		return REAL(splice)(in, in_off, out, NULL, len, first ? 0 : SPLICE_F_NONBLOCK);
	case ZC_T_SENDFILE:
	default:
		return sendfile_cancellable(out, in, in_off, len);
	}
}

int zc_at_size_limit(int out, const struct zc_fdinfo *o, const off_t *out_pos)
{
	if (o->kind != ZC_K_FILE && o->kind != ZC_K_BLOCK)
		return 0;
	int saved = errno;
	rlim_t lim; /* cached: optcache.c */
	int at = 0;
	if (zc_rlimit_cur(RLIMIT_FSIZE, &lim) == 0 && lim != RLIM_INFINITY) {
		off_t pos = out_pos ? *out_pos : REAL(lseek)(out, 0, SEEK_CUR);
		at = pos >= 0 && (uint64_t)pos >= (uint64_t)lim;
	}
	errno = saved;
	return at;
}

int zc_wait_writable(int out, int ms)
{
	int saved = errno;
	struct pollfd p = { .fd = out, .events = POLLOUT };
	errno = zc_write_errno; /* (a handler that runs in the wait sees it) */
	int r = poll(&p, 1, ms);
	if (r < 0 && errno == EINTR)
		return -1; /* a handler ran: the plain write would return now */
	errno = saved;
	return r == 0 ? 0 : 1; /* ENOMEM and such: the next call reports the state */
}

int zc_fd_nonblocking(int fd)
{
	int saved = errno;
	int fl = REAL(fcntl)(fd, F_GETFL);
	errno = saved;
	return fl >= 0 && (fl & O_NONBLOCK);
}

/* Has the source ended before in_off?  Asked only after a short count. */
static int source_ended(int in, off_t in_off)
{
	struct stat st;
	int saved = errno;
	int ended = zc_fstat(in, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= in_off;
	errno = saved;
	return ended;
}

/* The primitives that can move file bytes to a destination like o, in the
 * order to try them; returns how many. */
static int primitives_for(const struct zc_fdinfo *o, const off_t *out_pos, enum zc_transfer *order)
{
	int n = 0;
	switch (o->kind) {
	case ZC_K_FILE:
		order[n++] = ZC_T_COPY_FILE_RANGE;
		if (!out_pos)
			order[n++] = ZC_T_SENDFILE; /* after EXDEV; sendfile has no out offset */
		break;
	case ZC_K_BLOCK:
		if (!out_pos)
			order[n++] = ZC_T_SENDFILE;
		break;
	case ZC_K_PIPE:
		order[n++] = ZC_T_SPLICE;
		break;
	case ZC_K_STREAM:
	case ZC_K_CHAR:
		order[n++] = ZC_T_SENDFILE;
		break;
	default:
		break;
	}
	return n;
}

/* One transfer with one primitive, as it goes. */
struct xfer {
	enum zc_transfer t;
	int out, in;
	const struct zc_fdinfo *o;
	off_t *out_pos;
	off_t pos;       /* source offset of the next byte */
	size_t len;      /* bytes asked for */
	size_t done;     /* bytes moved */
	size_t progress; /* bytes the write had sent before this transfer */
	struct zc_inflight *f;
	int nonblock;    /* the destination's O_NONBLOCK as last asked, or -1 */
	unsigned flags_gen; /* zc_pin_flags_gen() when it was asked */
};

/* Does the write to x->out not wait?  Asked at the transfer's first wait
 * and kept for the rest of it: a write that waits several times (1 MiB
 * into a 64 KiB pipe waits 15 times) makes one fcntl, not one per wait.
 * A pipe's write looks at O_NONBLOCK each time the pipe is full: another
 * thread that makes the pipe non-blocking while the write waits has the
 * plain write return then, so for a pipe the flag is asked again after a
 * wrapped fcntl(F_SETFL) (zc_pin_flags_gen).  Only a change no wrapper
 * sees (another process, a raw system call, ioctl FIONBIO) goes unnoticed
 * until the transfer's end.  A socket's write takes the flag once, at its
 * start: there the first answer stays. */
static int dest_nonblocking(struct xfer *x)
{
	unsigned g = zc_pin_flags_gen();
	if (x->nonblock < 0 || (x->o->kind == ZC_K_PIPE && x->flags_gen != g)) {
		x->flags_gen = g;
		x->nonblock = zc_fd_nonblocking(x->out);
	}
	return x->nonblock;
}

/* What comes after one call. */
enum step { STEP_AGAIN, STEP_END, STEP_REFUSED, STEP_FAILED };

/*
 * Where a splice filled a pipe only in part (a splice returns early only
 * when the pipe has no room or its source ran dry), the next call tries the
 * pipe at once: a non-blocking splice, one call when the reader has made
 * room meanwhile, else EAGAIN, then the wait in poll and the splice again.
 * Once a transfer has waited, its reader is behind: later waits of the same
 * transfer (1 MiB into a 64 KiB pipe waits 15 times) go to poll first,
 * which saves the splice that would find no room.  The bytes, counts,
 * errors and signals are the same either way: poll is only where the wait
 * happens.
 */
static enum step pipe_room(struct xfer *x, enum zc_xfer_end *end)
{
	if (x->nonblock == 0 && x->flags_gen != zc_pin_flags_gen())
		dest_nonblocking(x); /* the flags changed since it was asked */
	if (x->nonblock != 0 || starts_write(x->progress + x->done))
		return STEP_AGAIN; /* not waited yet, non-blocking, or a write's first
				    * call (a blocking splice waits as it would):
				    * the splice finds out */
	if (zc_wait_writable(x->out, -1) > 0)
		return STEP_AGAIN;
	*end = ZC_XF_SHORT; /* a handler ran: the plain write returns now */
	return STEP_END;
}

/* The call moved got > 0 bytes. */
static enum step after_bytes(struct xfer *x, ssize_t got, enum zc_xfer_end *end)
{
	ZC_ADD(transfers[x->t], 1);
	x->done += (size_t)got;
	zc_write_sent(x->progress + x->done);
	if (x->done == x->len)
		return STEP_END;
	if (x->t == ZC_T_SPLICE && x->o->kind == ZC_K_PIPE)
		return pipe_room(x, end);
	if (x->t == ZC_T_SPLICE || x->o->kind == ZC_K_FILE || x->o->kind == ZC_K_BLOCK)
		return STEP_AGAIN; /* a pipe's room, a file system's chunk */
	/* Sockets and devices return short only for what cuts a plain write
	 * short too, or a source that ended. */
	*end = source_ended(x->in, x->pos) ? ZC_XF_EOF : ZC_XF_SHORT;
	return STEP_END;
}

/* The call moved nothing and reported no error. */
static enum step after_nothing(struct xfer *x, enum zc_xfer_end *end)
{
	struct stat st;
	if (x->done == 0 && x->t == ZC_T_COPY_FILE_RANGE &&
	    (zc_fstat(x->in, &st) < 0 || x->pos < st.st_size)) {
		/* Some file systems answer 0 for "not here"; past the end of the
		 * file it means the file shrank. */
		errno = EINVAL;
		return STEP_REFUSED;
	}
	*end = ZC_XF_EOF;
	return STEP_END;
}

/* The call failed with e. */
static enum step after_error(struct xfer *x, int e, enum zc_xfer_end *end)
{
	size_t sent = x->progress + x->done;
	if (e == EINTR && (x->o->kind == ZC_K_FILE || x->o->kind == ZC_K_BLOCK))
		/* copy_file_range, sendfile and splice into a file move the
		 * bytes through a pipe inside the kernel, which stops at any
		 * pending signal (a handler without SA_RESTART then made the
		 * write fail with EINTR, or return short); a plain write(2) to
		 * a file or block device is cut short by a fatal signal only,
		 * which ends the process anyway.  The handler has run: the
		 * transfer goes on. */
		return STEP_AGAIN;
	if (e == EAGAIN && x->t == ZC_T_SPLICE && !dest_nonblocking(x)) {
		/* A full blocking pipe: the plain write would wait.  (Whether it
		 * blocks is asked now: O_NONBLOCK can change through another fd,
		 * by ioctl or in another process.) */
		if (starts_write(sent)) {
			*end = ZC_XF_FULL;
			return STEP_END;
		}
		if (zc_wait_writable(x->out, -1) > 0)
			return STEP_AGAIN;
		*end = ZC_XF_SHORT;
		return STEP_END;
	}
	errno = e;
	if (x->done == 0 && is_refusal(e))
		return STEP_REFUSED;
	if (sent > 0) {
		/* Like a short write: an error is seen on the next call.  At
		 * the start of a write of two's second, that write failed. */
		if (starts_write(sent))
			zc_write_unit_err = e;
		*end = ZC_XF_SHORT;
		return STEP_END;
	}
	return STEP_FAILED;
}

/*
 * sendfile cannot be told not to wait for a full socket (and splice into a
 * socket ignores SPLICE_F_NONBLOCK).  Its first call of a write may wait as
 * the plain write would (a signal before any byte restarts or fails it the
 * same way); once bytes went, it is called only when the socket has room,
 * and the wait happens in poll, where a signal handler ends the write as it
 * would end the plain one.  Returns 1 to go on.
 */
static int socket_has_room(struct xfer *x, enum zc_xfer_end *end)
{
	int saved = errno;
	struct pollfd p = { .fd = x->out, .events = POLLOUT };
	int ready = poll(&p, 1, 0) != 0;
	errno = saved;
	if (ready)
		return 1;
	if (dest_nonblocking(x) || zc_wait_writable(x->out, -1) <= 0) {
		*end = ZC_XF_SHORT;
		return 0;
	}
	return 1;
}

/* Calls primitive x->t until the transfer is done or must end. */
static enum step run(struct xfer *x, enum zc_xfer_end *end)
{
	*end = ZC_XF_DONE;
	while (x->done < x->len) {
		if (x->progress + x->done > 0 && zc_at_size_limit(x->out, x->o, x->out_pos)) {
			*end = ZC_XF_SHORT; /* the plain write stops at the limit */
			return STEP_END;
		}
		if (x->o->kind == ZC_K_STREAM && x->progress + x->done > 0 && !socket_has_room(x, end))
			return STEP_END;
		if (!zc_inflight_enter(x->f)) {
			*end = ZC_XF_REVOKED;
			return STEP_END;
		}
		/* A pipe source (pos -1) has no offset: it is read from its head. */
		ssize_t got = prim(x->t, x->out, x->out_pos, x->in, x->pos < 0 ? NULL : &x->pos,
				   x->len - x->done, starts_write(x->progress + x->done));
		int e = errno;
		zc_sig_restartable = 0;
		zc_inflight_leave(x->f);
		enum step s = got > 0 ? after_bytes(x, got, end)
			      : got == 0 ? after_nothing(x, end) : after_error(x, e, end);
		if (s != STEP_AGAIN)
			return s;
	}
	return STEP_END;
}

ssize_t zc_transfer(int out, const struct zc_fdinfo *o, off_t *out_pos, int in,
		    const struct zc_fdinfo *i, off_t in_off, size_t len, size_t progress,
		    struct zc_inflight *f, enum zc_xfer_end *end)
{
	enum zc_transfer order[2];
	int n = primitives_for(o, out_pos, order);
	struct refused *r = refused_find(i, o);
	int saved = errno;
	for (int k = 0; k < n; k++) {
		if (r && (r->prims & (1u << order[k])))
			continue;
		struct xfer x = { .t = order[k], .out = out, .in = in, .o = o, .out_pos = out_pos,
				  .pos = in_off, .len = len, .progress = progress, .f = f,
				  .nonblock = -1 };
		enum step s = run(&x, end);
		if (s == STEP_FAILED) {
			int e = errno;
			errno = saved;
			return -e;
		}
		if (s == STEP_END) {
			errno = saved;
			return (ssize_t)x.done;
		}
		zc_log(2, "transfer: %s fd %d -> fd %d refused (errno %d); plain write",
		       zc_transfer_keys[x.t], in, out, errno);
		refused_add(i, o, x.t);
		r = refused_find(i, o);
	}
	errno = saved;
	*end = ZC_XF_REFUSED;
	return 0;
}

ssize_t zc_transfer_from_pipe(int out, const struct zc_fdinfo *o, int in, size_t len,
			      size_t progress, struct zc_inflight *f, enum zc_xfer_end *end)
{
	struct xfer x = { .t = ZC_T_SPLICE, .out = out, .in = in, .o = o, .pos = -1, .len = len,
			  .progress = progress, .f = f, .nonblock = -1 };
	int saved = errno;
	enum step s = run(&x, end);
	int e = errno;
	errno = saved;
	if (s == STEP_FAILED)
		return -e;
	if (s == STEP_REFUSED)
		*end = ZC_XF_REFUSED; /* nothing moved: the caller sends from the file */
	return (ssize_t)x.done;
}
