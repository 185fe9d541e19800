/*
 * tiny.c - the worst case for a per-call interposer: copy a file one byte at
 * a time, read(fd, buf, 1) then write(fd, buf, 1), millions of times.
 *
 *   tiny [-n BYTES] SRC [DST]
 *
 * Copies at most BYTES bytes (-n, else TINY_BYTES, else 4 MiB; "4M"-style
 * suffixes accepted) of SRC to DST (default /dev/null).  At the end it prints
 * "BYTES HASH" on stdout: the count and the bench hash of the bytes whose
 * write succeeded.  The destination is usually /dev/null, where nothing can
 * be checked afterwards, so this line is what lets the caller prove that
 * every variant moved the same bytes.
 *
 * Nothing else happens per byte but a one-byte hash step, so the loop's cost
 * is the two calls themselves plus whatever sits between the program and
 * libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_BYTES (4ULL << 20)

static void usage(void)
{
	fprintf(stderr, "usage: tiny [-n BYTES] SRC [DST]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *lim = getenv("TINY_BYTES");
	const char *src, *dst = "/dev/null";
	uint64_t limit = DEFAULT_BYTES, done = 0;
	struct bhash h;
	/* A static buffer, like a program's global scratch byte: the interposer
	 * sees an ordinary data address rather than a stack one. */
	static char buf[1];
	int in, out, opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n')
			usage();
		lim = optarg;
	}
	if (lim && *lim && !(limit = parse_size(lim)))
		usage();
	if (argc - optind < 1 || argc - optind > 2)
		usage();
	src = argv[optind];
	if (argc - optind == 2)
		dst = argv[optind + 1];

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "tiny: %s: %s\n", src, strerror(errno));
		return 1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "tiny: %s: %s\n", dst, strerror(errno));
		return 1;
	}
	bhash_init(&h);
	while (done < limit) {
		ssize_t r = read(in, buf, 1);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tiny: read: %s\n", strerror(errno));
			return 1;
		}
		for (;;) {
			ssize_t w = write(out, buf, 1);
			if (w == 1)
				break;
			if (w < 0 && errno == EINTR)
				continue;
			fprintf(stderr, "tiny: write: %s\n", w < 0 ? strerror(errno) : "short write");
			return 1;
		}
		bhash_update(&h, buf, 1);
		done++;
	}
	if (close(out) < 0) {
		fprintf(stderr, "tiny: close %s: %s\n", dst, strerror(errno));
		return 1;
	}
	close(in);
	printf("%" PRIu64 " %016" PRIx64 "\n", done, bhash_final(&h));
	return 0;
}
