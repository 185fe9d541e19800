/*
 * many_pieces - one writev carries the bytes of many deferred reads: six
 * chunks read into six buffers, written with one writev, then every fd
 * above 2 closed with close_range (as daemons and spawners do).
 *
 * A write that carries several phantoms holds zcopy's duplicate of their
 * source once per phantom while it is in flight; every hold must be let go
 * when the write returns, or the close_range that must move zcopy's
 * duplicates out of the way waits for a holder that no longer exists.
 *
 * usage: many_pieces SRC DST      prints "done"
 */
#include <sys/uio.h>

#include "zt.h"

#define PIECES 6

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 2, "many_pieces SRC DST", &in, &out);
	char *buf[PIECES];
	for (int i = 0; i < PIECES; i++)
		buf[i] = zt_alloc(ZT_CHUNK);
	/* Warm-up pairs engage the streams; then rounds of six reads and one
	 * writev until the source ends. */
	for (int round = 0;; round++) {
		struct iovec v[PIECES];
		int n = 0, pieces = round < 3 ? 1 : PIECES; /* warm-up pairs first */
		ssize_t r = 1;
		while (n < pieces && (r = read(in, buf[n], ZT_CHUNK)) > 0) {
			v[n].iov_base = buf[n];
			v[n].iov_len = (size_t)r;
			n++;
			if ((size_t)r < ZT_CHUNK)
				break;
		}
		if (r < 0)
			zt_die("read");
		if (n == 0)
			break;
		size_t want = 0;
		for (int i = 0; i < n; i++)
			want += v[i].iov_len;
		if (writev(out, v, n) != (ssize_t)want)
			zt_die("writev");
	}
	if (close_range(3, ~0u, 0) != 0)
		zt_die("close_range");
	printf("done\n");
	return 0;
}
