/*
 * edge_calls - calls at the edges of what the kernel accepts, made while a
 * stream is engaged (run with ZCOPY_MIN_CHUNK=16384): each mode prints what
 * the program sees, which must be the same with and without zcopy.
 *
 *   1 send() of a range that spans a phantom record split in two
 *   2 read() with a count too large for the address space (EFAULT)
 *   3 writev() with a length that is negative as ssize_t (EINVAL)
 *   4 a write that is short on a non-blocking pipe leaves errno alone
 *   5 munmap() of an unaligned address fails and changes nothing
 *   6 madvise(MADV_DONTNEED) of an unaligned address fails and changes nothing
 *   7 a SIGBUS sent to a program that ignores it is ignored
 *   8 readv() with a length that is negative as ssize_t (EINVAL)
 *   9 fork() from a signal handler that interrupts the copy loop
 *
 * usage: edge_calls MODE   (works in the current directory)
 */
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "zt.h"

#define CH 65536
static char *buf;
static int in, out;

/* Two read->write pairs: the next read of CH bytes is deferred. */
static void warm(void)
{
	for (int i = 0; i < 2; i++) {
		ssize_t r = read(in, buf, CH);
		if (r <= 0 || write(out, buf, (size_t)r) != r)
			zt_die("warm");
	}
}

static void make_src(size_t size)
{
	int fd = open("src", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *d = malloc(size);
	if (fd < 0 || !d)
		zt_die("src");
	for (size_t i = 0; i < size; i++)
		d[i] = (char)('a' + i % 26);
	if (write(fd, d, size) != (ssize_t)size)
		zt_die("write src");
	free(d);
	close(fd);
	in = open("src", O_RDWR);
	if (in < 0)
		zt_die("open src");
}

static volatile long forks;
static void fork_in_handler(int sig)
{
	(void)sig;
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	if (p > 0) {
		waitpid(p, NULL, 0);
		forks++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2)
		zt_usage("edge_calls MODE");
	int mode = atoi(argv[1]);
	make_src(1 << 20);
	buf = mmap(NULL, 1 << 22, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		zt_die("mmap");
	memset(buf, 1, 1 << 22);
	out = open("/dev/null", O_WRONLY);
	switch (mode) {
	case 1: {
		int sv[2], sz = 1 << 22;
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			zt_die("socketpair");
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
		out = sv[0];
		warm();
		ssize_t r = read(in, buf, CH);
		madvise(buf + 4 * 4096, 4096, MADV_NORMAL); /* splits the phantom */
		ssize_t s = send(out, buf, 5 * 4096 + 100, 0);
		printf("read %zd send %zd\n", r, s);
		break;
	}
	case 2: {
		warm();
		volatile size_t huge = SIZE_MAX - 4095; /* not a constant: the compiler would refuse it */
		ssize_t r = read(in, buf, huge);
		printf("read %zd %s offset %lld\n", r, zt_errname(r < 0 ? errno : 0), zt_pos(in));
		break;
	}
	case 3: {
		out = open("dst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		warm();
		if (read(in, buf, CH) != CH)
			zt_die("read");
		struct iovec v[2] = { { buf, CH }, { buf, (size_t)1 << 63 } };
		ssize_t w = writev(out, v, 2);
		printf("writev %zd %s offset %lld\n", w, zt_errname(w < 0 ? errno : 0), zt_pos(out));
		break;
	}
	case 4: {
		int p[2];
		static char sink[1 << 17];
		if (pipe2(p, O_NONBLOCK) < 0)
			zt_die("pipe2");
		for (int i = 0; i < 4; i++) {
			lseek(in, (off_t)i * CH, SEEK_SET);
			ssize_t r = read(in, buf, CH + 100);
			errno = 0;
			ssize_t w = write(p[1], buf, (size_t)r);
			int e = errno;
			printf("write %zd errno %s\n", w, zt_errname(e));
			while (read(p[0], sink, sizeof sink) > 0)
				;
		}
		break;
	}
	case 5: {
		warm();
		if (read(in, buf, CH) != CH)
			zt_die("read");
		int r = munmap(buf + 1, 4096);
		int e = errno;
		pwrite(in, "ZZZZ", 4, 2 * CH); /* the chunk just read: its bytes must stay */
		printf("munmap %d %s buffer %.4s\n", r, zt_errname(r < 0 ? e : 0), buf);
		break;
	}
	case 6: {
		warm();
		if (read(in, buf, CH) != CH)
			zt_die("read");
		int r = madvise(buf + 1, 4096, MADV_DONTNEED);
		int e = errno;
		printf("madvise %d %s buffer %.4s\n", r, zt_errname(r < 0 ? e : 0), buf);
		break;
	}
	case 7:
		signal(SIGBUS, SIG_IGN);
		kill(getpid(), SIGBUS);
		printf("alive\n");
		break;
	case 8: {
		warm();
		char *b2 = malloc(CH);
		struct iovec v[2] = { { buf, CH }, { b2, (size_t)1 << 63 } };
		ssize_t r = readv(in, v, 2);
		printf("readv %zd %s offset %lld\n", r, zt_errname(r < 0 ? errno : 0), zt_pos(in));
		break;
	}
	case 9: {
		signal(SIGALRM, fork_in_handler);
		struct itimerval it = { { 0, 3000 }, { 0, 3000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		/* At least 100 rounds, and on until the handler has forked
		 * (a fast machine did 100 rounds before the first 3 ms tick, so
		 * whether it had forked was timing, not behaviour). */
		for (int round = 0; round < 100 || (!forks && round < 1000000); round++) {
			lseek(in, 0, SEEK_SET);
			ssize_t r;
			while ((r = read(in, buf, CH)) > 0)
				if (write(out, buf, (size_t)r) != r)
					zt_die("write");
		}
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
		printf("done, forked from the handler: %s\n", forks > 0 ? "yes" : "no");
		break;
	}
	default:
		zt_usage("edge_calls MODE (1-9)");
	}
	return 0;
}
