/*
 * pread_loop - copies with pread() at explicit offsets and write(), the way
 * servers and parallel copiers do; the source's file offset never moves.
 *
 * usage: pread_loop SRC DST
 * Prints bytes copied and both file offsets (the source's must stay 0).
 */
#include "zt.h"

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 2, "pread_loop SRC DST", &in, &out);
	char *buf = zt_alloc(ZT_CHUNK);
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(in, buf, ZT_CHUNK, off);
		if (n < 0)
			zt_die("pread");
		if (n == 0)
			break;
		zt_put(out, buf, (size_t)n);
		off += n;
	}
	printf("copied %lld src_off %lld dst_off %lld\n", (long long)off, zt_pos(in), zt_pos(out));
	return 0;
}
