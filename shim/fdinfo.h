/*
 * fdinfo.h - what kind of object an fd names: the one place fds are classified.
 *
 * zc_classify() is pure (unit-tested).  zc_fd_get() caches its answer per fd
 * number; the cache is invalidated by our close, close_range, dup*, fcntl and
 * fclose wrappers.  Because an fd can also change behind our back (a libc
 * internal close), a decision that moves data never trusts the cache: it
 * works on a pin (pin.c), zcopy's own duplicate proven (kcmp, or no fd
 * change since the last kcmp) to name what the program's number named,
 * classified from the duplicate itself
 * with ZC_FD_VALIDATE.  The cache only saves the F_GETFL, SO_TYPE and tty
 * look-ups for the accounting and the fast paths.
 */
#ifndef ZC_FDINFO_H
#define ZC_FDINFO_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

enum zc_kind {
	ZC_K_UNKNOWN = 0, /* not looked at yet */
	ZC_K_FILE,        /* regular file */
	ZC_K_BLOCK,       /* block device */
	ZC_K_PIPE,        /* pipe or FIFO */
	ZC_K_STREAM,      /* stream socket (TCP, UNIX stream) */
	ZC_K_DGRAM,       /* datagram or seqpacket socket */
	ZC_K_CHAR,        /* character device that is not a tty (/dev/null ...) */
	ZC_K_TTY,         /* terminal */
	ZC_K_OTHER,       /* directory, eventfd, epoll, ... */
	ZC_K_BADFD,       /* not an open fd */
	ZC_K__COUNT
};

/* Flags that change what a transfer may do. */
#define ZC_FL_APPEND   0x01u
#define ZC_FL_NONBLOCK 0x02u
#define ZC_FL_DIRECT   0x04u
#define ZC_FL_READ     0x08u /* opened for reading */
#define ZC_FL_WRITE    0x10u /* opened for writing */
#define ZC_FL_SIZED    0x20u /* a file whose st_size is its data size (see zc_fs_sized) */

struct zc_fdinfo {
	uint8_t kind;  /* enum zc_kind */
	uint8_t flags; /* ZC_FL_* */
	dev_t dev;
	ino_t ino;
	off_t size;    /* st_size when last looked at (files, block devices) */
};

/* Kind from the stat mode; sock_type is SO_TYPE for sockets (ignored
 * otherwise) and is_tty says whether a character device is a terminal. */
enum zc_kind zc_classify(mode_t mode, int sock_type, int is_tty);
/* Does a file system of this type (statfs f_type) report st_size as the
 * number of bytes a read returns?  Disk and memory file systems do; procfs
 * (size 0), sysfs (4096), FUSE and network file systems may not, and a
 * deferred read trusts the size to know where the data ends. */
int zc_fs_sized(unsigned long f_type);
/* ZC_FL_* from open flags (F_GETFL). */
unsigned zc_flags_from_fl(int fl);
const char *zc_kind_name(enum zc_kind k);

/* Can bytes be deferred from this fd: a readable block device, or a readable
 * file on a file system whose sizes can be trusted? */
static inline int zc_fd_is_source(const struct zc_fdinfo *fi)
{
	return (fi->kind == ZC_K_BLOCK || (fi->kind == ZC_K_FILE && (fi->flags & ZC_FL_SIZED))) &&
	       (fi->flags & ZC_FL_READ);
}

#define ZC_FD_CACHED   0
#define ZC_FD_VALIDATE 1 /* fstat now; reclassify if the fd names another object */

/* Fills *out for fd; returns 0, or -1 (kind ZC_K_BADFD) if fd is not open.
 * With ZC_FD_VALIDATE, *st (if not NULL) receives the fresh fstat. */
int zc_fd_get(int fd, struct zc_fdinfo *out, int how, struct stat *st);
void zc_fd_forget(int fd);
void zc_fd_forget_range(unsigned lo, unsigned hi);
void zc_fd_forget_all(void);

#endif
