/*
 * stdio.c - fread/fwrite and fclose.
 *
 * glibc's FILE functions call the kernel through internal entry points that
 * no preload can see, so stdio data is not redirected: these wrappers pass
 * the call through and let observe mode (and the stats) see the stream, and
 * fclose tells the engine that the descriptor is gone.
 */
#include <errno.h>
#include <stdio.h>

#include "engine.h"
#include "guard.h"
#include "phantom.h"
#include "real.h"

/* glibc may define these as macros when optimising. */
#undef fread_unlocked
#undef fwrite_unlocked

#define ZC_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)

/* glibc reads and writes large stdio transfers (and every transfer of an
 * unbuffered stream) directly between the kernel and the caller's memory:
 * guarded pages there get their bytes first. */
static inline void guard_items(const void *buf, size_t size, size_t n)
{
	size_t bytes;
	if (__builtin_expect(zc_guard_live, 0))
		zc_guard_before_kernel(buf, __builtin_mul_overflow(size, n, &bytes) ? SIZE_MAX : bytes);
}

static int fd_of(FILE *fp)
{
	int saved = errno;
	int fd = fileno_unlocked(fp);
	errno = saved;
	return fd;
}

static size_t after_read(FILE *fp, void *buf, size_t size, size_t got)
{
	if (got && size && got * size >= zc_read_min)
		zc_engine_stdio_read(fd_of(fp), buf, got * size);
	return got;
}

static void before_write(FILE *fp, const void *buf, size_t size, size_t n)
{
	if (size && n && size * n >= zc_write_min && size * n / size == n)
		zc_engine_stdio_write(fd_of(fp), buf, size * n);
}

ZC_EXPORT size_t fread(void *buf, size_t size, size_t n, FILE *fp)
{
	guard_items(buf, size, n);
	size_t got = REAL(fread)(buf, size, n, fp);
	return likely(zc_read_min == (size_t)-1) ? got : after_read(fp, buf, size, got);
}

ZC_EXPORT size_t fread_unlocked(void *buf, size_t size, size_t n, FILE *fp)
{
	guard_items(buf, size, n);
	size_t got = REAL(fread_unlocked)(buf, size, n, fp);
	return likely(zc_read_min == (size_t)-1) ? got : after_read(fp, buf, size, got);
}

ZC_EXPORT size_t __fread_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *fp)
{
	guard_items(buf, size, n);
	size_t got = REAL(__fread_chk)(buf, buflen, size, n, fp);
	return likely(zc_read_min == (size_t)-1) ? got : after_read(fp, buf, size, got);
}

ZC_EXPORT size_t __fread_unlocked_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *fp)
{
	guard_items(buf, size, n);
	size_t got = REAL(__fread_unlocked_chk)(buf, buflen, size, n, fp);
	return likely(zc_read_min == (size_t)-1) ? got : after_read(fp, buf, size, got);
}

/* Data written through a FILE reaches its file by glibc's internal write,
 * at this call or at a later flush: if phantoms stand for that file, they
 * get their bytes first (all of the file: the FILE's offset is not ours to
 * know). */
static void file_changing(FILE *fp)
{
	if (__builtin_expect(zc_phantom_live, 0) && fp)
		zc_engine_file_changing(fd_of(fp), 0, 0);
}

ZC_EXPORT size_t fwrite(const void *buf, size_t size, size_t n, FILE *fp)
{
	file_changing(fp);
	if (!likely(zc_write_min == (size_t)-1))
		before_write(fp, buf, size, n);
	guard_items(buf, size, n);
	return REAL(fwrite)(buf, size, n, fp);
}

ZC_EXPORT size_t fwrite_unlocked(const void *buf, size_t size, size_t n, FILE *fp)
{
	file_changing(fp);
	if (!likely(zc_write_min == (size_t)-1))
		before_write(fp, buf, size, n);
	guard_items(buf, size, n);
	return REAL(fwrite_unlocked)(buf, size, n, fp);
}

ZC_EXPORT int fflush(FILE *fp)
{
	if (__builtin_expect(zc_phantom_live, 0) && !fp)
		zc_engine_all_files_changing(); /* every stream: we cannot list them */
	file_changing(fp);
	return REAL(fflush)(fp);
}

/* Repositioning a stream writes out what it holds for the file first. */
ZC_EXPORT int fseek(FILE *fp, long off, int whence)
{
	file_changing(fp);
	return REAL(fseek)(fp, off, whence);
}

ZC_EXPORT int fseeko(FILE *fp, off_t off, int whence)
{
	file_changing(fp);
	return REAL(fseeko)(fp, off, whence);
}

ZC_EXPORT int fseeko64(FILE *fp, off_t off, int whence)
{
	file_changing(fp);
	return REAL(fseeko64)(fp, off, whence);
}

ZC_EXPORT void rewind(FILE *fp)
{
	file_changing(fp);
	REAL(rewind)(fp);
}

ZC_EXPORT int fsetpos(FILE *fp, const fpos_t *pos)
{
	file_changing(fp);
	return REAL(fsetpos)(fp, pos);
}

ZC_EXPORT int fsetpos64(FILE *fp, const fpos64_t *pos)
{
	file_changing(fp);
	return REAL(fsetpos64)(fp, pos);
}

ZC_EXPORT int fclose(FILE *fp)
{
	file_changing(fp);
	int fd = zc_ready && fp ? fd_of(fp) : -1;
	int r = REAL(fclose)(fp);
	if (fd >= 0)
		zc_engine_fd_closed(fd);
	return r;
}
