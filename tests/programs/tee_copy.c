/*
 * tee_copy - writes every chunk it reads to two destinations (tee, a backup
 * that also streams to a log).  Both get every byte; a redirected first
 * write must leave the buffer valid for the second.
 *
 * usage: tee_copy SRC DST1 DST2
 */
#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("tee_copy SRC DST1 DST2");
	int in = zt_open_in(argv[1]);
	int out1 = zt_open_out(argv[2], 0);
	int out2 = zt_open_out(argv[3], 0);
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0;
	for (;;) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		int err;
		zt_write_all(out1, buf, (size_t)n, &err);
		if (!err)
			zt_write_all(out2, buf, (size_t)n, &err);
		if (err) {
			errno = err;
			zt_die("write");
		}
		total += n;
	}
	printf("copied %lld src_off %lld dst_offs %lld %lld\n", total, zt_pos(in), zt_pos(out1),
	       zt_pos(out2));
	return 0;
}
