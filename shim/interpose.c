/*
 * interpose.c - the exported fd wrappers: read, write and their relatives,
 * and the calls that end or change an fd.
 *
 * Each wrapper only decides "plain call, or engine": the plain path is one
 * compare against a threshold and the real call.  Nothing here allocates,
 * uses stdio or keeps state of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "engine.h"
#include "fdinfo.h"
#include "guard.h"
#include "phantom.h"
#include "pin.h"
#include "log.h"
#include "optcache.h"
#include "ownfd.h"
#include "real.h"
#include "redirect.h"
#include "stats.h"
#include "wrap.h"


/* After the program's close or dup2 of fd: another thread may have pinned
 * the number between zcopy's look before the call and the call itself; that
 * pin names what the program just let go of. */
static inline void after_fd_change(int fd)
{
	if (unlikely(zc_pins_live)) {
		int saved = errno;
		zc_engine_fd_closed(fd);
		errno = saved;
	}
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* ---- reads --------------------------------------------------------------- */

ZC_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (zc_read_is_plain(n)) {
		zc_guard_before_kernel(buf, n);
		return REAL(read)(fd, buf, n);
	}
	return zc_engine_read(fd, buf, n, NULL);
}

ZC_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (zc_read_is_plain(n) || n > buflen) { /* the real one reports overflow */
		zc_guard_before_kernel(buf, n);
		return REAL(__read_chk)(fd, buf, n, buflen);
	}
	return zc_engine_read(fd, buf, n, NULL);
}

/* One body for pread and pread64, each with its own real function. */
static inline ssize_t pread_common(ssize_t (*real)(int, void *, size_t, off_t), int fd, void *buf,
				   size_t n, off_t off)
{
	if (zc_read_is_plain(n) || off < 0) {
		zc_guard_before_kernel(buf, n);
		return real(fd, buf, n, off);
	}
	return zc_engine_read(fd, buf, n, &off);
}

ZC_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	return pread_common(REAL(pread), fd, buf, n, off);
}

ZC_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return pread_common(REAL(pread64), fd, buf, n, off);
}

static inline ssize_t pread_chk_common(ssize_t (*real)(int, void *, size_t, off_t, size_t),
				       int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (zc_read_is_plain(n) || n > buflen || off < 0) {
		zc_guard_before_kernel(buf, n);
		return real(fd, buf, n, off, buflen);
	}
	return zc_engine_read(fd, buf, n, &off);
}

ZC_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	return pread_chk_common(REAL(__pread_chk), fd, buf, n, off, buflen);
}

ZC_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	return pread_chk_common(REAL(__pread64_chk), fd, buf, n, off, buflen);
}

ZC_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (zc_reads_all_plain())
		return REAL(readv)(fd, iov, cnt);
	return zc_engine_readv(fd, iov, cnt, NULL);
}

static inline ssize_t preadv_common(ssize_t (*real)(int, const struct iovec *, int, off_t), int fd,
				    const struct iovec *iov, int cnt, off_t off)
{
	if (zc_reads_all_plain() || off < 0)
		return real(fd, iov, cnt, off);
	return zc_engine_readv(fd, iov, cnt, &off);
}

ZC_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return preadv_common(REAL(preadv), fd, iov, cnt, off);
}

ZC_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return preadv_common(REAL(preadv64), fd, iov, cnt, off);
}

/* recv and friends never read files, so the engine has nothing to do with
 * them; they are wrapped for the guard strategy alone: the kernel fills the
 * buffer, and guarded pages there must get their bytes first. */
ZC_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	zc_guard_before_kernel(buf, n);
	return REAL(recv)(fd, buf, n, flags);
}

ZC_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	zc_guard_before_kernel(buf, n);
	return REAL(__recv_chk)(fd, buf, n, buflen, flags);
}

ZC_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			   socklen_t *alen)
{
	zc_guard_before_kernel(buf, n);
	return REAL(recvfrom)(fd, buf, n, flags, addr, alen);
}

ZC_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
				 struct sockaddr *addr, socklen_t *alen)
{
	zc_guard_before_kernel(buf, n);
	return REAL(__recvfrom_chk)(fd, buf, n, buflen, flags, addr, alen);
}

/* ---- writes -------------------------------------------------------------- */

ZC_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (zc_write_is_plain(n)) {
		zc_before_file_change(fd, -1, n);
		zc_guard_before_kernel(buf, n);
		return REAL(write)(fd, buf, n);
	}
	return zc_engine_write(fd, buf, n, NULL, ZC_W_WRITE, 0);
}

/* One body for pwrite and pwrite64, each with its own real function. */
static inline ssize_t pwrite_common(ssize_t (*real)(int, const void *, size_t, off_t), int fd,
				    const void *buf, size_t n, off_t off)
{
	if (zc_write_is_plain(n) || off < 0) {
		zc_before_file_change(fd, off, n);
		zc_guard_before_kernel(buf, n);
		return real(fd, buf, n, off);
	}
	return zc_engine_write(fd, buf, n, &off, ZC_W_PWRITE, 0);
}

ZC_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite_common(REAL(pwrite), fd, buf, n, off);
}

ZC_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite_common(REAL(pwrite64), fd, buf, n, off);
}

ZC_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (zc_writes_all_plain() || cnt <= 0 || !iov || zc_write_is_plain(iov_total(iov, cnt))) {
		if (cnt > 0 && iov)
			zc_before_file_change(fd, -1, iov_total(iov, cnt));
		if (cnt > 0)
			zc_guard_before_kernel_iov(iov, (size_t)cnt);
		return REAL(writev)(fd, iov, cnt);
	}
	return zc_engine_writev(fd, iov, cnt, NULL);
}

static inline ssize_t pwritev_common(ssize_t (*real)(int, const struct iovec *, int, off_t),
				     int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (zc_writes_all_plain() || cnt <= 0 || !iov || off < 0 ||
	    zc_write_is_plain(iov_total(iov, cnt))) {
		if (cnt > 0 && iov)
			zc_before_file_change(fd, off, iov_total(iov, cnt));
		if (cnt > 0)
			zc_guard_before_kernel_iov(iov, (size_t)cnt);
		return real(fd, iov, cnt, off);
	}
	return zc_engine_writev(fd, iov, cnt, &off);
}

ZC_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return pwritev_common(REAL(pwritev), fd, iov, cnt, off);
}

ZC_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return pwritev_common(REAL(pwritev64), fd, iov, cnt, off);
}

ZC_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (zc_write_is_plain(n)) {
		zc_guard_before_kernel(buf, n);
		return REAL(send)(fd, buf, n, flags);
	}
	return zc_engine_write(fd, buf, n, NULL, ZC_W_SEND, flags);
}

ZC_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
			 socklen_t alen)
{
	if (zc_write_is_plain(n) || addr) {
		zc_guard_before_kernel(buf, n);
		return REAL(sendto)(fd, buf, n, flags, addr, alen);
	}
	return zc_engine_write(fd, buf, n, NULL, ZC_W_SENDTO, flags);
}

/* ---- kernel copies the program makes itself ------------------------------ */

/* Each changes its destination file as a write would: phantoms of that file
 * get their bytes first.  (sendfile writes at the destination's offset.) */
ZC_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	zc_before_file_change(out, -1, n);
	return REAL(sendfile)(out, in, off, n);
}

ZC_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
	zc_before_file_change(out, -1, n);
	return REAL(sendfile64)(out, in, off, n);
}

ZC_EXPORT ssize_t splice(int in, off_t *in_off, int out, off_t *out_off, size_t n, unsigned flags)
{
	zc_before_file_change(out, out_off ? *out_off : -1, n);
	return REAL(splice)(in, in_off, out, out_off, n, flags);
}

ZC_EXPORT ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t n,
				  unsigned flags)
{
	zc_before_file_change(out, out_off ? *out_off : -1, n);
	return REAL(copy_file_range)(in, in_off, out, out_off, n, flags);
}

ZC_EXPORT int ftruncate(int fd, off_t len)
{
	zc_before_file_change(fd, len, 0); /* 0: everything from len on */
	return REAL(ftruncate)(fd, len);
}

ZC_EXPORT int ftruncate64(int fd, off_t len)
{
	zc_before_file_change(fd, len, 0);
	return REAL(ftruncate64)(fd, len);
}

/* One body for fallocate and fallocate64.  Collapse and insert shift
 * everything after off. */
static inline int fallocate_common(int (*real)(int, int, off_t, off_t), int fd, int mode, off_t off,
				   off_t len)
{
	int shifts = (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) != 0;
	zc_before_file_change(fd, off, shifts ? 0 : (size_t)len);
	return real(fd, mode, off, len);
}

ZC_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	return fallocate_common(REAL(fallocate), fd, mode, off, len);
}

ZC_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate_common(REAL(fallocate64), fd, mode, off, len);
}

/* ---- fd lifetime --------------------------------------------------------- */

/* zcopy's own descriptors (ownfd.c) are not the program's: a call that
 * names one fails with EBADF, as it would without zcopy; a call that would
 * close or replace one finds it moved out of the way first. */

ZC_EXPORT int close(int fd)
{
	if (unlikely(zc_ownfd_is(fd))) {
		errno = EBADF;
		return -1;
	}
	zc_pin_names_changing();
	zc_engine_fd_closed(fd);
	int r = REAL(close)(fd);
	after_fd_change(fd);
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT void closefrom(int lo)
{
	zc_pin_names_changing();
	/* The engine first: guarded pages get their bytes through pins that
	 * the range may be about to close. */
	if (lo >= 0) {
		zc_engine_fd_range_closed((unsigned)lo, ~0u);
		zc_ownfd_before_close_range((unsigned)lo, ~0u);
	}
	REAL(closefrom)(lo);
	zc_pin_names_changed();
}

ZC_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC) && lo <= hi) {
		zc_pin_names_changing();
		zc_engine_fd_range_closed(lo, hi); /* first: as for closefrom */
		zc_ownfd_before_close_range(lo, hi);
		int r = REAL(close_range)(lo, hi, flags);
		zc_pin_names_changed();
		return r;
	}
	return REAL(close_range)(lo, hi, flags);
}

ZC_EXPORT int dup(int fd)
{
	if (unlikely(zc_ownfd_is(fd))) {
		errno = EBADF;
		return -1;
	}
	int r = REAL(dup)(fd);
	if (r >= 0)
		zc_fd_forget(r);
	return r;
}

static int dup_to(int fd, int fd2)
{
	if (unlikely(zc_ownfd_is(fd))) {
		errno = EBADF;
		return -1;
	}
	zc_ownfd_before_take(fd2);
	if (fd != fd2)
		zc_engine_fd_closed(fd2);
	return 0;
}

ZC_EXPORT int dup2(int fd, int fd2)
{
	if (dup_to(fd, fd2) < 0)
		return -1;
	if (fd == fd2) /* changes nothing */
		return REAL(dup2)(fd, fd2);
	zc_pin_names_changing();
	int r = REAL(dup2)(fd, fd2);
	after_fd_change(fd2);
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT int dup3(int fd, int fd2, int flags)
{
	if (fd == fd2) /* dup3(x, x): EINVAL before all */
		return REAL(dup3)(fd, fd2, flags);
	if (dup_to(fd, fd2) < 0)
		return -1;
	zc_pin_names_changing();
	int r = REAL(dup3)(fd, fd2, flags);
	after_fd_change(fd2);
	zc_pin_names_changed();
	return r;
}

/* fcntl's third argument is an int or a pointer; on this ABI both travel in
 * the same register, so it is passed on as a long. */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
	if (unlikely(zc_ownfd_is(fd))) {
		errno = EBADF;
		return -1;
	}
	/* F_DUPFD gives the lowest free number at or above arg: zcopy's own
	 * fds up there must not be in the way of what the program gets. */
	int r;
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && arg >= 0 && arg <= INT_MAX &&
	    unlikely(zc_ownfd_count()))
		r = zc_ownfd_dupfd(real, fd, cmd, (int)arg);
	else
		r = real(fd, cmd, arg);
	if (r >= 0) {
		if (cmd == F_SETFL) {
			zc_fd_forget(fd);
			zc_pin_flags_changed(); /* the description may be pinned */
		}
		else if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
			zc_fd_forget(r);
	}
	return r;
}

ZC_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

ZC_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

/* ---- limits and socket options (optcache.h) ------------------------------- */

ZC_EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	zc_limits_changing();
	int r = REAL(setrlimit)(res, rl);
	zc_limits_changed();
	return r;
}

ZC_EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
	zc_limits_changing();
	int r = REAL(setrlimit64)(res, rl);
	zc_limits_changed();
	return r;
}

ZC_EXPORT int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *nl, struct rlimit *ol)
{
	if (!nl) /* a question only */
		return REAL(prlimit)(pid, res, nl, ol);
	zc_limits_changing();
	int r = REAL(prlimit)(pid, res, nl, ol);
	zc_limits_changed();
	return r;
}

ZC_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *nl,
			struct rlimit64 *ol)
{
	if (!nl)
		return REAL(prlimit64)(pid, res, nl, ol);
	zc_limits_changing();
	int r = REAL(prlimit64)(pid, res, nl, ol);
	zc_limits_changed();
	return r;
}

ZC_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int r = REAL(setsockopt)(fd, level, name, val, len);
	/* After the call: a read that looks at the options from now on asks
	 * the kernel again (one under way already made its choice, as a plain
	 * read running alongside the call would have). */
	zc_sockopt_changed();
	return r;
}
