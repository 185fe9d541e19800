/*
 * send_nosignal - read() from a file and send(..., MSG_NOSIGNAL) the bytes
 * over a UNIX stream socketpair whose receiver leaves after 1 MiB.  With
 * SIGPIPE at its default action, the program must see EPIPE and live: a
 * redirected send must not raise the SIGPIPE the flag asked to suppress.
 *
 * usage: send_nosignal SRC
 * prints: "send: peer gone" (or what else send failed with) and exits 3.
 *
 * A UNIX socket whose peer closed with data unread reports EPIPE, or
 * ECONNRESET to a send that was already waiting for buffer space when the
 * peer went; which one is timing, so both print as "peer gone".
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 2)
		zt_usage("send_nosignal SRC");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		zt_die("socketpair");
	pid_t pid = fork();
	if (pid < 0)
		zt_die("fork");
	if (pid == 0) {
		close(sv[0]);
		static char sink[65536];
		long long got = 0;
		while (got < 1024 * 1024) {
			ssize_t n = recv(sv[1], sink, sizeof sink, 0);
			if (n <= 0)
				break;
			got += n;
		}
		_exit(0); /* closes the socket with data unread: the sender gets EPIPE */
	}
	close(sv[1]);
	int in = open(argv[1], O_RDONLY);
	if (in < 0)
		zt_die("open");
	char *buf = zt_alloc(ZT_CHUNK);
	int err = 0;
	for (;;) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n && !err;) {
			ssize_t w = send(sv[0], buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				err = errno;
			else
				off += w;
		}
		if (err)
			break;
	}
	int st;
	waitpid(pid, &st, 0);
	printf("send: %s\n", err == EPIPE || err == ECONNRESET ? "peer gone" : zt_errname(err));
	return err ? 3 : 0;
}
