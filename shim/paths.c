/*
 * paths.c - calls that truncate a file by name: open/openat/creat with
 * O_TRUNC, truncate(), fopen/freopen with a "w" mode.
 *
 * They matter only while phantoms exist: if the file they truncate is one a
 * phantom stands for, the phantom must get its bytes before they are gone
 * (without zcopy the program's buffer already held them).  Otherwise each
 * wrapper is a compare and the real call; nothing here opens anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "phantom.h"
#include "pin.h"
#include "real.h"

#define ZC_EXPORT __attribute__((visibility("default")))
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The mode argument is there when the flags can create a file. */
#define HAS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

static inline void before_open(int dirfd, const char *path, int flags)
{
	if (unlikely(zc_phantom_live) && (flags & O_TRUNC) && path)
		zc_engine_path_changing(dirfd, path, 0);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return HAS_MODE(flags) ? (mode_t)va_arg(ap, unsigned) : 0;
}

ZC_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	before_open(AT_FDCWD, path, flags);
	return REAL(open)(path, flags, mode);
}

ZC_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	before_open(AT_FDCWD, path, flags);
	return REAL(open64)(path, flags, mode);
}

ZC_EXPORT int __open_2(const char *path, int flags)
{
	before_open(AT_FDCWD, path, flags);
	return REAL(__open_2)(path, flags);
}

ZC_EXPORT int __open64_2(const char *path, int flags)
{
	before_open(AT_FDCWD, path, flags);
	return REAL(__open64_2)(path, flags);
}

ZC_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	before_open(dirfd, path, flags);
	return REAL(openat)(dirfd, path, flags, mode);
}

ZC_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	before_open(dirfd, path, flags);
	return REAL(openat64)(dirfd, path, flags, mode);
}

ZC_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	before_open(dirfd, path, flags);
	return REAL(__openat_2)(dirfd, path, flags);
}

ZC_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	before_open(dirfd, path, flags);
	return REAL(__openat64_2)(dirfd, path, flags);
}

ZC_EXPORT int creat(const char *path, mode_t mode)
{
	before_open(AT_FDCWD, path, O_TRUNC);
	return REAL(creat)(path, mode);
}

ZC_EXPORT int creat64(const char *path, mode_t mode)
{
	before_open(AT_FDCWD, path, O_TRUNC);
	return REAL(creat64)(path, mode);
}

ZC_EXPORT int truncate(const char *path, off_t len)
{
	if (unlikely(zc_phantom_live))
		zc_engine_path_changing(AT_FDCWD, path, len);
	return REAL(truncate)(path, len);
}

ZC_EXPORT int truncate64(const char *path, off_t len)
{
	if (unlikely(zc_phantom_live))
		zc_engine_path_changing(AT_FDCWD, path, len);
	return REAL(truncate64)(path, len);
}

/* fopen's "w" and "w+" truncate; "a", "r" and "r+" do not. */
static inline int truncating(const char *mode)
{
	return mode && mode[0] == 'w';
}

ZC_EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (unlikely(zc_phantom_live) && truncating(mode) && path)
		zc_engine_path_changing(AT_FDCWD, path, 0);
	return REAL(fopen)(path, mode);
}

ZC_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	if (unlikely(zc_phantom_live) && truncating(mode) && path)
		zc_engine_path_changing(AT_FDCWD, path, 0);
	return REAL(fopen64)(path, mode);
}

static void before_freopen(const char *path, const char *mode, FILE *fp)
{
	if (!unlikely(zc_phantom_live) || !truncating(mode))
		return;
	if (path)
		zc_engine_path_changing(AT_FDCWD, path, 0);
	else if (fp)
		zc_engine_file_changing(fileno_unlocked(fp), 0, 0); /* the stream's own file */
}

/*
 * libc closes the stream's descriptor, or dup3s the new file onto its
 * number, inside freopen: a change of what the number names (pin.h).  Its
 * pins go before the call as for fclose (closing a popen stream waits for
 * the command) and after it (the number names the new file now), so zcopy
 * does not keep the old file open, a pipe's reader waiting for its end.
 * Not for fd 2: zc_engine_fd_closed(2) prints the ZCOPY_STATS=stderr
 * summary for a stderr that goes away, and this one lives on; its pins go
 * at their next use (kcmp).
 */
static FILE *reopen(FILE *(*real)(const char *, const char *, FILE *), const char *path,
		    const char *mode, FILE *fp)
{
	before_freopen(path, mode, fp);
	int fd = zc_ready && fp ? fileno_unlocked(fp) : -1;
	if (fd == 2)
		fd = -1;
	zc_pin_names_changing();
	if (fd >= 0)
		zc_engine_fd_closed(fd);
	FILE *r = real(path, mode, fp);
	if (fd >= 0) {
		int saved = errno;
		zc_engine_fd_closed(fd);
		errno = saved;
	}
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
	return reopen(REAL(freopen), path, mode, fp);
}

ZC_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
	return reopen(REAL(freopen64), path, mode, fp);
}
