/*
 * kernelmem.c - exported calls that hand caller memory to the kernel, wrapped
 * only for the guard strategy.
 *
 * A guarded page (guard.h) is PROT_NONE: the program's own access faults and
 * zcopy gives the page its bytes, but a system call that reads or writes it
 * fails with EFAULT instead, which the program would never have seen.  So
 * each call here first gives the guarded pages in the memory it passes their
 * bytes, then is the real call.  While nothing is guarded each wrapper is a
 * compare and the call.  The read/write/send/recv families, preadv/pwritev,
 * and stdio live in interpose.c and stdio.c with the same check; the whole
 * list, and what cannot be covered, is in docs/design.md.
 */
#include <aio.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "engine.h"
#include "guard.h"
#include "real.h"
#include "wrap.h"

/* A real function that this libc lacks fails as the missing call would. */
#define CALL(name, ...)                                                                   \
	(REAL(name) ? REAL(name)(__VA_ARGS__) : (errno = ENOSYS, -1))

/* A macro, not a function taking a pointer to const: see
 * zc_guard_before_kernel on why the address must travel as a number. */
#define g(p, n) zc_guard_before_kernel((p), (n))
#define gp(path) zc_guard_before_path(path)

static void g_iov(const struct iovec *iov, size_t cnt)
{
	if (unlikely(zc_guard_live) && iov)
		zc_guard_before_kernel_iov(iov, cnt);
}

static void g_msg(const struct msghdr *m)
{
	if (unlikely(zc_guard_live) && m) {
		g_iov(m->msg_iov, m->msg_iovlen);
		g(m->msg_name, m->msg_namelen);
		g(m->msg_control, m->msg_controllen);
	}
}

static size_t iov_len(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; iov && i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* aiocb and aiocb64 are the same on this ABI.  (A NULL entry of a
 * lio_listio list is skipped by glibc, and here.) */
static void g_aio_one(const void *p)
{
	const struct aiocb *cb = p;
	if (cb) {
		g(cb, sizeof *cb);
		g((const void *)cb->aio_buf, cb->aio_nbytes);
		if (cb->aio_lio_opcode == LIO_WRITE)
			zc_before_file_change(cb->aio_fildes, cb->aio_offset, cb->aio_nbytes);
	}
}
static void g_aio(const void *cb)
{
	if (unlikely(zc_guard_live))
		g_aio_one(cb);
}

/* The twins of each family below share these bodies; each calls its own
 * real function. */
static void g_mmsg(struct mmsghdr *v, unsigned n)
{
	if (unlikely(zc_guard_live) && v)
		for (unsigned i = 0; i < n && i < 1024; i++)
			g_msg(&v[i].msg_hdr);
}

static void before_aio_write(const struct aiocb *cb)
{
	g_aio(cb);
	if (cb)
		zc_before_file_change(cb->aio_fildes, cb->aio_offset, cb->aio_nbytes);
}

/* A lio_listio list (aiocb or aiocb64: the same layout here). */
static void before_lio(const void *const *list, int n)
{
	if (unlikely(zc_guard_live || zc_phantom_live))
		for (int i = 0; i < n; i++)
			g_aio_one(list[i]);
}

static void before_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (cnt > 0)
		g_iov(iov, (size_t)cnt);
	zc_before_file_change(fd, off, iov_len(iov, cnt)); /* off -1: at the file offset */
}

/* ---- paths and names ----------------------------------------------------- */

ZC_EXPORT ssize_t readlink(const char *path, char *buf, size_t n)
{
	gp(path);
	g(buf, n);
	return CALL(readlink, path, buf, n);
}

ZC_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
	gp(path);
	g(buf, n);
	return CALL(readlinkat, dirfd, path, buf, n);
}

ZC_EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t n, size_t buflen)
{
	gp(path);
	g(buf, n);
	return CALL(__readlink_chk, path, buf, n, buflen);
}

ZC_EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t n,
				   size_t buflen)
{
	gp(path);
	g(buf, n);
	return CALL(__readlinkat_chk, dirfd, path, buf, n, buflen);
}

ZC_EXPORT char *getcwd(char *buf, size_t n)
{
	g(buf, n);
	return REAL(getcwd)(buf, n);
}

ZC_EXPORT char *__getcwd_chk(char *buf, size_t n, size_t buflen)
{
	g(buf, n);
	if (!REAL(__getcwd_chk)) {
		errno = ENOSYS;
		return NULL;
	}
	return REAL(__getcwd_chk)(buf, n, buflen);
}

/* ---- the stat family ----------------------------------------------------- */

ZC_EXPORT int stat(const char *path, struct stat *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(stat, path, st);
}

ZC_EXPORT int lstat(const char *path, struct stat *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(lstat, path, st);
}

ZC_EXPORT int fstat(int fd, struct stat *st)
{
	g(st, sizeof *st);
	return CALL(fstat, fd, st);
}

ZC_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(fstatat, dirfd, path, st, flags);
}

/* The 64-bit names (struct stat64 is struct stat on this ABI). */
ZC_EXPORT int stat64(const char *path, struct stat64 *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(stat64, path, st);
}

ZC_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(lstat64, path, st);
}

ZC_EXPORT int fstat64(int fd, struct stat64 *st)
{
	g(st, sizeof *st);
	return CALL(fstat64, fd, st);
}

ZC_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(fstatat64, dirfd, path, st, flags);
}

/* The entry points of programs built against glibc before 2.33. */
ZC_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(__xstat, ver, path, st);
}

ZC_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(__lxstat, ver, path, st);
}

ZC_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	g(st, sizeof *st);
	return CALL(__fxstat, ver, fd, st);
}

ZC_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(__fxstatat, ver, dirfd, path, st, flags);
}

ZC_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(__xstat64, ver, path, st);
}

ZC_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(__lxstat64, ver, path, st);
}

ZC_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	g(st, sizeof *st);
	return CALL(__fxstat64, ver, fd, st);
}

ZC_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(__fxstatat64, ver, dirfd, path, st, flags);
}

ZC_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(statx, dirfd, path, flags, mask, st);
}

ZC_EXPORT int statfs(const char *path, struct statfs *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(statfs, path, st);
}

ZC_EXPORT int fstatfs(int fd, struct statfs *st)
{
	g(st, sizeof *st);
	return CALL(fstatfs, fd, st);
}

/* The 64-bit names (struct statfs64 is struct statfs on this ABI). */
ZC_EXPORT int statfs64(const char *path, struct statfs64 *st)
{
	gp(path);
	g(st, sizeof *st);
	return CALL(statfs64, path, st);
}

ZC_EXPORT int fstatfs64(int fd, struct statfs64 *st)
{
	g(st, sizeof *st);
	return CALL(fstatfs64, fd, st);
}

/* ---- data ---------------------------------------------------------------- */

ZC_EXPORT ssize_t getrandom(void *buf, size_t n, unsigned flags)
{
	g(buf, n);
	return CALL(getrandom, buf, n, flags);
}

/* glibc's getentropy makes the getrandom system call itself. */
ZC_EXPORT int getentropy(void *buf, size_t n)
{
	g(buf, n);
	return CALL(getentropy, buf, n);
}

/* glibc's arc4random_buf makes the getrandom system call itself, and ends
 * the process when it fails. */
ZC_EXPORT void arc4random_buf(void *buf, size_t n)
{
	g(buf, n);
	REAL(arc4random_buf)(buf, n);
}

ZC_EXPORT ssize_t getdents64(int fd, void *buf, size_t n)
{
	g(buf, n);
	return CALL(getdents64, fd, buf, n);
}

/* ---- extended attributes: values and name lists, read and written ------- */

ZC_EXPORT ssize_t getxattr(const char *path, const char *name, void *v, size_t n)
{
	gp(path);
	gp(name);
	g(v, n);
	return CALL(getxattr, path, name, v, n);
}

ZC_EXPORT ssize_t lgetxattr(const char *path, const char *name, void *v, size_t n)
{
	gp(path);
	gp(name);
	g(v, n);
	return CALL(lgetxattr, path, name, v, n);
}

ZC_EXPORT ssize_t fgetxattr(int fd, const char *name, void *v, size_t n)
{
	gp(name);
	g(v, n);
	return CALL(fgetxattr, fd, name, v, n);
}

ZC_EXPORT ssize_t listxattr(const char *path, char *list, size_t n)
{
	gp(path);
	g(list, n);
	return CALL(listxattr, path, list, n);
}

ZC_EXPORT ssize_t llistxattr(const char *path, char *list, size_t n)
{
	gp(path);
	g(list, n);
	return CALL(llistxattr, path, list, n);
}

ZC_EXPORT ssize_t flistxattr(int fd, char *list, size_t n)
{
	g(list, n);
	return CALL(flistxattr, fd, list, n);
}

ZC_EXPORT int setxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
	gp(path);
	gp(name);
	g(v, n);
	return CALL(setxattr, path, name, v, n, flags);
}

ZC_EXPORT int lsetxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
	gp(path);
	gp(name);
	g(v, n);
	return CALL(lsetxattr, path, name, v, n, flags);
}

ZC_EXPORT int fsetxattr(int fd, const char *name, const void *v, size_t n, int flags)
{
	gp(name);
	g(v, n);
	return CALL(fsetxattr, fd, name, v, n, flags);
}

/* ---- a stream's buffer ----------------------------------------------------- */

/* Memory the program gives a stream as its buffer is filled and emptied by
 * glibc's own read(2) and write(2), which no wrapper sees: its guarded pages
 * (the buffer a copy loop read into, say) get their bytes when it becomes
 * the stream's. */
ZC_EXPORT int setvbuf(FILE *fp, char *buf, int mode, size_t n)
{
	if (buf)
		g(buf, n);
	return REAL(setvbuf)(fp, buf, mode, n);
}

ZC_EXPORT void setbuf(FILE *fp, char *buf)
{
	if (buf)
		g(buf, BUFSIZ);
	REAL(setbuf)(fp, buf);
}

ZC_EXPORT void setbuffer(FILE *fp, char *buf, size_t n)
{
	if (buf)
		g(buf, n);
	REAL(setbuffer)(fp, buf, n);
}

ZC_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	g_msg(m);
	return CALL(recvmsg, fd, m, flags);
}

ZC_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	g_msg(m);
	return CALL(sendmsg, fd, m, flags);
}

ZC_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
	g_mmsg(v, n);
	return CALL(recvmmsg, fd, v, n, flags, t);
}

ZC_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	g_mmsg(v, n);
	return CALL(sendmmsg, fd, v, n, flags);
}

ZC_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (cnt > 0)
		g_iov(iov, (size_t)cnt);
	return CALL(preadv2, fd, iov, cnt, off, flags);
}

ZC_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (cnt > 0)
		g_iov(iov, (size_t)cnt);
	return CALL(preadv64v2, fd, iov, cnt, off, flags);
}

ZC_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	before_pwritev2(fd, iov, cnt, off);
	return CALL(pwritev2, fd, iov, cnt, off, flags);
}

ZC_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	before_pwritev2(fd, iov, cnt, off);
	return CALL(pwritev64v2, fd, iov, cnt, off, flags);
}

/* POSIX AIO: glibc performs the transfer later, from a helper thread, where
 * EFAULT would surface as the request's error. */
ZC_EXPORT int aio_read(struct aiocb *cb)
{
	g_aio(cb);
	return CALL(aio_read, cb);
}

ZC_EXPORT int aio_read64(struct aiocb64 *cb)
{
	g_aio(cb);
	return CALL(aio_read64, cb);
}

ZC_EXPORT int aio_write(struct aiocb *cb)
{
	before_aio_write((const struct aiocb *)cb);
	return CALL(aio_write, cb);
}

ZC_EXPORT int aio_write64(struct aiocb64 *cb)
{
	before_aio_write((const struct aiocb *)cb);
	return CALL(aio_write64, cb);
}

ZC_EXPORT int lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
	before_lio((const void *const *)list, n);
	return CALL(lio_listio, mode, list, n, sev);
}

ZC_EXPORT int lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sev)
{
	before_lio((const void *const *)list, n);
	return CALL(lio_listio64, mode, list, n, sev);
}

ZC_EXPORT ssize_t vmsplice(int fd, const struct iovec *iov, size_t cnt, unsigned flags)
{
	g_iov(iov, cnt);
	return CALL(vmsplice, fd, iov, cnt, flags);
}

/* The local side is ours; the remote side too when it is this process. */
ZC_EXPORT ssize_t process_vm_readv(pid_t pid, const struct iovec *l, unsigned long ln,
				   const struct iovec *r, unsigned long rn, unsigned long flags)
{
	g_iov(l, ln);
	if (unlikely(zc_guard_live) && pid == getpid())
		g_iov(r, rn);
	return CALL(process_vm_readv, pid, l, ln, r, rn, flags);
}

ZC_EXPORT ssize_t process_vm_writev(pid_t pid, const struct iovec *l, unsigned long ln,
				    const struct iovec *r, unsigned long rn, unsigned long flags)
{
	g_iov(l, ln);
	if (unlikely(zc_guard_live) && pid == getpid())
		g_iov(r, rn);
	return CALL(process_vm_writev, pid, l, ln, r, rn, flags);
}
