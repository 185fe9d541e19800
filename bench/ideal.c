/*
 * ideal.c - the "ideal program" of the benchmark: what a hand-written
 * zero-copy tool would do with the same chunk size.  One kernel call per
 * chunk, always with an explicit source offset (as zcopy does), chosen by
 * the kind of the destination:
 *   pipe          splice(file -> pipe)
 *   regular file  copy_file_range (sendfile after EXDEV or a refusal)
 *   anything else sendfile (/dev/null, stream sockets)
 * It is the upper bound zcopy is measured against, not a peer.
 *
 * SRC "-" is standard input.  When that is a stream socket (the socket
 * scenarios) the program is the hand-written receiver or relay: each chunk
 * is one splice of the socket into a pipe of CHUNK bytes (taking what a
 * read of CHUNK would return), then splices of the pipe to the
 * destination, whatever it is.  The harness also runs it with a file
 * source as the sender of those scenarios (sendfile into the socket).
 *
 * usage: ideal [-b CHUNK] SRC [DST]      (DST omitted: stdout)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

enum how { H_SPLICE, H_CFR, H_SENDFILE };

static void die(const char *what)
{
	fprintf(stderr, "ideal: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Moves up to len bytes from in at *off; returns the kernel's answer. */
static ssize_t move(enum how how, int in, loff_t *off, int out, size_t len)
{
	switch (how) {
	case H_SPLICE:
		return splice(in, off, out, NULL, len, 0);
	case H_CFR:
		return copy_file_range(in, off, out, NULL, len, 0);
	default:
		return sendfile(out, in, off, len);
	}
}

/* socket -> pipe -> out, one read-sized splice per chunk. */
static void from_socket(int in, int out, size_t chunk)
{
	int p[2];

	if (pipe(p) < 0)
		die("pipe");
	/* A pipe as large as a chunk, so one splice takes what one read would
	 * (pipe-max-size permitting; a smaller pipe only means shorter reads). */
	fcntl(p[1], F_SETPIPE_SZ, (int)chunk);
	for (;;) {
		ssize_t n = splice(in, NULL, p[1], NULL, chunk, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("splice from the socket");
		if (n == 0)
			return;
		while (n > 0) {
			ssize_t w = splice(p[0], NULL, out, NULL, (size_t)n, SPLICE_F_MOVE);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				die("splice to the destination");
			n -= w;
		}
	}
}

int main(int argc, char **argv)
{
	size_t chunk = 128 * 1024;
	int in, out = 1;
	struct stat ost, ist;
	enum how how;
	loff_t off = 0;

	bench_args(argc, argv, "b:", "ideal [-b CHUNK] SRC [DST]", &chunk, NULL);
	in = strcmp(argv[optind], "-") == 0 ? 0 : open(argv[optind], O_RDONLY);
	if (in < 0 || fstat(in, &ist) < 0)
		die(argv[optind]);
	if (optind + 1 < argc) {
		out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0)
			die(argv[optind + 1]);
	}
	if (fstat(out, &ost) < 0)
		die("fstat");
	if (S_ISSOCK(ist.st_mode)) {
		from_socket(in, out, chunk);
		goto done;
	}
	how = S_ISFIFO(ost.st_mode) ? H_SPLICE : S_ISREG(ost.st_mode) ? H_CFR : H_SENDFILE;

	for (;;) {
		size_t left = chunk;
		ssize_t n = 0;
		/* One chunk; a pipe or socket may take it in several pieces. */
		while (left) {
			n = move(how, in, &off, out, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (how == H_CFR && (n < 0 || (n == 0 && off < ist.st_size)) &&
			    (n == 0 || errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			     errno == EOPNOTSUPP || errno == EPERM)) {
				how = H_SENDFILE; /* other fs, or the fs refuses */
				continue;
			}
			if (n < 0)
				die("transfer");
			if (n == 0)
				break;
			left -= (size_t)n;
		}
		if (n == 0)
			break;
	}
done:
	if (close(out) < 0)
		die("close");
	close(in);
	return 0;
}
