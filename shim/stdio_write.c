/*
 * stdio_write.c - fwrite of phantom bytes.
 *
 * glibc's fwrite (_IO_new_file_xsputn) on a file stream in write mode first
 * fills the room left in its buffer with the start of the data, writes the
 * buffer out (one write(2) of what it held plus that start), then writes a
 * whole number of buffer blocks straight from the caller's memory
 * (new_do_write: write(2) again after short counts, until an error), and
 * keeps the remainder in its buffer.  zcopy makes that direct write through
 * the engine (zc_engine_write: clean phantom pages by kernel transfer, with
 * write(2)'s counts, errno and signals), and glibc does the rest:
 *
 *   1. fwrite_unlocked of exactly the room in the buffer: a copy;
 *   2. fflush_unlocked: the same write(2) glibc's overflow makes (it also
 *      forgets the cached offset, which was not known anyway);
 *   3. the direct write, of the size glibc would have chosen, repeated
 *      after short counts as glibc does; on an error the stream's error
 *      indicator is set as glibc sets it;
 *   4. fwrite_unlocked of the remainder, which fits in the emptied buffer;
 *      on a line-buffered stream one call per line, so that each newline
 *      flushes as glibc's character-by-character path would.
 *
 * With nothing pending, step 1 and 2 are one write(2) of the start from the
 * caller's memory, through the engine as well.  Only streams in write mode
 * whose buffer is not shared with a read position and whose cached offset
 * is unknown (as it stays for a stream that is only written) take this
 * path; a
 * line-buffered stream with bytes pending only when the start that fills
 * its buffer holds no newline (copying it through fwrite_unlocked would
 * flush at that newline, glibc's own fwrite does not).
 *
 * The start.  With nothing pending, glibc's buffer holds the start while
 * its write of it is under way, and that write resets the buffer when it
 * ends, whether it wrote or failed.  A signal handler that jumps out of
 * that write (siglongjmp), or a cancel that acts in it, leaves the start in
 * the buffer, and the stream writes it at its next flush or at exit.  So
 * while the start's write runs, it is noted for its thread (struct hold);
 * the engine sets zc_write_start_gone once all of its bytes went
 * (transfer.h); a jump out of the fwrite (jump.c, zc_stdio_start_jumped)
 * or a cancel in it (start_cancelled) before then puts the start into the
 * buffer as glibc's copy had, from the caller's memory as it is then (a
 * handler's fwrite while the program's waits links its own hold on top,
 * and one jump may leave several).  In
 * the few instructions between a call's return and the count of its bytes,
 * a jump takes the start as not gone (glibc has the same window between
 * its write's return and its reset).
 *
 * A fork that another thread makes meanwhile copies glibc's buffer with the
 * start in it, and the child writes it at its next flush or at exit.  So
 * every start under way is also in a table of the process's (starts[]),
 * and a child puts the starts of the threads it did not keep into their
 * streams' buffers (zc_stdio_fork_child).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "engine.h"
#include "fdinfo.h"
#include "fileabi.h"
#include "phantom.h"
#include "policy.h"
#include "real.h"
#include "redirect.h"
#include "stdio_path.h"
#include "transfer.h"

/* The remainder into the emptied buffer: one call per line on a
 * line-buffered stream.  Returns the bytes glibc took. */
static size_t keep_tail(const char *t, size_t n, FILE *fp, int lbf)
{
	size_t done = 0;
	while (done < n) {
		size_t seg = n - done;
		const char *nl = lbf ? memchr(t + done, '\n', seg) : NULL;
		if (nl)
			seg = (size_t)(nl - (t + done)) + 1;
		size_t w = REAL(fwrite_unlocked)(t + done, 1, seg, fp);
		done += w;
		if (w < seg)
			break;
	}
	return done;
}

/* Write mode, the put area where glibc's last write left it (so that
 * writing without glibc leaves it as glibc's write would), no read position
 * to restore first (new_do_write would lseek), the offset not cached (glibc
 * asks the kernel), byte oriented.  Other streams hold a buffer that
 * glibc's own write would also reset. */
static int takes_part(const FILE *fp, int lbf)
{
	if (!zc_file_plain(fp) || fp->_mode != -1 || (fp->_flags & ZC_IO_NO_WRITES) ||
	    fp->_offset != ZC_IO_POS_BAD || !(fp->_flags & ZC_IO_CURRENTLY_PUTTING))
		return 0;
	if (fp->_IO_write_base != fp->_IO_buf_base || fp->_IO_read_base != fp->_IO_buf_base ||
	    fp->_IO_read_ptr != fp->_IO_read_end || fp->_IO_read_end != fp->_IO_write_base)
		return 0;
	if (fp->_IO_write_ptr < fp->_IO_write_base || fp->_IO_write_ptr > fp->_IO_buf_end)
		return 0;
	int unbuffered = lbf || (fp->_flags & ZC_IO_UNBUFFERED);
	return fp->_IO_write_end == (unbuffered ? fp->_IO_buf_base : fp->_IO_buf_end);
}

/* The room left in the stream's buffer: what glibc copies before it writes. */
static size_t buffer_room(const FILE *fp, int lbf)
{
	if (lbf)
		return (size_t)(fp->_IO_buf_end - fp->_IO_write_ptr);
	return fp->_IO_write_end > fp->_IO_write_ptr ? (size_t)(fp->_IO_write_end - fp->_IO_write_ptr)
						     : 0;
}

/* An fwrite under way, with the start whose write it is making (len 0:
 * none); it lives in zc_stdio_fwrite's frame.  A signal handler's fwrite
 * while this thread's own is under way links on top of it, so a jump out
 * of both, or a cancel, finds every start it leaves. */
struct hold {
	FILE *fp;
	const char *s;
	size_t len;
	int fd;
	struct hold *outer;
	int outer_gone; /* the outer hold's zc_write_start_gone */
	pthread_t owner;
	const int *gone;  /* the owner's zc_write_start_gone */
	int slot;         /* in starts[], or -1 */
};
static __thread struct hold *held __attribute__((tls_model("initial-exec")));

/* The starts under way, of every thread (see "A fork" at the top).  A
 * start that finds the table full is not entered: a fork meanwhile leaves
 * it out of the child's buffer. */
#define STARTS 64
static struct hold *starts[STARTS];

static void start_enter(struct hold *h)
{
	h->slot = -1;
	for (int i = 0; i < STARTS; i++) {
		struct hold *none = NULL;
		if (__atomic_compare_exchange_n(&starts[i], &none, h, 0, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED)) {
			h->slot = i;
			return;
		}
	}
}

static void start_leave(struct hold *h)
{
	if (h->slot >= 0)
		__atomic_store_n(&starts[h->slot], NULL, __ATOMIC_RELEASE);
	h->slot = -1;
}

/* The write of h's start ended without returning: the stream keeps the
 * start, unless all of it went (gone) or the stream is no longer as the
 * fwrite left it (a handler closed or wrote to it meanwhile). */
static void keep_start(const struct hold *h, int gone)
{
	FILE *fp = h->fp;
	if (gone || !h->len || !fp->_IO_buf_base || fp->_fileno != h->fd ||
	    fp->_IO_write_ptr != fp->_IO_write_base || fp->_IO_write_base != fp->_IO_buf_base ||
	    h->len > (size_t)(fp->_IO_buf_end - fp->_IO_write_ptr))
		return;
	zc_engine_stdio_copy_out(h->s, h->len); /* guarded pages get their bytes */
	memcpy(fp->_IO_write_ptr, h->s, h->len);
	fp->_IO_write_ptr += h->len;
}

void zc_stdio_fork_child(void)
{
	pthread_t self = pthread_self();
	for (int i = 0; i < STARTS; i++) {
		struct hold *h = __atomic_load_n(&starts[i], __ATOMIC_ACQUIRE);
		if (!h || pthread_equal(h->owner, self))
			continue; /* (this thread's fwrite goes on in the child) */
		starts[i] = NULL;
		keep_start(h, *h->gone);
	}
}

void zc_stdio_start_jumped(uintptr_t target_sp)
{
	struct hold *h = held;
	int gone = zc_write_start_gone;
	if (!h || target_sp <= (uintptr_t)h)
		return;
	while (h && target_sp > (uintptr_t)h) {
		start_leave(h);
		keep_start(h, gone);
		gone = h->outer_gone;
		h = h->outer;
	}
	held = h;
	zc_write_start_gone = gone;
}

/* Cancellation unwinds the holds innermost first, each in its region. */
static void start_cancelled(void *arg)
{
	struct hold *h = arg;
	if (held != h)
		return; /* (a jump already took it off) */
	start_leave(h);
	keep_start(h, zc_write_start_gone);
	held = h->outer;
	zc_write_start_gone = h->outer_gone;
}

/* One fwrite as glibc would make it: the start s[0, room) that fills the
 * buffer, the direct part up to end, the tail the buffer keeps. */
struct fw {
	const char *s;
	FILE *fp;
	int fd;
	size_t room;  /* the start */
	size_t end;   /* the start and the direct blocks */
	size_t first; /* where the first write of the direct loop ends */
	size_t unit;  /* the start, written as a write of its own inside the
		       * first engine write (zc_engine_write_two), or 0 */
	size_t done;  /* bytes written so far */
};

/*
 * The start that fills the buffer: with bytes pending, glibc's copy and
 * flush (one write of both).  With none, that flush is one write of exactly
 * these bytes, made from the caller's memory instead, which leaves the
 * stream as the flush would (empty, _offset unknown):
 *  - to a file, together with the blocks in one call: two writes in a row
 *    to a file are one to anyone else (the same bytes at the same offsets;
 *    a full disk or a size limit cuts them at the same byte), and the
 *    engine then sees one write of the stream's bytes;
 *  - to a pipe, when the start is one whole page of the caller's memory
 *    (glibc's default buffer: the pipe's 4 KiB block), together with the
 *    blocks as one engine write of two (zc_engine_write_two): the page is
 *    a write of its own, whole (one pipe buffer of a transfer, or a plain
 *    write of exactly it), all of it or an error before any of it, and
 *    the blocks are the next write, whose first call waits as glibc's
 *    would (a signal there ends the fwrite with EINTR, or restarts it);
 *    one splice moves both when the pipe has room, and its reader is
 *    woken once per fwrite instead of twice;
 *  - to a pipe otherwise, when the kernel keeps it whole (PIPE_BUF), by
 *    write(2) itself, as the engine would, without pairing it with the
 *    read;
 *  - elsewhere by the engine, as its own call (the direct loop's first).
 * Returns 0, or -1 when fwrite must return at once with f->done; -2 for a
 * failed write (the error indicator is set by the caller).
 */
static int write_start(struct fw *f, size_t pending)
{
	if (pending) {
		/* glibc's own write: phantoms of its file get their bytes first. */
		zc_engine_file_changing(f->fd, 0, 0);
		zc_engine_stdio_copy_out(f->s, f->room);
		if (f->room && REAL(fwrite_unlocked)(f->s, 1, f->room, f->fp) != f->room) {
			f->done = 0; /* cannot happen: a copy into the buffer */
			return -1;
		}
		if (fflush_unlocked(f->fp) != 0) {
			f->done = f->room; /* glibc's overflow failed: indicator and errno set */
			return -1;
		}
		zc_engine_stdio_buffered(f->room);
		f->done = f->room;
		return 0;
	}
	struct zc_fdinfo fi;
	int saved = errno;
	enum zc_kind kind = zc_fd_get(f->fd, &fi, ZC_FD_CACHED, NULL) == 0 ? fi.kind : ZC_K_UNKNOWN;
	errno = saved;
	int one_page = f->room == zc_page && ((uintptr_t)f->s & (zc_page - 1)) == 0;
	if ((kind == ZC_K_FILE || kind == ZC_K_BLOCK) && !(fi.flags & ZC_FL_APPEND)) {
		f->first = f->end; /* (each O_APPEND write is a unit of its own) */
	} else if (kind == ZC_K_PIPE && one_page && zc_page <= PIPE_BUF) {
		f->first = f->end;
		f->unit = f->room;
	} else if (kind == ZC_K_PIPE && f->room <= PIPE_BUF) {
		while (f->done < f->room) {
			ssize_t w = zc_engine_stdio_plain_write(f->fd, f->s + f->done,
								f->room - f->done);
			if (w < 0)
				return -2;
			f->done += (size_t)w;
		}
		zc_write_start_gone = 1;
		zc_engine_stdio_buffered(f->room);
	}
	return 0;
}

/* The writes through the engine, each repeated after short counts until an
 * error, as _IO_new_file_write does.  Returns 0, or -2 for a failed write. */
static int write_direct(struct fw *f)
{
	/* Bytes of the start that glibc copied, or write(2) read, from the
	 * file's pages mapped others with them (a large folio, fault-around):
	 * which clean pages are mapped says nothing about the program then.
	 * Pages it wrote still count. */
	zc_stdio_touch_floor = f->done ? UINTPTR_MAX : 0;
	while (f->done < f->end) {
		size_t upto = f->done < f->first ? f->first : f->end;
		int err2 = 0;
		size_t start = held && held->len && held->fp == f->fp && f->done == 0 ? f->room : 0;
		ssize_t w = f->done < f->unit || start
				    ? zc_engine_write_two(f->fd, f->s + f->done, upto - f->done,
							  f->done < f->unit ? f->unit - f->done : 0,
							  start, &err2)
				    : zc_engine_write(f->fd, f->s + f->done, upto - f->done, NULL,
						      ZC_W_WRITE, 0);
		if (w >= 0 && f->done + (size_t)w >= f->room)
			zc_write_start_gone = 1; /* the buffer is glibc's, emptied */
		if (w >= 0)
			f->done += (size_t)w;
		if (w < 0 || err2) {
			/* The write failed; or the start went and the blocks'
			 * write failed before its first byte. */
			if (err2)
				errno = err2;
			zc_stdio_touch_floor = 0;
			return -2;
		}
	}
	zc_stdio_touch_floor = 0;
	return 0;
}

size_t zc_stdio_fwrite(const char *s, size_t total, FILE *fp)
{
	int lbf = (fp->_flags & ZC_IO_LINE_BUF) != 0;
	if (!takes_part(fp, lbf))
		return ZC_STDIO_PLAIN;
	size_t block = (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
	size_t room = buffer_room(fp, lbf);
	if (room >= total)
		return ZC_STDIO_PLAIN; /* all of it fits: glibc only copies */
	size_t to_do = total - room;
	size_t direct = to_do - (block >= 128 ? to_do % block : 0);
	size_t pending = (size_t)(fp->_IO_write_ptr - fp->_IO_write_base);
	if (direct < zc_page || (lbf && pending && memchr(s, '\n', room)))
		return ZC_STDIO_PLAIN;

	struct fw f = { .s = s, .fp = fp, .fd = fp->_fileno, .room = room, .end = room + direct,
			.first = room, .unit = 0, .done = 0 };
	struct hold h = { fp, s, pending ? 0 : room, f.fd, held, zc_write_start_gone,
			  pthread_self(), &zc_write_start_gone, -1 };
	int r;
	if (h.len)
		start_enter(&h);
	held = &h;
	zc_write_start_gone = 0;
	zc_cleanup_push(start_cancelled, &h);
	r = write_start(&f, pending);
	if (r == 0)
		r = write_direct(&f);
	zc_cleanup_pop(0);
	start_leave(&h);
	held = h.outer; /* this start's write returned: glibc's reset */
	zc_write_start_gone = h.outer_gone;
	if (r == -1)
		return f.done;
	if (r < 0) {
		/* The error indicator, and the count so far (glibc counts a start
		 * that went to its buffer as taken). */
		fp->_flags |= ZC_IO_ERR_SEEN;
		return f.done < room ? room : f.done;
	}
	size_t tail = to_do - direct;
	if (tail && lbf && memchr(s + f.end, '\n', tail))
		zc_engine_file_changing(f.fd, 0, 0); /* glibc writes each line */
	zc_engine_stdio_copy_out(s + f.end, tail);
	size_t kept = tail ? keep_tail(s + f.end, tail, fp, lbf) : 0;
	zc_engine_stdio_buffered(kept);
	return f.end + kept;
}
