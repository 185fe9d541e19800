/*
 * tee_copy - writes every chunk it reads to two destinations (tee, a backup
 * that also streams to a log).  Both get every byte; a redirected first
 * write must leave the buffer valid for the second.
 *
 * usage: tee_copy SRC DST1 DST2
 */
#include "zt.h"

static int out2;

/* Each chunk to the first destination, then the same buffer to the second. */
static void put_both(int out1, const void *buf, size_t n)
{
	zt_put(out1, buf, n);
	zt_put(out2, buf, n);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("tee_copy SRC DST1 DST2");
	int in = zt_open_in(argv[1]);
	int out1 = zt_open_out(argv[2], 0);
	out2 = zt_open_out(argv[3], 0);
	long long total = zt_copy_by(in, out1, zt_alloc(ZT_CHUNK), ZT_CHUNK, put_both);
	printf("copied %lld src_off %lld dst_offs %lld %lld\n", total, zt_pos(in), zt_pos(out1),
	       zt_pos(out2));
	return 0;
}
