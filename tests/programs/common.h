/*
 * common.h - helpers shared by the test programs in tests/programs.
 *
 * Each program copies data the way some real tool does and prints what it
 * observed (return values, errno names, file offsets, checksums) so that a
 * run under libzcopy can be compared with a run without it.  Everything here
 * is header-only so each program stays a single translation unit.
 */
#ifndef ZT_COMMON_H
#define ZT_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The buffer size real tools use (coreutils cat, cp, split: 128 KiB). */
#define ZT_CHUNK (128 * 1024)
#define ZT_PAGE 4096

/* Unexpected failure: say what failed on stderr and exit 99, a status no
 * scenario produces on purpose. */
static inline void zt_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(99);
}

static inline void zt_usage(const char *usage)
{
	fprintf(stderr, "usage: %s\n", usage);
	exit(98);
}

/* errno as its name: runs are compared textually, and names make a
 * difference readable. */
static inline const char *zt_errname(int e)
{
	switch (e) {
	case 0: return "OK";
	case EPIPE: return "EPIPE";
	case EAGAIN: return "EAGAIN";
	case ENOSPC: return "ENOSPC";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EXDEV: return "EXDEV";
	case EIO: return "EIO";
	case EFBIG: return "EFBIG";
	case EDQUOT: return "EDQUOT";
	case EMSGSIZE: return "EMSGSIZE";
	case ECONNRESET: return "ECONNRESET";
	default: {
		static char other[32];
		snprintf(other, sizeof other, "E#%d", e);
		return other;
	}
	}
}

/* A page-aligned heap buffer: its address modulo the page size equals the
 * file offset of every chunk read into it, as with coreutils' buffers. */
static inline void *zt_alloc(size_t n)
{
	void *p = NULL;
	int rc = posix_memalign(&p, ZT_PAGE, n);
	if (rc != 0) {
		errno = rc;
		zt_die("posix_memalign");
	}
	return p;
}

static inline void *zt_map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		zt_die("mmap");
	return p;
}

/* FNV-1a: a checksum that touches every byte, as a program reading its data
 * would. */
static inline uint64_t zt_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define ZT_FNV_INIT 0xcbf29ce484222325ULL

static inline long long zt_pos(int fd)
{
	return (long long)lseek(fd, 0, SEEK_CUR);
}

/* Writes all n bytes, resuming after short counts like coreutils'
 * full_write.  Returns the bytes written; on error *err is set to errno. */
static inline size_t zt_write_all(int fd, const void *buf, size_t n, int *err)
{
	const char *p = buf;
	size_t done = 0;
	*err = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			*err = errno;
			break;
		}
		done += (size_t)w;
	}
	return done;
}

static inline int zt_open_in(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		zt_die(path);
	return fd;
}

static inline int zt_open_out(const char *path, int extra)
{
	if (strcmp(path, "-") == 0)
		return 1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | extra, 0644);
	if (fd < 0)
		zt_die(path);
	return fd;
}

#endif
