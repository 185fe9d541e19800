/*
 * transfer.c - copy_file_range / sendfile / splice with write(2) semantics.
 *
 * Invariants: the source's file offset is never used or moved (explicit
 * offsets only); a transfer that moved some bytes and then failed reports the
 * bytes moved, as a short write does, and makes no further call; EPIPE/SIGPIPE,
 * EAGAIN, EINTR and ENOSPC of a first call come from the kernel primitive
 * itself, which raises them exactly as write does for the same destination.
 * Pipes are spliced without waiting (SPLICE_F_NONBLOCK) and waited for in
 * poll(2): a signal handler interrupts poll whatever its SA_RESTART, which is
 * when the plain write, having written some bytes, would return.
 */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inflight.h"

#include "log.h"
#include "real.h"
#include "stats.h"

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

/* One call of primitive t; returns what the syscall returned.  Pipes are
 * always written without waiting (the caller waits in poll, see below). */
static ssize_t prim(enum zc_transfer t, int out, off_t *out_pos, int in, off_t *in_off, size_t len)
{
	switch (t) {
	case ZC_T_COPY_FILE_RANGE:
		return REAL(copy_file_range)(in, in_off, out, out_pos, len, 0);
	case ZC_T_SPLICE:
		return REAL(splice)(in, in_off, out, NULL, len, SPLICE_F_NONBLOCK);
	case ZC_T_SENDFILE:
	default:
		return REAL(sendfile)(out, in, in_off, len);
	}
}

int zc_at_size_limit(int out, const struct zc_fdinfo *o, const off_t *out_pos)
{
	if (o->kind != ZC_K_FILE && o->kind != ZC_K_BLOCK)
		return 0;
	int saved = errno;
	struct rlimit rl;
	int at = 0;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		off_t pos = out_pos ? *out_pos : REAL(lseek)(out, 0, SEEK_CUR);
		at = pos >= 0 && (uint64_t)pos >= (uint64_t)rl.rlim_cur;
	}
	errno = saved;
	return at;
}

int zc_wait_writable(int out, int ms)
{
	int saved = errno;
	struct pollfd p = { .fd = out, .events = POLLOUT };
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
	int ended = fstat(in, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= in_off;
	errno = saved;
	return ended;
}

ssize_t zc_transfer(int out, const struct zc_fdinfo *o, off_t *out_pos, int in,
		    const struct zc_fdinfo *i, off_t in_off, size_t len, size_t progress,
		    struct zc_inflight *f, enum zc_xfer_end *end)
{
	enum zc_transfer order[2];
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
	struct refused *r = refused_find(i, o);
	int saved = errno;
	for (int k = 0; k < n; k++) {
		enum zc_transfer t = order[k];
		if (r && (r->prims & (1u << t)))
			continue;
		size_t done = 0;
		off_t pos = in_off;
		*end = ZC_XF_DONE;
		while (done < len) {
			if (progress + done > 0 && zc_at_size_limit(out, o, out_pos)) {
				*end = ZC_XF_SHORT; /* the plain write stops at the limit */
				break;
			}
			if (!zc_inflight_enter(f)) {
				*end = ZC_XF_REVOKED;
				break;
			}
			ssize_t got = prim(t, out, out_pos, in, &pos, len - done);
			int e = errno;
			zc_inflight_leave(f);
			if (got > 0) {
				ZC_ADD(transfers[t], 1);
				done += (size_t)got;
				if (done == len)
					break;
				if (t == ZC_T_SPLICE || o->kind == ZC_K_FILE || o->kind == ZC_K_BLOCK)
					continue; /* a pipe's room, a file system's chunk */
				/* Sockets and devices return short only for what cuts a
				 * plain write short too, or a source that ended. */
				*end = source_ended(in, pos) ? ZC_XF_EOF : ZC_XF_SHORT;
				break;
			}
			if (got == 0) {
				struct stat st;
				if (done == 0 && t == ZC_T_COPY_FILE_RANGE &&
				    (fstat(in, &st) < 0 || pos < st.st_size)) {
					/* Some file systems answer 0 for "not here"; past
					 * the end of the file it means the file shrank. */
					errno = EINVAL;
					goto refused;
				}
				*end = ZC_XF_EOF;
				break;
			}
			if (e == EAGAIN && t == ZC_T_SPLICE && !zc_fd_nonblocking(out)) {
				/* A full blocking pipe: the plain write would wait.
				 * (Whether it blocks is asked now: O_NONBLOCK can change
				 * through another fd, by ioctl or in another process.) */
				if (progress + done == 0) {
					*end = ZC_XF_FULL;
					break;
				}
				if (zc_wait_writable(out, -1) <= 0) {
					*end = ZC_XF_SHORT;
					break;
				}
				continue;
			}
			if (e == EINTR && progress + done > 0) {
				*end = ZC_XF_SHORT;
				break;
			}
			if (done > 0 || progress > 0) {
				/* Like a short write: the error is seen on the next call. */
				if (done == 0 && is_refusal(e)) {
					errno = e;
					goto refused;
				}
				*end = ZC_XF_SHORT;
				break;
			}
			if (is_refusal(e)) {
				errno = e;
				goto refused;
			}
			errno = saved;
			return -e;
		}
		errno = saved;
		return (ssize_t)done;
	refused:
		zc_log(2, "transfer: %s fd %d -> fd %d refused (errno %d); plain write",
		       zc_transfer_keys[t], in, out, errno);
		refused_add(i, o, t);
		r = refused_find(i, o);
	}
	errno = saved;
	*end = ZC_XF_REFUSED;
	return 0;
}
