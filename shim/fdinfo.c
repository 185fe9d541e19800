/*
 * fdinfo.c - fd classification and its per-fd cache (see fdinfo.h).
 *
 * The cache is a fixed array indexed by fd number (no allocation); fds beyond
 * it are classified on every call.  Entries are written under no lock: each
 * is a small struct copied whole by the thread that classified the fd, and a
 * torn read is impossible to act on because every data-moving decision
 * re-validates with fstat first.
 */
#include "fdinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <termios.h>

#include "real.h"

#define ZC_FD_CACHE 4096

struct slot {
	struct zc_fdinfo info;
	uint32_t gen; /* 0 = empty */
};
static struct slot cache[ZC_FD_CACHE];
static uint32_t generation = 1; /* bumped to empty the whole cache */

enum zc_kind zc_classify(mode_t mode, int sock_type, int is_tty)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return ZC_K_FILE;
	case S_IFBLK:
		return ZC_K_BLOCK;
	case S_IFIFO:
		return ZC_K_PIPE;
	case S_IFSOCK:
		return sock_type == SOCK_STREAM ? ZC_K_STREAM
		       : (sock_type == SOCK_DGRAM || sock_type == SOCK_SEQPACKET || sock_type == SOCK_RAW ||
			  sock_type == SOCK_RDM)
			       ? ZC_K_DGRAM
			       : ZC_K_OTHER;
	case S_IFCHR:
		return is_tty ? ZC_K_TTY : ZC_K_CHAR;
	default:
		return ZC_K_OTHER;
	}
}

int zc_fs_sized(unsigned long f_type)
{
	switch (f_type) {
	case 0xEF53:     /* ext2, ext3, ext4 */
	case 0x58465342: /* xfs */
	case 0x9123683E: /* btrfs */
	case 0x01021994: /* tmpfs */
	case 0x858458F6: /* ramfs */
	case 0xF2F52010: /* f2fs */
	case 0x794C7630: /* overlayfs */
	case 0x2FC12FC1: /* zfs */
	case 0xCA451A4E: /* bcachefs */
	case 0x4D44:     /* vfat */
	case 0x2011BAB0: /* exfat */
	case 0x5346544E: /* ntfs */
	case 0x7366746E: /* ntfs3 */
	case 0x3153464A: /* jfs */
	case 0x52654973: /* reiserfs */
		return 1;
	default:
		return 0;
	}
}

unsigned zc_flags_from_fl(int fl)
{
	unsigned f = 0;
	if (fl & O_APPEND)
		f |= ZC_FL_APPEND;
	if (fl & O_NONBLOCK)
		f |= ZC_FL_NONBLOCK;
	if (fl & O_DIRECT)
		f |= ZC_FL_DIRECT;
	switch (fl & O_ACCMODE) {
	case O_RDONLY:
		f |= ZC_FL_READ;
		break;
	case O_WRONLY:
		f |= ZC_FL_WRITE;
		break;
	case O_RDWR:
		f |= ZC_FL_READ | ZC_FL_WRITE;
		break;
	}
	return f;
}

const char *zc_kind_name(enum zc_kind k)
{
	static const char *const names[ZC_K__COUNT] = {
		"unknown", "file", "block", "pipe", "stream-socket", "datagram-socket",
		"char-device", "tty", "other", "bad-fd",
	};
	return (unsigned)k < ZC_K__COUNT ? names[k] : "?";
}

static int classify_fd(int fd, const struct stat *st, struct zc_fdinfo *out)
{
	int saved = errno;
	int fl = REAL(fcntl)(fd, F_GETFL);
	int sock_type = 0, tty = 0;
	if (fl < 0) {
		errno = saved;
		return -1;
	}
	if (S_ISSOCK(st->st_mode)) {
		socklen_t len = sizeof sock_type;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &sock_type, &len) < 0)
			sock_type = 0;
	} else if (S_ISCHR(st->st_mode)) {
		struct termios t;
		tty = ioctl(fd, TCGETS, &t) == 0;
	}
	out->kind = (uint8_t)zc_classify(st->st_mode, sock_type, tty);
	out->flags = (uint8_t)zc_flags_from_fl(fl);
	struct statfs sfs;
	if (S_ISREG(st->st_mode) && REAL(fstatfs)(fd, &sfs) == 0 && zc_fs_sized((unsigned long)sfs.f_type))
		out->flags |= ZC_FL_SIZED;
	out->dev = st->st_dev;
	out->ino = st->st_ino;
	out->size = st->st_size;
	errno = saved;
	return 0;
}

int zc_fd_get(int fd, struct zc_fdinfo *out, int how, struct stat *stp)
{
	struct stat st_local, *st = stp ? stp : &st_local;
	struct slot *s = (fd >= 0 && fd < ZC_FD_CACHE) ? &cache[fd] : NULL;
	int saved = errno;

	if (s && how == ZC_FD_CACHED && __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == generation) {
		*out = s->info;
		return out->kind == ZC_K_BADFD ? -1 : 0;
	}
	if (fd < 0 || zc_fstat(fd, st) < 0) {
		errno = saved;
		out->kind = ZC_K_BADFD;
		out->flags = 0;
		return -1;
	}
	if (s && __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == generation &&
	    s->info.dev == st->st_dev && s->info.ino == st->st_ino) {
		/* Same object as when classified: its kind cannot have changed. */
		*out = s->info;
		out->size = st->st_size;
		return 0;
	}
	if (classify_fd(fd, st, out) < 0) {
		out->kind = ZC_K_BADFD;
		return -1;
	}
	if (s) {
		__atomic_store_n(&s->gen, 0, __ATOMIC_RELEASE);
		s->info = *out;
		__atomic_store_n(&s->gen, generation, __ATOMIC_RELEASE);
	}
	errno = saved;
	return 0;
}

void zc_fd_forget(int fd)
{
	if (fd >= 0 && fd < ZC_FD_CACHE)
		__atomic_store_n(&cache[fd].gen, 0, __ATOMIC_RELEASE);
}

void zc_fd_forget_range(unsigned lo, unsigned hi)
{
	if (lo >= ZC_FD_CACHE)
		return;
	if (hi >= ZC_FD_CACHE)
		hi = ZC_FD_CACHE - 1;
	for (unsigned fd = lo; fd <= hi; fd++)
		__atomic_store_n(&cache[fd].gen, 0, __ATOMIC_RELEASE);
}

void zc_fd_forget_all(void)
{
	uint32_t g = __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
	if (g == 0)
		__atomic_store_n(&generation, 1, __ATOMIC_RELEASE);
}
