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
#include "guard.h"
#include "phantom.h"
#include "pin.h"
#include "real.h"
#include "wrap.h"

/* The mode argument is there when the flags can create a file. */
#define HAS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

/* A path name kept in guarded memory (a buffer the program read it into)
 * gets its bytes first: the kernel reads it, and so does
 * zc_engine_path_changing. */
static inline void before_open(int dirfd, const char *path, int flags)
{
	zc_guard_before_path(path);
	if (zc_phantoms_exist() && (flags & O_TRUNC) && path)
		zc_engine_path_changing(dirfd, path, 0);
}

/* One body per family of twins (the *64 names, and the _2 names that
 * _FORTIFY_SOURCE calls), each twin with its own real function. */
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*openat_2_fn)(int, const char *, int);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*open_2_fn)(const char *, int);

static inline int open_common(open_fn real, const char *path, int flags, mode_t mode)
{
	before_open(AT_FDCWD, path, flags);
	return real(path, flags, mode);
}

static inline int open_2_common(open_2_fn real, const char *path, int flags)
{
	before_open(AT_FDCWD, path, flags);
	return real(path, flags);
}

static inline int openat_common(openat_fn real, int dirfd, const char *path, int flags, mode_t mode)
{
	before_open(dirfd, path, flags);
	return real(dirfd, path, flags, mode);
}

static inline int openat_2_common(openat_2_fn real, int dirfd, const char *path, int flags)
{
	before_open(dirfd, path, flags);
	return real(dirfd, path, flags);
}

/* The mode argument, read only when the flags say it was passed
 * (va_start must be in the variadic wrapper itself). */
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
	return open_common(REAL(open), path, flags, mode);
}

ZC_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(REAL(open64), path, flags, mode);
}

ZC_EXPORT int __open_2(const char *path, int flags)
{
	return open_2_common(REAL(__open_2), path, flags);
}

ZC_EXPORT int __open64_2(const char *path, int flags)
{
	return open_2_common(REAL(__open64_2), path, flags);
}

ZC_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return openat_common(REAL(openat), dirfd, path, flags, mode);
}

ZC_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return openat_common(REAL(openat64), dirfd, path, flags, mode);
}

ZC_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat_2_common(REAL(__openat_2), dirfd, path, flags);
}

ZC_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat_2_common(REAL(__openat64_2), dirfd, path, flags);
}

static inline int creat_common(int (*real)(const char *, mode_t), const char *path, mode_t mode)
{
	before_open(AT_FDCWD, path, O_TRUNC);
	return real(path, mode);
}

ZC_EXPORT int creat(const char *path, mode_t mode)
{
	return creat_common(REAL(creat), path, mode);
}

ZC_EXPORT int creat64(const char *path, mode_t mode)
{
	return creat_common(REAL(creat64), path, mode);
}

static inline int truncate_common(int (*real)(const char *, off_t), const char *path, off_t len)
{
	zc_guard_before_path(path);
	if (zc_phantoms_exist())
		zc_engine_path_changing(AT_FDCWD, path, len);
	return real(path, len);
}

ZC_EXPORT int truncate(const char *path, off_t len)
{
	return truncate_common(REAL(truncate), path, len);
}

ZC_EXPORT int truncate64(const char *path, off_t len)
{
	return truncate_common(REAL(truncate64), path, len);
}

/* fopen's "w" and "w+" truncate; "a", "r" and "r+" do not. */
static inline int truncating(const char *mode)
{
	return mode && mode[0] == 'w';
}

static inline FILE *fopen_common(FILE *(*real)(const char *, const char *), const char *path,
				 const char *mode)
{
	zc_guard_before_path(path);
	if (zc_phantoms_exist() && truncating(mode) && path)
		zc_engine_path_changing(AT_FDCWD, path, 0);
	return real(path, mode);
}

ZC_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return fopen_common(REAL(fopen), path, mode);
}

ZC_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return fopen_common(REAL(fopen64), path, mode);
}

static void before_freopen(const char *path, const char *mode, FILE *fp)
{
	zc_guard_before_path(path);
	if (!zc_phantoms_exist() || !truncating(mode))
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
