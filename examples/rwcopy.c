/*
 * rwcopy - a legacy-style copier: read() into a buffer, write() it out.
 *
 *   rwcopy [-b BYTES] SRC [DST]      (DST defaults to standard output)
 *
 * This is the loop zcopy is built for: nothing in it knows about zero copy.
 * The buffer is page-aligned, as in most file tools (coreutils, dd, socat).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t bs = 128 * 1024;
	int opt;
	while ((opt = getopt(argc, argv, "b:")) != -1) {
		if (opt != 'b' || (bs = strtoul(optarg, NULL, 0)) == 0) {
			fprintf(stderr, "usage: rwcopy [-b BYTES] SRC [DST]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: rwcopy [-b BYTES] SRC [DST]\n");
		return 2;
	}
	int in = open(argv[optind], O_RDONLY);
	int out = optind + 1 < argc ? open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644) : 1;
	if (in < 0 || out < 0) {
		perror("rwcopy: open");
		return 1;
	}
	char *buf;
	if (posix_memalign((void **)&buf, 4096, bs)) {
		perror("rwcopy: posix_memalign");
		return 1;
	}
	for (;;) {
		ssize_t n = read(in, buf, bs);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("rwcopy: read");
			return 1;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				perror("rwcopy: write");
				return 1;
			}
			off += w;
		}
	}
	free(buf);
	return close(out) == 0 ? 0 : 1;
}
