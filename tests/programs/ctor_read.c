/*
 * ctor_read - linked with libctor_lib.so, whose constructor reads and writes
 * a file before libzcopy is initialised; then main() runs an ordinary copy
 * loop, which must still be accelerated.
 *
 * usage: CTOR_SRC=A CTOR_DST=B ctor_read SRC DST
 */
#include "zt.h"

extern unsigned long long ctor_bytes, ctor_sum;
extern int ctor_ran;

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("CTOR_SRC=A CTOR_DST=B ctor_read SRC DST");
	printf("ctor ran %d bytes %llu sum %016llx\n", ctor_ran, ctor_bytes, ctor_sum);
	int in = zt_open_in(argv[1]);
	int out = zt_open_out(argv[2], 0);
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = zt_copy(in, out, buf, ZT_CHUNK);
	printf("copied %lld src_off %lld dst_off %lld\n", total, zt_pos(in), zt_pos(out));
	return 0;
}
