/*
 * stdio_read.c - fread whose direct read is deferred.
 *
 * glibc's fread (_IO_file_xsgetn) on a file stream first hands out the bytes
 * its buffer holds; when the rest is at least one buffer long, it empties
 * the get area and reads a whole number of buffer blocks straight into the
 * caller's memory with read(2) at the descriptor's offset, and only the
 * remainder goes through its buffer.  That direct read is the one a
 * read()/write() copier makes, so zcopy makes most of it through the engine
 * (zc_engine_read, which may defer it as phantom pages), and glibc does all
 * the rest:
 *
 *   1. fread_unlocked of exactly the buffered bytes: a copy, no system call;
 *   2. the direct read, but its last block: the kernel offset moves on as
 *      glibc's read would move it;
 *   3. fread_unlocked of what is left: glibc's own direct read of that last
 *      block (which empties the get area as glibc leaves it), then the
 *      remainder through its buffer, the end of file (EOF indicator) or an
 *      error (error indicator), exactly as after its own read.
 *
 * A stream whose buffer is already as glibc's direct read leaves it (get
 * and put areas empty at the buffer's start: so it stays after every
 * fread of whole blocks, the loop of a copier) needs no such last block:
 * glibc's setg/setp before its read would change nothing, so the engine
 * makes all of the direct read, and fread_unlocked of what is left then
 * continues glibc's loop from the state its own read would have left.
 * That saves the block's copy and a read(2) per call, and the write of the
 * chunk then carries no page of ordinary memory at its end (a poll and a
 * write(2) more for a pipe, a plain write for a file).
 *
 * Only streams whose cached file offset (_offset) is unknown take this path:
 * glibc then asks the kernel whenever it needs the position, so reading
 * behind its back leaves nothing stale.  A fresh stream keeps it unknown
 * while it only reads; an fseek makes it known, and that stream's freads
 * stay glibc's (until fflush forgets the offset again).  Where the stream
 * is not yet as the direct read leaves it, the last block costs one block's
 * copy: the price of leaving the stream exactly as glibc would.
 */
#include <errno.h>

#include "engine.h"
#include "fdinfo.h"
#include "fileabi.h"
#include "phantom.h"
#include "real.h"
#include "stdio_path.h"

/* The get and put areas empty at the start of the buffer: what
 * _IO_file_xsgetn sets (_IO_setg, _IO_setp) right before its direct read,
 * and what that read leaves. */
static int as_direct_read_leaves(const FILE *fp)
{
	char *b = fp->_IO_buf_base;
	return fp->_IO_read_base == b && fp->_IO_read_ptr == b && fp->_IO_read_end == b &&
	       fp->_IO_write_base == b && fp->_IO_write_ptr == b && fp->_IO_write_end == b;
}

size_t zc_stdio_fread(char *buf, size_t total, FILE *fp)
{
	if (!zc_file_plain(fp) || (fp->_flags & (ZC_IO_NO_READS | ZC_IO_CURRENTLY_PUTTING)) ||
	    fp->_offset != ZC_IO_POS_BAD || fp->_IO_write_ptr != fp->_IO_write_base ||
	    feof_unlocked(fp) || fp->_IO_read_ptr > fp->_IO_read_end)
		return ZC_STDIO_PLAIN; /* the sticky EOF and mode switches stay glibc's */
	size_t avail = (size_t)(fp->_IO_read_end - fp->_IO_read_ptr);
	size_t block = (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
	if (avail >= total || total - avail < block)
		return ZC_STDIO_PLAIN; /* glibc copies from its buffer: nothing direct */
	size_t want = total - avail;
	size_t count = block >= 128 ? want - want % block : want;
	/* The engine's part: all of the direct read when glibc's would leave
	 * the stream as it is; else all but its last block, which glibc reads
	 * to leave it so. */
	size_t engine = count < block ? 0 : avail == 0 && as_direct_read_leaves(fp) ? count
											: count - block;
	if (engine < zc_page || total < zc_min_chunk)
		return ZC_STDIO_PLAIN;
	/* Only files can be deferred; a pipe or socket read stays glibc's one
	 * call (a receive timeout, say, must expire once). */
	int fd = fp->_fileno;
	struct zc_fdinfo fi;
	int saved = errno;
	int file = zc_fd_get(fd, &fi, ZC_FD_CACHED, NULL) == 0 && zc_fd_is_source(&fi);
	errno = saved;
	if (!file)
		return ZC_STDIO_PLAIN;

	size_t got = 0;
	if (avail) {
		zc_engine_stdio_plain_read(buf, avail); /* glibc's copy: guarded pages get their bytes */
		got = REAL(fread_unlocked)(buf, 1, avail, fp);
		if (got != avail)
			return got; /* cannot happen: a copy from the buffer */
	}
	zc_stdio_read_rest = total - engine;
	ssize_t r = zc_engine_read(fd, buf + avail, engine, NULL);
	zc_stdio_read_rest = 0;
	if (r > 0)
		got += (size_t)r;
	if (got == total)
		return got;
	/* r <= 0: glibc's own read, made next, meets the end or the error
	 * again and sets the indicator. */
	zc_engine_stdio_plain_read(buf + got, total - got);
	got += REAL(fread_unlocked)(buf + got, 1, total - got, fp);
	if (r > 0)
		zc_engine_stdio_read_more(fd, buf + avail, got - avail);
	return got;
}
