/*
 * stdio.c - fread/fwrite, fflush and fclose.
 *
 * glibc's FILE functions call the kernel through internal entry points that
 * no preload can see.  In mode on, an fread or fwrite large enough to carry
 * whole pages on a plain file stream is replayed with the stream locked
 * (stdio_read.c, stdio_write.c): glibc moves the bytes its buffer holds,
 * the engine makes the one direct system call glibc would have made on the
 * caller's buffer.  Observe mode replays them too (the engine's calls are
 * then plain ones), so that it counts what mode on would redirect.  Every
 * other call is glibc's own, seen by the detector
 * (so a copy loop can engage) and by the stats (reason "stdio"); fclose
 * tells the engine that the descriptor is gone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "fileabi.h"
#include "guard.h"
#include "phantom.h"
#include "pin.h"
#include "real.h"
#include "stats.h"
#include "stdio_path.h"
#include "wrap.h"

/* glibc may define these as macros when optimising. */
#undef fread_unlocked
#undef fwrite_unlocked

/* glibc reads and writes large stdio transfers (and every transfer of an
 * unbuffered stream) directly between the kernel and the caller's memory:
 * guarded pages there get their bytes first.  Into the buffer (fread) the
 * program is about to look at its bytes, and the stream backs off; out of
 * it (fwrite: glibc's copy into its buffer, or its write(2)) the bytes go
 * as they are, which says nothing of the program looking at them, as for
 * a plain write(2) of them (guard.h), and with the map strategy, whose
 * pages glibc reads without a fault, the stream stays engaged too. */
static inline void guard_items(const void *buf, size_t size, size_t n, int writing)
{
	size_t bytes;
	if (likely(!zc_guard_live))
		return;
	if (__builtin_mul_overflow(size, n, &bytes))
		bytes = SIZE_MAX; /* to the end of memory, as the kernel would find */
	if (!writing) {
		zc_guard_before_kernel(buf, bytes);
		return;
	}
	struct iovec v = { (void *)buf, bytes };
	zc_guard_before_write_iov(&v, 1);
}

static int fd_of(FILE *fp)
{
	int saved = errno;
	int fd = fileno_unlocked(fp);
	errno = saved;
	return fd;
}

/* glibc's own fread read got items: the detector hears of it. */
static size_t after_read(FILE *fp, void *buf, size_t size, size_t got)
{
	if (zc_reads_all_plain())
		return got;
	if (got && size && got * size >= zc_read_min)
		zc_engine_stdio_read(fd_of(fp), buf, got * size);
	return got;
}

/* glibc's own fwrite is about to write n items: the detector hears of it,
 * and guarded pages among them get their bytes. */
static void before_write(FILE *fp, const void *buf, size_t size, size_t n)
{
	if (!zc_writes_all_plain() && size && n && size * n >= zc_write_min && size * n / size == n)
		zc_engine_stdio_write(fd_of(fp), buf, size * n);
	guard_items(buf, size, n, 1);
}

/* May this fread take part?  Sets *total to its size in bytes. */
static int read_candidate(size_t size, size_t n, FILE *fp, size_t *total)
{
	return zc_mode != ZC_MODE_OFF && zc_fileabi_ok && !zc_inside && fp &&
	       !__builtin_mul_overflow(size, n, total) && *total >= zc_min_chunk;
}

/* An fwrite of phantom pages?  In observe mode every large fwrite is
 * replayed, so that the engine sees (and counts) the writes mode on would
 * make; nothing is redirected there. */
static int write_candidate(const void *buf, size_t size, size_t n, FILE *fp, size_t *total)
{
	if (unlikely(zc_mode == ZC_MODE_OBSERVE))
		return zc_fileabi_ok && !zc_inside && fp && !__builtin_mul_overflow(size, n, total) &&
		       *total >= zc_page;
	return zc_phantoms_exist() && zc_mode == ZC_MODE_ON && zc_fileabi_ok &&
	       !zc_inside && fp && !__builtin_mul_overflow(size, n, total) && *total >= zc_page &&
	       zc_engine_stdio_phantom(buf, *total);
}

/* fread's count of items from a count of bytes (glibc's rule). */
static size_t items(size_t got, size_t total, size_t size, size_t n)
{
	return got == total ? n : got / size;
}

/* An fread on a stream holding written bytes first writes them (glibc
 * flushes before it reads): phantoms of that file get their bytes first,
 * as for fflush. */
static void flush_before_read(FILE *fp)
{
	if (zc_phantoms_exist() && fp && fp->_IO_write_ptr > fp->_IO_write_base)
		zc_engine_file_changing(fd_of(fp), 0, 0);
}

static void unlock_file(void *fp)
{
	funlockfile(fp);
}

/* The replay runs with the stream locked, as glibc's own call would; a
 * cancelled read or write releases the lock as glibc's does.  One body for
 * both directions: an fread replay into rbuf, or (writing) an fwrite
 * replay from wbuf. */
static size_t replay_locked(FILE *fp, void *rbuf, const void *wbuf, size_t total, int writing)
{
	size_t r;
	flockfile(fp);
	zc_cleanup_push(unlock_file, fp);
	r = writing ? zc_stdio_fwrite(wbuf, total, fp) : zc_stdio_fread(rbuf, total, fp);
	zc_cleanup_pop(1);
	return r;
}

/* One body for fread, fread_unlocked and their _chk twins: the replay, if
 * the call takes part.  buflen is the _chk bound (SIZE_MAX for the others:
 * an overflow or a request beyond it is the real function's to report);
 * lock: take the stream's lock as fread does.  Returns 1 with *done set to
 * fread's result when the replay made the call; 0 when the wrapper's own
 * real function must. */
static int fread_replayed(void *buf, size_t buflen, size_t size, size_t n, FILE *fp, int lock,
			  size_t *done)
{
	flush_before_read(fp);
	size_t total, r;
	if (!zc_reads_all_plain() && read_candidate(size, n, fp, &total) && total <= buflen) {
		/* The replay gives guarded pages their bytes where glibc copies
		 * or reads into them, and leaves the engine's part to the
		 * engine: a buffer still guarded from the chunk before stays
		 * so (the steady state of a copier into a pipe). */
		r = lock ? replay_locked(fp, buf, NULL, total, 0) : zc_stdio_fread(buf, total, fp);
		if (r != ZC_STDIO_PLAIN) {
			*done = items(r, total, size, n);
			return 1;
		}
	}
	guard_items(buf, size, n, 0); /* glibc's own fread, perhaps straight into buf */
	return 0;
}

ZC_EXPORT size_t fread(void *buf, size_t size, size_t n, FILE *fp)
{
	size_t done;
	if (fread_replayed(buf, SIZE_MAX, size, n, fp, 1, &done))
		return done;
	return after_read(fp, buf, size, REAL(fread)(buf, size, n, fp));
}

ZC_EXPORT size_t fread_unlocked(void *buf, size_t size, size_t n, FILE *fp)
{
	size_t done;
	if (fread_replayed(buf, SIZE_MAX, size, n, fp, 0, &done))
		return done;
	return after_read(fp, buf, size, REAL(fread_unlocked)(buf, size, n, fp));
}

ZC_EXPORT size_t __fread_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *fp)
{
	size_t done;
	if (fread_replayed(buf, buflen, size, n, fp, 1, &done))
		return done;
	return after_read(fp, buf, size, REAL(__fread_chk)(buf, buflen, size, n, fp));
}

ZC_EXPORT size_t __fread_unlocked_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *fp)
{
	size_t done;
	if (fread_replayed(buf, buflen, size, n, fp, 0, &done))
		return done;
	return after_read(fp, buf, size, REAL(__fread_unlocked_chk)(buf, buflen, size, n, fp));
}

/* Data written through a FILE reaches its file by glibc's internal write,
 * at this call or at a later flush: if phantoms stand for that file, they
 * get their bytes first (all of the file: the FILE's offset is not ours to
 * know). */
void zc_stdio_file_changing(FILE *fp)
{
	if (zc_phantoms_exist() && fp)
		zc_engine_file_changing(fd_of(fp), 0, 0);
}

/* One body for fwrite and fwrite_unlocked, each with its own real
 * function: the replay when the call takes part, else the detector hears
 * of the write and real makes it.  lock: take the stream's lock as fwrite
 * does.  The replay gives phantoms of the file their bytes itself, where
 * glibc writes (stdio_write.c): its own writes are the engine's, which do
 * that from the destination's pin without a system call, where
 * file_changing asks the kernel (fstat) at every fwrite. */
static size_t fwrite_common(const void *buf, size_t size, size_t n, FILE *fp, int lock,
			    size_t (*real)(const void *, size_t, size_t, FILE *))
{
	size_t total, r;
	if (write_candidate(buf, size, n, fp, &total)) {
		r = lock ? replay_locked(fp, NULL, buf, total, 1) : zc_stdio_fwrite(buf, total, fp);
		if (r != ZC_STDIO_PLAIN)
			return items(r, total, size, n);
	}
	zc_stdio_file_changing(fp);
	before_write(fp, buf, size, n);
	return real(buf, size, n, fp);
}

ZC_EXPORT size_t fwrite(const void *buf, size_t size, size_t n, FILE *fp)
{
	return fwrite_common(buf, size, n, fp, 1, REAL(fwrite));
}

ZC_EXPORT size_t fwrite_unlocked(const void *buf, size_t size, size_t n, FILE *fp)
{
	return fwrite_common(buf, size, n, fp, 0, REAL(fwrite_unlocked));
}

ZC_EXPORT int fflush(FILE *fp)
{
	if (zc_phantoms_exist() && !fp)
		zc_engine_all_files_changing(); /* every stream: we cannot list them */
	zc_stdio_file_changing(fp);
	return REAL(fflush)(fp);
}

/* Repositioning a stream writes out what it holds for the file first. */
ZC_EXPORT int fseek(FILE *fp, long off, int whence)
{
	zc_stdio_file_changing(fp);
	return REAL(fseek)(fp, off, whence);
}

ZC_EXPORT int fseeko(FILE *fp, off_t off, int whence)
{
	zc_stdio_file_changing(fp);
	return REAL(fseeko)(fp, off, whence);
}

ZC_EXPORT int fseeko64(FILE *fp, off_t off, int whence)
{
	zc_stdio_file_changing(fp);
	return REAL(fseeko64)(fp, off, whence);
}

ZC_EXPORT void rewind(FILE *fp)
{
	zc_stdio_file_changing(fp);
	REAL(rewind)(fp);
}

ZC_EXPORT int fsetpos(FILE *fp, const fpos_t *pos)
{
	zc_stdio_file_changing(fp);
	return REAL(fsetpos)(fp, pos);
}

ZC_EXPORT int fsetpos64(FILE *fp, const fpos64_t *pos)
{
	zc_stdio_file_changing(fp);
	return REAL(fsetpos64)(fp, pos);
}

ZC_EXPORT int fclose(FILE *fp)
{
	zc_stdio_file_changing(fp);
	int fd = zc_ready && fp ? fd_of(fp) : -1;
	if (fd == 2)
		zc_stats_stderr_closing();
	zc_pin_names_changing(); /* libc closes the descriptor inside */
	/* Pins of fd go first: fclose of a popen stream waits for the command,
	 * which waits for the end of its input, which a pin of the pipe's
	 * write end would hold off for ever. */
	if (fd >= 0)
		zc_engine_fd_closed(fd);
	int r = REAL(fclose)(fp);
	if (fd >= 0)
		zc_engine_fd_closed(fd);
	zc_pin_names_changed();
	return r;
}
