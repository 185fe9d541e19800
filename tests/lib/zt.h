/*
 * zt.h - helpers shared by the test programs (tests/programs) and the
 * fault-injection programs (tests/faults): error names, page-aligned
 * buffers, a byte hash, copy loops that die on unexpected errors, and a
 * "sink": a pipe, UNIX stream socket or TCP loopback connection whose far
 * end is read by a forked child at a chosen pace, optionally only up to a
 * byte limit (a consumer that leaves early).
 *
 * Each program copies data the way some real tool does and prints what it
 * observed (return values, errno names, file offsets, checksums) so that a
 * run under libzcopy can be compared with a run without it.  The fault
 * programs print only what must be the same with and without libzcopy on
 * stdout; counts that depend on timing (EINTRs, EAGAINs, short writes) go
 * to stderr, which the tests do not compare.  Everything here is
 * header-only so each program stays a single translation unit.
 */
#ifndef ZT_COMMON_H
#define ZT_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The buffer size real tools use (coreutils cat, cp, split: 128 KiB). */
#define ZT_CHUNK (128 * 1024)
#define ZT_PAGE 4096

/* Unexpected failure of the program itself: say what failed on stderr and
 * exit 99, a status no scenario produces on purpose.  _exit, after flushing
 * stdout, so a forked reader or child never runs its parent's exit
 * handlers or flushes its parent's buffers a second time. */
static inline void zt_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(99);
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

/* zt_write_all that dies on an error, for loops with nothing to report
 * about a failed write. */
static inline void zt_put(int fd, const void *buf, size_t n)
{
	int err;
	zt_write_all(fd, buf, n, &err);
	if (err) {
		errno = err;
		zt_die("write");
	}
}

/* Reads the non-blocking rd until it is empty and prints "WHAT: drained N
 * bytes, hash H" (FNV-1a of the bytes). */
static inline void zt_drain_report(int rd, const char *what)
{
	static char b[65536];
	long long total = 0;
	uint64_t h = ZT_FNV_INIT;
	ssize_t k;
	while ((k = read(rd, b, sizeof b)) > 0) {
		total += k;
		h = zt_fnv(h, b, (size_t)k);
	}
	printf("%s: drained %lld bytes, hash %016llx\n", what, total, (unsigned long long)h);
}

/* Fills an empty pipe of 16 pages but `room` pages, a page per write (each
 * too small for zcopy to take part). */
static inline void zt_fill_pipe(int wr, int room)
{
	static char page[4096];
	for (int i = 0; i < 16 - room; i++)
		zt_put(wr, page, sizeof page);
}

/* One read(2) that dies on an error; 0 at the end of the file. */
static inline ssize_t zt_read(int fd, void *buf, size_t n)
{
	ssize_t r = read(fd, buf, n);
	if (r < 0)
		zt_die("read");
	return r;
}

/* The copy loop of cat and cp: chunk-sized reads into buf, each handed to
 * put (which writes it whole to out, or dies), until the end of the input.
 * Returns the bytes copied. */
typedef void zt_put_fn(int out, const void *buf, size_t n);
static inline long long zt_copy_by(int in, int out, void *buf, size_t chunk, zt_put_fn *put)
{
	long long total = 0;
	for (;;) {
		ssize_t n = zt_read(in, buf, chunk);
		if (n == 0)
			break;
		put(out, buf, (size_t)n);
		total += n;
	}
	return total;
}

static inline long long zt_copy(int in, int out, void *buf, size_t chunk)
{
	return zt_copy_by(in, out, buf, chunk, zt_put);
}

/* malloc that dies on failure. */
static inline void *zt_malloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		zt_die("malloc");
	return p;
}

/* A read or recv on a pipe or socket, resumed after EINTR; dies on any
 * other error. */
static inline ssize_t zt_recv(int fd, void *buf, size_t n, int sock, const char *what)
{
	for (;;) {
		ssize_t r = sock ? recv(fd, buf, n, 0) : read(fd, buf, n);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			zt_die(what);
	}
}

/* fork(2) with stdout flushed first, so the child does not print what the
 * parent buffered; dies on failure. */
static inline pid_t zt_fork(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		zt_die("fork");
	return pid;
}

/* Forks a child that closes mine (the parent's end) and runs reader on
 * theirs, its end of a pipe or socket pair; reader must not return.  The
 * parent closes theirs.  Returns the child's pid. */
static inline pid_t zt_fork_reader(int mine, int theirs, void (*reader)(int fd, const char *dst),
				   const char *dst)
{
	pid_t pid = zt_fork();
	if (pid == 0) {
		close(mine);
		reader(theirs, dst);
		_exit(97);
	}
	close(theirs);
	return pid;
}

/* A connected loopback TCP pair: returns the accepted end, *peer the
 * connecting one. */
static inline int zt_tcp_pair(int *peer)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) != 0)
		zt_die("listen");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0)
		zt_die("connect");
	int s = accept(l, NULL, NULL);
	if (s < 0)
		zt_die("accept");
	close(l);
	*peer = c;
	return s;
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

/* A thread that sends sig to target as fast as it can, spins of a busy
 * loop apart, from zt_storm_begin to zt_storm_end: signals that land at
 * any point of the target's calls. */
struct zt_storm {
	pthread_t thread, target;
	int sig, spins;
	volatile int stop;
};

static inline void *zt_storm_run(void *arg)
{
	struct zt_storm *s = (struct zt_storm *)arg;
	while (!s->stop) {
		pthread_kill(s->target, s->sig);
		for (volatile int i = 0; i < s->spins; i++)
			;
	}
	return NULL;
}

static inline void zt_storm_begin(struct zt_storm *s, pthread_t target, int sig, int spins)
{
	s->target = target;
	s->sig = sig;
	s->spins = spins;
	s->stop = 0;
	if (pthread_create(&s->thread, NULL, zt_storm_run, s) != 0)
		zt_die("pthread_create");
}

static inline void zt_storm_end(struct zt_storm *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
}

static inline void zt_nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The system call thread tid of this process sleeps in, or -1 when it is
 * running or not in one (/proc/self/task/TID/syscall).  Raw system calls:
 * the caller stays out of everything a preloaded library might see. */
static inline long zt_task_sleeps_in(pid_t tid)
{
	char path[64], text[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long n = syscall(SYS_read, fd, text, sizeof text - 1);
	syscall(SYS_close, fd);
	if (n <= 0 || text[0] < '0' || text[0] > '9')
		return -1;
	text[n] = 0;
	return strtol(text, NULL, 10);
}

/* How the child at the far end of a sink reads. */
struct zt_reader {
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
static inline void zt_reader_run(int fd, const struct zt_reader *r)
{
	char *buf = zt_malloc(r->piece);
	int out = -1;
	if (r->save && (out = open(r->save, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		zt_die(r->save);
	long long got = 0, hold = r->hold_at;
	uint64_t h = ZT_FNV_INIT;
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
		ssize_t n = zt_recv(fd, buf, want, 0, "reader read");
		if (n == 0)
			break;
		h = zt_fnv(h, buf, (size_t)n);
		if (out >= 0 && write(out, buf, (size_t)n) != n)
			zt_die("reader save");
		got += n;
		if (r->nap_us)
			zt_nap_us(r->nap_us);
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
static inline int zt_sink(const char *kind, const struct zt_reader *r, pid_t *child)
{
	int fds[2], lsock = -1;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	fflush(stdout);
	if (strcmp(kind, "pipe") == 0) {
		if (pipe(fds) != 0)
			zt_die("pipe");
	} else if (strcmp(kind, "unix") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
			zt_die("socketpair");
	} else if (strcmp(kind, "tcp") == 0) {
		lsock = socket(AF_INET, SOCK_STREAM, 0);
		/* A bounded receive window (inherited by the accepted socket):
		 * loopback buffers may otherwise grow to hold the whole copy, and
		 * the writer would never wait for the slow reader. */
		int rcv = 128 * 1024;
		if (lsock < 0 || setsockopt(lsock, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) != 0)
			zt_die("tcp socket");
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(lsock, (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    listen(lsock, 1) != 0 || getsockname(lsock, (struct sockaddr *)&sa, &sl) != 0)
			zt_die("tcp listen");
	} else {
		fprintf(stderr, "unknown sink %s\n", kind);
		_exit(98);
	}
	pid_t pid = fork();
	if (pid < 0)
		zt_die("fork");
	if (pid == 0) {
		int fd;
		for (int i = 0; i < 3; i++)
			if (r->drop[i] >= 0)
				close(r->drop[i]);
		if (lsock >= 0) {
			fd = accept(lsock, NULL, NULL);
			if (fd < 0)
				zt_die("accept");
			close(lsock);
		} else {
			close(fds[1]);
			fd = fds[0];
		}
		zt_reader_run(fd, r);
	}
	*child = pid;
	if (lsock >= 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			zt_die("tcp connect");
		close(lsock);
		return fd;
	}
	close(fds[0]);
	return fds[1];
}

/* Tagged files (fault_midwrite.c, fault_blocked.c): every 8-byte word holds
 * a tag in its top byte and its own offset, so a reader can tell which file
 * and which place each received word came from. */
static inline uint64_t zt_word(int tag, uint64_t off)
{
	return (uint64_t)tag << 56 | off;
}

static inline void zt_make_tagged(const char *path, int tag, size_t n)
{
	static uint64_t block[8192];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		zt_die(path);
	for (size_t off = 0; off < n; off += sizeof block) {
		for (size_t i = 0; i < 8192; i++)
			block[i] = zt_word(tag, off + i * 8);
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			zt_die("write tagged file");
	}
	close(fd);
}

/* The start of most programs: exactly argc - 1 == nargs arguments (else
 * the usage line and exit 98), SRC (argv[1]) opened for reading and DST
 * (argv[2]) for writing. */
static inline void zt_start(int argc, char **argv, int nargs, const char *usage, int *in,
			    int *out)
{
	if (argc != nargs + 1)
		zt_usage(usage);
	*in = zt_open_in(argv[1]);
	*out = zt_open_out(argv[2], 0);
}

#endif
