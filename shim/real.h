/*
 * real.h - the one table of real libc functions.
 *
 * Every function zcopy interposes is listed once in ZC_REAL_LIST.  The table
 * is filled by dlsym(RTLD_NEXT) from the library constructor, and lazily on
 * first use, so a wrapper called before our constructor (another library's
 * constructor calling read) still reaches libc.  Inside the library, code
 * never calls an interposed name directly (that would re-enter our own
 * wrapper): it calls REAL(name)(...).
 */
#ifndef ZC_REAL_H
#define ZC_REAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The calls kernelmem.c wraps only so that guarded pages get their bytes
 * before the kernel reads or writes the caller's memory. */
struct aiocb;
struct aiocb64;
struct stat64;
struct statx;
struct statfs;
struct statfs64;
struct mmsghdr;
struct stat;
struct __dirstream;
#define ZC_REAL_KERNELMEM_LIST(X)                                                         \
	X(readlink, ssize_t, (const char *, char *, size_t))                              \
	X(readlinkat, ssize_t, (int, const char *, char *, size_t))                       \
	X(__readlink_chk, ssize_t, (const char *, char *, size_t, size_t))                \
	X(__readlinkat_chk, ssize_t, (int, const char *, char *, size_t, size_t))         \
	X(getcwd, char *, (char *, size_t))                                               \
	X(__getcwd_chk, char *, (char *, size_t, size_t))                                 \
	X(stat, int, (const char *, struct stat *))                                       \
	X(lstat, int, (const char *, struct stat *))                                      \
	X(fstat, int, (int, struct stat *))                                               \
	X(fstatat, int, (int, const char *, struct stat *, int))                          \
	X(stat64, int, (const char *, struct stat64 *))                                     \
	X(lstat64, int, (const char *, struct stat64 *))                                    \
	X(fstat64, int, (int, struct stat64 *))                                             \
	X(fstatat64, int, (int, const char *, struct stat64 *, int))                        \
	X(__xstat, int, (int, const char *, struct stat *))                               \
	X(__lxstat, int, (int, const char *, struct stat *))                              \
	X(__fxstat, int, (int, int, struct stat *))                                       \
	X(__fxstatat, int, (int, int, const char *, struct stat *, int))                  \
	X(__xstat64, int, (int, const char *, struct stat64 *))                             \
	X(__lxstat64, int, (int, const char *, struct stat64 *))                            \
	X(__fxstat64, int, (int, int, struct stat64 *))                                     \
	X(__fxstatat64, int, (int, int, const char *, struct stat64 *, int))                \
	X(statx, int, (int, const char *, int, unsigned, struct statx *))                 \
	X(getrandom, ssize_t, (void *, size_t, unsigned))                                 \
	X(getentropy, int, (void *, size_t))                                              \
	X(statfs, int, (const char *, struct statfs *))                                   \
	X(fstatfs, int, (int, struct statfs *))                                           \
	X(statfs64, int, (const char *, struct statfs64 *))                               \
	X(fstatfs64, int, (int, struct statfs64 *))                                       \
	X(setvbuf, int, (FILE *, char *, int, size_t))                                    \
	X(arc4random_buf, void, (void *, size_t))                                         \
	X(getdents64, ssize_t, (int, void *, size_t))                                     \
	X(getxattr, ssize_t, (const char *, const char *, void *, size_t))                \
	X(lgetxattr, ssize_t, (const char *, const char *, void *, size_t))               \
	X(fgetxattr, ssize_t, (int, const char *, void *, size_t))                        \
	X(listxattr, ssize_t, (const char *, char *, size_t))                             \
	X(llistxattr, ssize_t, (const char *, char *, size_t))                            \
	X(flistxattr, ssize_t, (int, char *, size_t))                                     \
	X(setxattr, int, (const char *, const char *, const void *, size_t, int))         \
	X(lsetxattr, int, (const char *, const char *, const void *, size_t, int))        \
	X(fsetxattr, int, (int, const char *, const void *, size_t, int))                 \
	X(setbuf, void, (FILE *, char *))                                                 \
	X(setbuffer, void, (FILE *, char *, size_t))                                      \
	X(recvmsg, ssize_t, (int, struct msghdr *, int))                                  \
	X(sendmsg, ssize_t, (int, const struct msghdr *, int))                            \
	X(recvmmsg, int, (int, struct mmsghdr *, unsigned, int, struct timespec *))       \
	X(sendmmsg, int, (int, struct mmsghdr *, unsigned, int))                          \
	X(preadv2, ssize_t, (int, const struct iovec *, int, off_t, int))                 \
	X(preadv64v2, ssize_t, (int, const struct iovec *, int, off_t, int))              \
	X(pwritev2, ssize_t, (int, const struct iovec *, int, off_t, int))                \
	X(pwritev64v2, ssize_t, (int, const struct iovec *, int, off_t, int))             \
	X(aio_read, int, (struct aiocb *))                                                \
	X(aio_read64, int, (struct aiocb64 *))                                              \
	X(aio_write, int, (struct aiocb *))                                               \
	X(aio_write64, int, (struct aiocb64 *))                                             \
	X(lio_listio, int, (int, struct aiocb *const[], int, struct sigevent *))          \
	X(lio_listio64, int, (int, struct aiocb64 *const[], int, struct sigevent *))        \
	X(vmsplice, ssize_t, (int, const struct iovec *, size_t, unsigned))               \
	X(process_vm_readv, ssize_t,                                                      \
	  (pid_t, const struct iovec *, unsigned long, const struct iovec *,              \
	   unsigned long, unsigned long))                                                 \
	X(process_vm_writev, ssize_t,                                                     \
	  (pid_t, const struct iovec *, unsigned long, const struct iovec *,              \
	   unsigned long, unsigned long))

/* The calls sigmask.c wraps so that no mask the program installs blocks
 * SIGSEGV while guard mode is on. */
struct pollfd;
struct epoll_event;
struct timespec;
struct ucontext_t;
#define ZC_REAL_SIGMASK_LIST(X)                                                           \
	X(sigprocmask, int, (int, const sigset_t *, sigset_t *))                          \
	X(pthread_sigmask, int, (int, const sigset_t *, sigset_t *))                      \
	X(sigblock, int, (int))                                                           \
	X(sigsetmask, int, (int))                                                         \
	X(siggetmask, int, (void))                                                        \
	X(sighold, int, (int))                                                            \
	X(sigrelse, int, (int))                                                           \
	X(sigsuspend, int, (const sigset_t *))                                            \
	X(sigpause, int, (int))                                                           \
	X(__sigpause, int, (int, int))                                                    \
	X(ppoll, int, (struct pollfd *, unsigned long, const struct timespec *, const sigset_t *)) \
	X(__ppoll_chk, int,                                                               \
	  (struct pollfd *, unsigned long, const struct timespec *, const sigset_t *, size_t)) \
	X(pselect, int, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *)) \
	X(epoll_pwait, int, (int, struct epoll_event *, int, int, const sigset_t *))      \
	X(epoll_pwait2, int,                                                              \
	  (int, struct epoll_event *, int, const struct timespec *, const sigset_t *))     \
	X(setcontext, int, (const struct ucontext_t *))                                   \
	X(swapcontext, int, (struct ucontext_t *, const struct ucontext_t *))          \
	X(pthread_attr_setstack, int, (pthread_attr_t *, void *, size_t))                \
	X(sigaltstack, int, (const stack_t *, stack_t *))

/* The calls optcache.c wraps only to know when a cached setting changes. */
struct rlimit;
struct rlimit64;
#define ZC_REAL_OPTCACHE_LIST(X)                                                          \
	X(setrlimit, int, (int, const struct rlimit *))                                   \
	X(setrlimit64, int, (int, const struct rlimit64 *))                               \
	X(prlimit, int, (pid_t, int, const struct rlimit *, struct rlimit *))             \
	X(prlimit64, int, (pid_t, int, const struct rlimit64 *, struct rlimit64 *))       \
	X(setsockopt, int, (int, int, int, const void *, socklen_t))

/* X(name, return type, parameter list) */
#define ZC_REAL_LIST(X)                                                                   \
	X(read, ssize_t, (int, void *, size_t))                                           \
	X(__read_chk, ssize_t, (int, void *, size_t, size_t))                             \
	X(pread, ssize_t, (int, void *, size_t, off_t))                                   \
	X(pread64, ssize_t, (int, void *, size_t, off_t))                                 \
	X(__pread_chk, ssize_t, (int, void *, size_t, off_t, size_t))                     \
	X(__pread64_chk, ssize_t, (int, void *, size_t, off_t, size_t))                   \
	X(readv, ssize_t, (int, const struct iovec *, int))                               \
	X(preadv, ssize_t, (int, const struct iovec *, int, off_t))                       \
	X(preadv64, ssize_t, (int, const struct iovec *, int, off_t))                     \
	X(write, ssize_t, (int, const void *, size_t))                                    \
	X(pwrite, ssize_t, (int, const void *, size_t, off_t))                            \
	X(pwrite64, ssize_t, (int, const void *, size_t, off_t))                          \
	X(writev, ssize_t, (int, const struct iovec *, int))                              \
	X(pwritev, ssize_t, (int, const struct iovec *, int, off_t))                      \
	X(pwritev64, ssize_t, (int, const struct iovec *, int, off_t))                    \
	X(send, ssize_t, (int, const void *, size_t, int))                                \
	X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *,      \
			    socklen_t))                                                   \
	X(recv, ssize_t, (int, void *, size_t, int))                                      \
	X(__recv_chk, ssize_t, (int, void *, size_t, size_t, int))                        \
	X(recvfrom, ssize_t, (int, void *, size_t, int, struct sockaddr *, socklen_t *))  \
	X(__recvfrom_chk, ssize_t,                                                        \
	  (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *))             \
	X(fread, size_t, (void *, size_t, size_t, FILE *))                                \
	X(fread_unlocked, size_t, (void *, size_t, size_t, FILE *))                       \
	X(__fread_chk, size_t, (void *, size_t, size_t, size_t, FILE *))                  \
	X(__fread_unlocked_chk, size_t, (void *, size_t, size_t, size_t, FILE *))         \
	X(fwrite, size_t, (const void *, size_t, size_t, FILE *))                         \
	X(fwrite_unlocked, size_t, (const void *, size_t, size_t, FILE *))                \
	ZC_REAL_KERNELMEM_LIST(X)                                                         \
	ZC_REAL_OPTCACHE_LIST(X)                                                          \
	X(close, int, (int))                                                              \
	X(close_range, int, (unsigned, unsigned, int))                                    \
	X(closefrom, void, (int))                                                         \
	X(dup, int, (int))                                                                \
	X(dup2, int, (int, int))                                                          \
	X(dup3, int, (int, int, int))                                                     \
	X(fcntl, int, (int, int, ...))                                                    \
	X(fcntl64, int, (int, int, ...))                                                  \
	X(fclose, int, (FILE *))                                                          \
	X(closedir, int, (struct __dirstream *))                                          \
	X(pclose, int, (FILE *))                                                          \
	X(endmntent, int, (FILE *))                                                       \
	X(login_tty, int, (int))                                                          \
	X(mq_close, int, (int))                                                           \
	X(fflush, int, (FILE *))                                                          \
	X(fseek, int, (FILE *, long, int))                                                \
	X(fseeko, int, (FILE *, off_t, int))                                              \
	X(fseeko64, int, (FILE *, off_t, int))                                            \
	X(rewind, void, (FILE *))                                                         \
	X(fsetpos, int, (FILE *, const fpos_t *))                                         \
	X(fsetpos64, int, (FILE *, const fpos64_t *))                                     \
	X(fputs, int, (const char *, FILE *))                                             \
	X(fputs_unlocked, int, (const char *, FILE *))                                    \
	X(puts, int, (const char *))                                                      \
	X(__overflow, int, (FILE *, int))                                                 \
	X(printf, int, (const char *, ...))                                               \
	X(fprintf, int, (FILE *, const char *, ...))                                      \
	X(dprintf, int, (int, const char *, ...))                                         \
	X(vprintf, int, (const char *, va_list))                                          \
	X(vfprintf, int, (FILE *, const char *, va_list))                                 \
	X(vdprintf, int, (int, const char *, va_list))                                    \
	X(__printf_chk, int, (int, const char *, ...))                                    \
	X(__fprintf_chk, int, (FILE *, int, const char *, ...))                           \
	X(__dprintf_chk, int, (int, int, const char *, ...))                              \
	X(__vprintf_chk, int, (int, const char *, va_list))                               \
	X(__vfprintf_chk, int, (FILE *, int, const char *, va_list))                      \
	X(__vdprintf_chk, int, (int, int, const char *, va_list))                         \
	X(open, int, (const char *, int, ...))                                            \
	X(open64, int, (const char *, int, ...))                                          \
	X(__open_2, int, (const char *, int))                                             \
	X(__open64_2, int, (const char *, int))                                           \
	X(openat, int, (int, const char *, int, ...))                                     \
	X(openat64, int, (int, const char *, int, ...))                                   \
	X(__openat_2, int, (int, const char *, int))                                      \
	X(__openat64_2, int, (int, const char *, int))                                    \
	X(creat, int, (const char *, mode_t))                                             \
	X(creat64, int, (const char *, mode_t))                                           \
	X(truncate, int, (const char *, off_t))                                           \
	X(truncate64, int, (const char *, off_t))                                         \
	X(fopen, FILE *, (const char *, const char *))                                    \
	X(fopen64, FILE *, (const char *, const char *))                                  \
	X(freopen, FILE *, (const char *, const char *, FILE *))                          \
	X(freopen64, FILE *, (const char *, const char *, FILE *))                        \
	X(lseek, off_t, (int, off_t, int))                                                \
	X(ftruncate, int, (int, off_t))                                                   \
	X(ftruncate64, int, (int, off_t))                                                 \
	X(fallocate, int, (int, int, off_t, off_t))                                       \
	X(fallocate64, int, (int, int, off_t, off_t))                                     \
	X(sendfile, ssize_t, (int, int, off_t *, size_t))                                 \
	X(sendfile64, ssize_t, (int, int, off_t *, size_t))                               \
	X(splice, ssize_t, (int, off_t *, int, off_t *, size_t, unsigned))                \
	X(copy_file_range, ssize_t, (int, off_t *, int, off_t *, size_t, unsigned))       \
	X(free, void, (void *))                                                           \
	X(realloc, void *, (void *, size_t))                                              \
	X(malloc_usable_size, size_t, (void *))                                           \
	X(mmap, void *, (void *, size_t, int, int, int, off_t))                           \
	X(mmap64, void *, (void *, size_t, int, int, int, off_t))                         \
	X(munmap, int, (void *, size_t))                                                  \
	X(mremap, void *, (void *, size_t, size_t, int, ...))                             \
	X(madvise, int, (void *, size_t, int))                                            \
	X(posix_madvise, int, (void *, size_t, int))                                      \
	X(mprotect, int, (void *, size_t, int))                                           \
	X(pkey_mprotect, int, (void *, size_t, int, int))                                 \
	X(mlock, int, (const void *, size_t))                                             \
	X(mlock2, int, (const void *, size_t, unsigned))                                  \
	X(dlclose, int, (void *))                                                         \
	X(sigaction, int, (int, const struct sigaction *, struct sigaction *))            \
	X(__sigaction, int, (int, const struct sigaction *, struct sigaction *))          \
	X(signal, __sighandler_t, (int, __sighandler_t))                                  \
	X(bsd_signal, __sighandler_t, (int, __sighandler_t))                              \
	X(__sysv_signal, __sighandler_t, (int, __sighandler_t))                           \
	X(sysv_signal, __sighandler_t, (int, __sighandler_t))                             \
	X(sigset, __sighandler_t, (int, __sighandler_t))                                  \
	X(sigignore, int, (int))                                                          \
	X(siginterrupt, int, (int, int))                                                  \
	X(longjmp, void, (struct __jmp_buf_tag *, int))                                   \
	X(_longjmp, void, (struct __jmp_buf_tag *, int))                                  \
	X(siglongjmp, void, (struct __jmp_buf_tag *, int))                                \
	X(__longjmp_chk, void, (struct __jmp_buf_tag *, int))                            \
	X(_Fork, pid_t, (void))                                                          \
	X(pthread_cancel, int, (pthread_t))                                               \
	ZC_REAL_SIGMASK_LIST(X)

#define ZC_REAL_FIELD(name, ret, args) ret(*name) args;
struct zc_real {
	ZC_REAL_LIST(ZC_REAL_FIELD)
};
#undef ZC_REAL_FIELD

extern struct zc_real zc_real;

/* Resolve every entry that is still NULL.  Safe to call more than once and
 * from any thread; a recursive call made by dlsym itself returns at once. */
void zc_real_resolve(void);

/* REAL(read)(fd, buf, n): the libc function, resolved on first use. */
#define REAL(name)                                                                        \
	(__builtin_expect(zc_real.name != NULL, 1) ? zc_real.name                        \
						   : (zc_real_resolve(), zc_real.name))

/* zcopy's own fstat of an fd.  glibc's fstat is newfstatat(fd, "",
 * AT_EMPTY_PATH), which reads the empty path from user memory and takes the
 * path walk's way in: the fstat system call, where the kernel has one, is
 * the direct one (a copy loop into a file asks the size once a chunk:
 * 2.5% of the ideal program's time per chunk on XFS).  Both fill the same
 * struct stat. */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
static inline int zc_fstat(int fd, struct stat *st)
{
#if defined(SYS_fstat) && defined(__x86_64__)
	return (int)syscall(SYS_fstat, fd, st);
#else
	return REAL(fstat)(fd, st);
#endif
}

#endif
