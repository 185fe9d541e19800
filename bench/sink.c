/*
 * sink.c - the consumer at the far end of the pipe and TCP scenarios; the
 * same one serves the plain, zcopy, ideal and peer runs.
 *
 * Timed runs discard cheaply so the copier, not the consumer, is what gets
 * measured: a pipe is spliced to /dev/null (no copy to user memory); a
 * socket (which splice cannot send to /dev/null directly) is read() in 1 MiB
 * chunks.  With -H every byte is read() and hashed instead (the untimed
 * verification run).  At EOF it prints "BYTES HASH" on stdout.
 *
 * usage: sink [-H] < pipe-or-socket > result
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define BUFSZ (1024 * 1024)

int main(int argc, char **argv)
{
	int hash = argc > 1 && strcmp(argv[1], "-H") == 0;
	uint64_t total = 0;
	struct bhash h;
	struct stat st;
	char *buf;

	bhash_init(&h);
	if (!hash && fstat(0, &st) == 0 && S_ISFIFO(st.st_mode)) {
		int null = open("/dev/null", O_WRONLY);
		for (;;) {
			ssize_t n = splice(0, NULL, null, NULL, BUFSZ, SPLICE_F_MOVE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break; /* splice refused: finish with read() below */
			if (n == 0)
				goto done;
			total += (uint64_t)n;
		}
	}
	buf = malloc(BUFSZ);
	if (!buf)
		return 1;
	for (;;) {
		ssize_t n = read(0, buf, BUFSZ);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("sink: read");
			return 1;
		}
		if (n == 0)
			break;
		if (hash)
			bhash_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
done:
	printf("%" PRIu64 " %016" PRIx64 "\n", total, hash ? bhash_final(&h) : 0);
	return 0;
}
