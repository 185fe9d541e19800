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
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "engine.h"
#include "fdinfo.h"
#include "fileabi.h"
#include "phantom.h"
#include "policy.h"
#include "real.h"
#include "stdio_path.h"

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

size_t zc_stdio_fwrite(const char *s, size_t total, FILE *fp)
{
	/* Write mode, the put area where glibc's last write left it (so that
	 * writing without glibc leaves it as glibc's write would), no read
	 * position to restore first (new_do_write would lseek), the offset not
	 * cached (glibc asks the kernel), byte oriented. */
	int lbf = (fp->_flags & ZC_IO_LINE_BUF) != 0;
	if (!zc_file_plain(fp) || fp->_mode != -1 || (fp->_flags & ZC_IO_NO_WRITES) ||
	    fp->_offset != ZC_IO_POS_BAD || !(fp->_flags & ZC_IO_CURRENTLY_PUTTING) ||
	    fp->_IO_write_base != fp->_IO_buf_base || fp->_IO_read_base != fp->_IO_buf_base ||
	    fp->_IO_read_ptr != fp->_IO_read_end || fp->_IO_read_end != fp->_IO_write_base ||
	    fp->_IO_write_ptr < fp->_IO_write_base || fp->_IO_write_ptr > fp->_IO_buf_end ||
	    fp->_IO_write_end != (lbf || (fp->_flags & ZC_IO_UNBUFFERED) ? fp->_IO_buf_base
									 : fp->_IO_buf_end))
		return ZC_STDIO_PLAIN; /* a buffer that glibc's own write would also reset */
	size_t block = (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
	size_t room = lbf ? (size_t)(fp->_IO_buf_end - fp->_IO_write_ptr)
		      : fp->_IO_write_end > fp->_IO_write_ptr
			      ? (size_t)(fp->_IO_write_end - fp->_IO_write_ptr) : 0;
	if (room >= total)
		return ZC_STDIO_PLAIN; /* all of it fits: glibc only copies */
	size_t to_do = total - room;
	size_t direct = to_do - (block >= 128 ? to_do % block : 0);
	size_t pending = (size_t)(fp->_IO_write_ptr - fp->_IO_write_base);
	if (direct < zc_page || (lbf && pending && memchr(s, '\n', room)))
		return ZC_STDIO_PLAIN;
	int fd = fp->_fileno;

	/* The start that fills the buffer: with bytes pending, glibc's copy
	 * and flush (one write of both).  With none, that flush is one write of
	 * exactly these bytes, made from the caller's memory instead, which
	 * leaves the stream as the flush would (empty, _offset unknown):
	 *  - to a file, together with the blocks in one call: two writes in a
	 *    row to a file are one to anyone else (the same bytes at the same
	 *    offsets; a full disk or a size limit cuts them at the same byte),
	 *    and the engine then sees one write of the stream's bytes;
	 *  - to a pipe, when the kernel keeps it whole (PIPE_BUF), by write(2)
	 *    itself, as the engine would, without pairing it with the read;
	 *  - elsewhere by the engine, as its own call. */
	size_t done = 0, end = room + direct;
	struct zc_fdinfo fi;
	int saved = errno;
	enum zc_kind kind = zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) == 0 ? fi.kind : ZC_K_UNKNOWN;
	errno = saved;
	size_t first = room;
	if (pending) {
		if (room && REAL(fwrite_unlocked)(s, 1, room, fp) != room)
			return 0; /* cannot happen: a copy into the buffer */
		if (fflush_unlocked(fp) != 0)
			return room; /* glibc's overflow failed: indicator and errno set */
		zc_engine_stdio_buffered(room);
		done = room;
	} else if ((kind == ZC_K_FILE || kind == ZC_K_BLOCK) && !(fi.flags & ZC_FL_APPEND)) {
		first = end; /* (each O_APPEND write is a unit of its own) */
	} else if (kind == ZC_K_PIPE && room <= PIPE_BUF) {
		while (done < room) {
			ssize_t w = zc_engine_stdio_plain_write(fd, s + done, room - done);
			if (w < 0)
				goto failed;
			done += (size_t)w;
		}
		zc_engine_stdio_buffered(room);
	}
	/* Bytes of the start that glibc copied, or write(2) read, from the
	 * file's pages mapped others with them (a large folio, fault-around):
	 * which clean pages are mapped says nothing about the program then.
	 * Pages it wrote still count. */
	zc_stdio_touch_floor = done ? UINTPTR_MAX : 0;
	while (done < end) {
		/* The writes, each repeated after short counts until an error, as
		 * _IO_new_file_write does. */
		size_t upto = done < first ? first : end;
		ssize_t w = zc_engine_write(fd, s + done, upto - done, NULL, ZC_W_WRITE, 0);
		if (w < 0)
			goto failed;
		done += (size_t)w;
	}
	zc_stdio_touch_floor = 0;
	size_t tail = to_do - direct;
	size_t kept = tail ? keep_tail(s + end, tail, fp, lbf) : 0;
	zc_engine_stdio_buffered(kept);
	return end + kept;

failed:
	/* The error indicator, and the count so far (glibc counts a start
	 * that went to its buffer as taken). */
	zc_stdio_touch_floor = 0;
	fp->_flags |= ZC_IO_ERR_SEEN;
	return done < room ? room : done;
}
