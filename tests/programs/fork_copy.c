/*
 * fork_copy - forks in the middle of a copy, between a read and its write.
 * The child writes that chunk and copies the rest through the shared file
 * descriptors (so it continues at the shared offsets); the parent waits,
 * then checks that its own copy of the buffer still holds the chunk and
 * writes it to a second file.
 *
 * usage: fork_copy SRC DST DST2
 */
#include <sys/wait.h>

#include "zt.h"

#define FORK_AT 8 /* chunk index: well after a copy loop is recognised */

static long long copy_rest(int in, int out, char *buf, ssize_t pending)
{
	long long total = 0;
	for (;;) {
		ssize_t n = pending;
		pending = 0;
		if (n == 0)
			n = read(in, buf, ZT_CHUNK);
		if (n < 0)
			zt_die("read");
		if (n == 0)
			return total;
		zt_put(out, buf, (size_t)n);
		total += n;
	}
}

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 3, "fork_copy SRC DST DST2", &in, &out);
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0;
	ssize_t n = 0;
	for (int i = 0; i <= FORK_AT; i++) {
		n = read(in, buf, ZT_CHUNK);
		if (n != ZT_CHUNK) {
			fprintf(stderr, "source too small\n");
			return 2;
		}
		if (i == FORK_AT)
			break;
		zt_put(out, buf, (size_t)n);
		total += n;
	}
	pid_t pid = zt_fork();
	if (pid == 0) {
		long long rest = copy_rest(in, out, buf, n);
		printf("child copied %lld\n", rest);
		exit(0);
	}
	int ws;
	if (waitpid(pid, &ws, 0) != pid)
		zt_die("waitpid");
	printf("parent copied %lld child_status %d src_off %lld dst_off %lld\n", total, ws,
	       zt_pos(in), zt_pos(out));

	char *check = zt_alloc(ZT_CHUNK);
	if (pread(in, check, ZT_CHUNK, (off_t)FORK_AT * ZT_CHUNK) != ZT_CHUNK)
		zt_die("pread");
	printf("parent buffer holds chunk %d: %s\n", FORK_AT,
	       memcmp(buf, check, ZT_CHUNK) == 0 ? "yes" : "NO");
	int out2 = zt_open_out(argv[3], 0);
	zt_put(out2, buf, ZT_CHUNK);
	printf("src_off after %lld\n", zt_pos(in));
	return 0;
}
