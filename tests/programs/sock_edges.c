/*
 * sock_edges - a receiver whose sender is itself: it queues a piece on a
 * loopback TCP (or UNIX stream) connection, reads the socket into a
 * page-aligned buffer and writes what it got to a file, round after round,
 * and prints every read's count or error, so that each read's outcome is
 * fixed by what was queued before it.  Some rounds queue more than plain
 * bytes.
 *
 * usage: sock_edges tcp|unix MODE OUT
 *   urgent     (tcp) rounds 24 and 32 send TCP urgent data in the middle
 *              of the piece (SO_OOBINLINE off: read skips the byte)
 *   inline     the same with SO_OOBINLINE on (read returns the byte)
 *   urgenthead (tcp) rounds 24 and 32 start with the urgent byte, on a
 *              non-blocking socket
 * Prints one line per read, then the total.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "zt.h"

#define ROUNDS 40

static int tcp_pair(int *peer)
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

/* Piece k: 20000 + 997 k bytes of a pattern (never whole pages). */
static void fill(char *p, size_t n, int k)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + (size_t)k) % 26);
}

static void send_all(int fd, const char *p, size_t n, int flags)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, flags);
		if (w <= 0)
			zt_die("send");
		p += w;
		n -= (size_t)w;
	}
}

/* Loopback delivers a send into the peer's queue before it returns; a
 * short wait makes sure of it for the reads that follow. */
static void settle(int s)
{
	struct pollfd pf = { s, POLLIN, 0 };
	poll(&pf, 1, 1000);
	zt_nap_us(2000);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("sock_edges tcp|unix MODE OUT");
	const char *mode = argv[2];
	int peer, s;
	if (strcmp(argv[1], "tcp") == 0)
		s = tcp_pair(&peer);
	else {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			zt_die("socketpair");
		s = sv[0];
		peer = sv[1];
	}
	if (strcmp(argv[1], "tcp") == 0) {
		int one = 1; /* each send is its own segment, at once */
		setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	int urgent = strcmp(mode, "urgent") == 0 || strcmp(mode, "inline") == 0;
	int head = strcmp(mode, "urgenthead") == 0;
	if (strcmp(mode, "inline") == 0) {
		int one = 1;
		if (setsockopt(s, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one) != 0)
			zt_die("SO_OOBINLINE");
	}
	if (head)
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	int out = zt_open_out(argv[3], 0);
	char *buf = zt_alloc(ZT_CHUNK);
	char *piece = zt_malloc(ZT_CHUNK);
	long long total = 0;
	for (int k = 0; k < ROUNDS; k++) {
		size_t n = 20000 + 997 * (size_t)k;
		fill(piece, n, k);
		int special = k == 24 || k == 32;
		if (special && urgent) {
			send_all(peer, piece, n / 2, 0);
			send_all(peer, "!", 1, MSG_OOB);
			send_all(peer, piece + n / 2, n - n / 2, 0);
		} else if (special && head) {
			send_all(peer, "!", 1, MSG_OOB);
			settle(s);
			send_all(peer, piece, n, 0);
		} else
			send_all(peer, piece, n, 0);
		settle(s);
		/* Every byte queued this round is read before the next. */
		for (int tries = 0; tries < 8; tries++) {
			ssize_t r = read(s, buf, ZT_CHUNK);
			int e = errno;
			if (r < 0) {
				printf("round %d read -1 %s\n", k, zt_errname(e));
				if (e != EAGAIN)
					break;
				settle(s);
				continue;
			}
			printf("round %d read %zd\n", k, r);
			total += r;
			zt_put(out, buf, (size_t)r);
			int q = 0;
			if (ioctl(s, FIONREAD, &q) != 0 || q == 0)
				break;
		}
	}
	close(peer);
	ssize_t r = read(s, buf, ZT_CHUNK);
	printf("end %zd total %lld\n", r, total);
	return 0;
}
