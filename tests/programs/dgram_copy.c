/*
 * dgram_copy - read()s a file in 128 KiB chunks and write()s each chunk as
 * one datagram on a UNIX SOCK_DGRAM socketpair; a forked receiver prints the
 * size of every datagram and stores the bytes in DST.  Datagram boundaries
 * are part of the data: each write must stay exactly one datagram.
 *
 * usage: dgram_copy SRC DST
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "zt.h"

/* One write(2) is one datagram: it goes whole or the program stops. */
static void put_datagram(int sock, const void *buf, size_t n)
{
	ssize_t w = write(sock, buf, n);
	if (w != (ssize_t)n) {
		fprintf(stderr, "datagram write returned %zd (%s) for %zu\n", w,
			w < 0 ? zt_errname(errno) : "short", n);
		exit(4);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("dgram_copy SRC DST");
	int in = zt_open_in(argv[1]);
	struct stat st;
	if (fstat(in, &st) != 0)
		zt_die("fstat");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0)
		zt_die("socketpair");
	/* Room for a whole 128 KiB datagram. */
	int sz = 4 * ZT_CHUNK;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	pid_t pid = zt_fork();
	if (pid == 0) {
		/* The receiver knows how much to expect: a datagram socket has
		 * no end-of-stream. */
		close(sv[0]);
		int out = zt_open_out(argv[2], 0);
		char *rbuf = zt_malloc(2 * ZT_CHUNK);
		long long got = 0;
		unsigned count = 0;
		while (got < st.st_size) {
			ssize_t n = zt_recv(sv[1], rbuf, 2 * ZT_CHUNK, 1, "recv");
			printf("datagram %u size %zd\n", count++, n);
			zt_put(out, rbuf, (size_t)n);
			got += n;
		}
		printf("received %u datagrams %lld bytes\n", count, got);
		exit(0);
	}
	close(sv[1]);
	long long total = zt_copy_by(in, sv[0], zt_alloc(ZT_CHUNK), ZT_CHUNK, put_datagram);
	int ws;
	if (waitpid(pid, &ws, 0) != pid)
		zt_die("waitpid");
	printf("sent %lld src_off %lld receiver_status %d\n", total, zt_pos(in), ws);
	return 0;
}
