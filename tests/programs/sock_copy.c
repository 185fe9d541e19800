/*
 * sock_copy - read() from a file and send() the bytes over a UNIX stream
 * socketpair; a forked receiver recv()s them into DST.  This is how file
 * servers feed a connection.
 *
 * usage: sock_copy SRC DST
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "zt.h"

static void receive(int sock, const char *dst)
{
	int out = zt_open_out(dst, 0);
	char *buf = zt_malloc(65536);
	long long total = 0;
	for (;;) {
		ssize_t n = zt_recv(sock, buf, 65536, 1, "recv");
		if (n == 0)
			break;
		zt_put(out, buf, (size_t)n);
		total += n;
	}
	printf("received %lld\n", total);
	exit(0);
}

/* send(2) until all of buf went, resuming after EINTR and short counts. */
static void send_all(int sock, const void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t w = send(sock, (const char *)buf + done, n - done, 0);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			zt_die("send");
		}
		done += (size_t)w;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("sock_copy SRC DST");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		zt_die("socketpair");
	pid_t pid = zt_fork_reader(sv[0], sv[1], receive, argv[2]);

	int in = zt_open_in(argv[1]);
	long long total = zt_copy_by(in, sv[0], zt_alloc(ZT_CHUNK), ZT_CHUNK, send_all);
	if (shutdown(sv[0], SHUT_WR) != 0)
		zt_die("shutdown");
	int st;
	if (waitpid(pid, &st, 0) != pid)
		zt_die("waitpid");
	printf("sent %lld src_off %lld receiver_status %d\n", total, zt_pos(in), st);
	return 0;
}
