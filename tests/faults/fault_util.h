/*
 * fault_util.h - helpers shared by the fault-injection programs in
 * tests/faults: error names, page-aligned heap buffers, a byte hash, and a
 * "sink": a pipe, UNIX stream socket or TCP loopback connection whose far
 * end is read by a forked child at a chosen pace, optionally only up to a
 * byte limit (a consumer that leaves early).
 *
 * Each program prints only what must be the same with and without libzcopy
 * on stdout; counts that depend on timing (EINTRs, EAGAINs, short writes) go
 * to stderr, which the tests do not compare.  Header-only, so each program
 * is one translation unit.
 */
#ifndef FT_UTIL_H
#define FT_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* coreutils' buffer size: the reads the engine is meant to defer. */
#define FT_CHUNK (128 * 1024)
#define FT_PAGE 4096

/* Unexpected failure of the test program itself: exit 99, a status no
 * scenario produces on purpose. */
static inline void ft_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(99);
}

/* Names, not numbers, so that a difference between runs reads plainly. */
static inline const char *ft_errname(int e)
{
	switch (e) {
	case 0: return "OK";
	case EPIPE: return "EPIPE";
	case EAGAIN: return "EAGAIN";
	case ENOSPC: return "ENOSPC";
	case EINTR: return "EINTR";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case ECONNRESET: return "ECONNRESET";
	case EFBIG: return "EFBIG";
	default: {
		static char other[32];
		snprintf(other, sizeof other, "E#%d", e);
		return other;
	}
	}
}

/* Page-aligned heap memory (posix_memalign: private anonymous pages, not a
 * stack), so every chunk read at a page-multiple offset may be deferred. */
static inline void *ft_alloc(size_t n)
{
	void *p = NULL;
	int rc = posix_memalign(&p, FT_PAGE, n);
	if (rc != 0) {
		errno = rc;
		ft_die("posix_memalign");
	}
	return p;
}

/* FNV-1a over every byte. */
#define FT_FNV_INIT 0xcbf29ce484222325ULL
static inline uint64_t ft_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static inline void ft_nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* How the child at the far end of a sink reads. */
struct ft_reader {
	size_t piece;      /* bytes per read */
	long nap_us;       /* pause after each read: a slow consumer */
	long long limit;   /* leave after this many bytes (0 = read to EOF) */
	const char *save;  /* file to store what was received, or NULL */
	long long hold_at; /* after this many bytes (0 = never), stop reading */
	int resume_fd;     /* ... until a byte or EOF arrives here */
	int drop[3];       /* the parent's descriptors the child closes (-1 = none) */
};

/* The child's side: reads, then prints "reader got N hash H" and exits.
 * Leaving while data is still queued is the point of a limit: the writer
 * then sees EPIPE (pipe) or a reset (TCP). */
static inline void ft_reader_run(int fd, const struct ft_reader *r)
{
	char *buf = malloc(r->piece);
	int out = -1;
	if (!buf)
		ft_die("malloc");
	if (r->save && (out = open(r->save, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		ft_die(r->save);
	long long got = 0, hold = r->hold_at;
	uint64_t h = FT_FNV_INIT;
	for (;;) {
		size_t want = r->piece;
		if (r->limit && (long long)want > r->limit - got)
			want = (size_t)(r->limit - got);
		if (hold && got == hold) {
			char c;
			while (read(r->resume_fd, &c, 1) < 0 && errno == EINTR)
				;
			hold = 0;
		}
		if (hold && (long long)want > hold - got)
			want = (size_t)(hold - got);
		if (want == 0)
			break;
		ssize_t n = read(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ft_die("reader read");
		}
		if (n == 0)
			break;
		h = ft_fnv(h, buf, (size_t)n);
		if (out >= 0 && write(out, buf, (size_t)n) != n)
			ft_die("reader save");
		got += n;
		if (r->nap_us)
			ft_nap_us(r->nap_us);
	}
	printf("reader got %lld hash %016llx\n", got, (unsigned long long)h);
	fflush(stdout);
	_exit(0);
}

/*
 * Opens a sink of kind "pipe", "unix" or "tcp" and forks its reader;
 * returns the descriptor to write to and sets *child.  stdout is flushed
 * first so the child does not inherit buffered output.
 */
static inline int ft_sink(const char *kind, const struct ft_reader *r, pid_t *child)
{
	int fds[2], lsock = -1;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	fflush(stdout);
	if (strcmp(kind, "pipe") == 0) {
		if (pipe(fds) != 0)
			ft_die("pipe");
	} else if (strcmp(kind, "unix") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
			ft_die("socketpair");
	} else if (strcmp(kind, "tcp") == 0) {
		lsock = socket(AF_INET, SOCK_STREAM, 0);
		/* A bounded receive window (inherited by the accepted socket):
		 * loopback buffers may otherwise grow to hold the whole copy, and
		 * the writer would never wait for the slow reader. */
		int rcv = 128 * 1024;
		if (lsock < 0 || setsockopt(lsock, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) != 0)
			ft_die("tcp socket");
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(lsock, (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    listen(lsock, 1) != 0 || getsockname(lsock, (struct sockaddr *)&sa, &sl) != 0)
			ft_die("tcp listen");
	} else {
		fprintf(stderr, "unknown sink %s\n", kind);
		_exit(98);
	}
	pid_t pid = fork();
	if (pid < 0)
		ft_die("fork");
	if (pid == 0) {
		int fd;
		for (int i = 0; i < 3; i++)
			if (r->drop[i] >= 0)
				close(r->drop[i]);
		if (lsock >= 0) {
			fd = accept(lsock, NULL, NULL);
			if (fd < 0)
				ft_die("accept");
			close(lsock);
		} else {
			close(fds[1]);
			fd = fds[0];
		}
		ft_reader_run(fd, r);
	}
	*child = pid;
	if (lsock >= 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			ft_die("tcp connect");
		close(lsock);
		return fd;
	}
	close(fds[0]);
	return fds[1];
}

/* Tagged files (fault_midwrite.c, fault_blocked.c): every 8-byte word holds
 * a tag in its top byte and its own offset, so a reader can tell which file
 * and which place each received word came from. */
static inline uint64_t ft_word(int tag, uint64_t off)
{
	return (uint64_t)tag << 56 | off;
}

static inline void ft_make_tagged(const char *path, int tag, size_t n)
{
	static uint64_t block[8192];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		ft_die(path);
	for (size_t off = 0; off < n; off += sizeof block) {
		for (size_t i = 0; i < 8192; i++)
			block[i] = ft_word(tag, off + i * 8);
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			ft_die("write tagged file");
	}
	close(fd);
}

#endif
