/*
 * fd_reuse - between a read and its write, closes the source and opens
 * another file, which gets the same descriptor number; then writes the
 * buffer and copies the rest from the new file.  The bytes written for that
 * chunk must be the first file's (those the program read), never the second
 * file's at the same offset.
 *
 * usage: fd_reuse SRC1 SRC2 DST
 * Output: SRC1's first SWAP_AT+1 chunks, then all of SRC2.
 */
#include "zt.h"

#define SWAP_AT 6

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("fd_reuse SRC1 SRC2 DST");
	int in = zt_open_in(argv[1]);
	int out = zt_open_out(argv[3], 0);
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0;
	for (int i = 0;; i++) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		if (i == SWAP_AT) {
			int old = in;
			close(in);
			in = zt_open_in(argv[2]);
			if (in != old) {
				/* Force the same number: this is the case to test. */
				if (dup2(in, old) != old)
					zt_die("dup2");
				close(in);
				in = old;
			}
			printf("swapped source at chunk %d, fd %d\n", i, in);
		}
		zt_put(out, buf, (size_t)n);
		total += n;
	}
	printf("copied %lld src_off %lld dst_off %lld\n", total, zt_pos(in), zt_pos(out));
	return 0;
}
