/*
 * peer_gone - a file copied into a loopback TCP connection whose reader
 * takes five chunks and closes.  The sender writes its sixth chunk after
 * the reader is gone: the plain write queues it all and returns its count
 * without a signal (the peer's reset comes back after); only the write
 * after that fails with EPIPE and raises SIGPIPE.  Prints every write's
 * outcome (whether bytes went, not how many: a transfer may take fewer of
 * the sixth chunk's, README "Partial counts") and the SIGPIPEs counted so
 * far.
 *
 * usage: peer_gone handler|default SRC
 *   handler  SIGPIPE is counted by a handler; the copy stops at the first
 *            failed write
 *   default  SIGPIPE has its default action (the program dies of it)
 */
#include <signal.h>
#include <sys/wait.h>

#include "zt.h"

static volatile sig_atomic_t pipes;

static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "handler") != 0 && strcmp(argv[1], "default") != 0))
		zt_usage("peer_gone handler|default SRC");
	setvbuf(stdout, NULL, _IONBF, 0);
	int peer;
	int s = zt_tcp_pair(&peer);
	pid_t kid = zt_fork();
	if (kid == 0) {
		close(s);
		static char b[5 * ZT_CHUNK];
		size_t got = 0;
		ssize_t r;
		while (got < sizeof b && (r = read(peer, b + got, sizeof b - got)) > 0)
			got += (size_t)r;
		_exit(got == sizeof b ? 0 : 1);
	}
	close(peer);
	if (strcmp(argv[1], "handler") == 0) {
		struct sigaction sa = { .sa_handler = on_pipe };
		sigaction(SIGPIPE, &sa, NULL);
	}
	int in = zt_open_in(argv[2]);
	char *buf = zt_alloc(ZT_CHUNK);
	for (int chunk = 1; chunk <= 12; chunk++) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n <= 0)
			break;
		if (chunk == 6) {
			/* The reader has closed and its FIN is here. */
			int st;
			if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				zt_die("reader");
			zt_nap_us(50000);
		}
		ssize_t w = write(s, buf, (size_t)n);
		int e = errno;
		printf("chunk %d: write %s, SIGPIPEs %d\n", chunk,
		       w > 0 ? "sent" : w == 0 ? "0" : zt_errname(e), (int)pipes);
		if (w <= 0)
			break;
	}
	return 0;
}
