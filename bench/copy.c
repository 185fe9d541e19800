/*
 * copy.c - the "legacy program" of the benchmark: a plain read()/write() loop
 * with a page-aligned CHUNK-byte buffer, from a file to stdout or to a named
 * output path.  It knows nothing about zcopy; the harness runs it with the
 * shim preloaded (ZCOPY_MODE=on or off) or without it.
 *
 * With -s the same loop uses stdio: fread() from a FILE of SRC, fwrite() to
 * a FILE of DST or stdout, each with glibc's default buffer.
 *
 * SRC "-" is standard input, which the socket scenarios connect to a
 * loopback TCP connection: the receiver or relay that reads what arrives.
 *
 * usage: copy [-s] [-b CHUNK] SRC [DST]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "copy: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	exit(1);
}

/* The stdio loop of -s. */
static int stdio_copy(const char *src, const char *dst, size_t chunk)
{
	FILE *in = fopen(src, "rb");
	FILE *out = dst ? fopen(dst, "wb") : stdout;
	void *buf;
	size_t n;
	if (!in)
		die("fopen", src);
	if (!out)
		die("fopen", dst);
	errno = posix_memalign(&buf, (size_t)sysconf(_SC_PAGESIZE), chunk);
	if (errno)
		die("posix_memalign", NULL);
	while ((n = fread(buf, 1, chunk, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			die("fwrite", NULL);
	if (ferror(in))
		die("fread", src);
	if (fclose(out) != 0)
		die("fclose", NULL);
	fclose(in);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	size_t chunk = 128 * 1024;
	int in, out = 1;
	void *buf;

	int use_stdio = 0;
	bench_args(argc, argv, "sb:", "copy [-s] [-b CHUNK] SRC [DST]", &chunk, &use_stdio);
	if (use_stdio)
		return stdio_copy(argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL, chunk);
	in = strcmp(argv[optind], "-") == 0 ? 0 : open(argv[optind], O_RDONLY);
	if (in < 0)
		die("open", argv[optind]);
	if (optind + 1 < argc) {
		out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0)
			die("open", argv[optind + 1]);
	}
	/* Page-aligned, as the I/O buffers of most copy tools are. */
	errno = posix_memalign(&buf, (size_t)sysconf(_SC_PAGESIZE), chunk);
	if (errno)
		die("posix_memalign", NULL);

	for (;;) {
		ssize_t n = read(in, buf, chunk), done = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read", argv[optind]);
		if (n == 0)
			break;
		while (done < n) { /* a pipe or socket may take less than asked */
			ssize_t w = write(out, (char *)buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				die("write", NULL);
			done += w;
		}
	}
	free(buf);
	if (close(out) < 0)
		die("close", NULL);
	close(in);
	return 0;
}
