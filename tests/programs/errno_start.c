/*
 * errno_start - prints errno as main() finds it (C promises 0 at program
 * start-up; a preloaded library's constructor must not leave its own
 * failures there), then copies SRC to DST with a page-aligned 128 KiB
 * buffer and prints errno again.
 *
 * usage: errno_start SRC DST
 */
#include "zt.h"

int main(int argc, char **argv)
{
	int first = errno;
	if (argc != 3)
		zt_usage("errno_start SRC DST");
	printf("errno at start: %d\n", first);
	int in = zt_open_in(argv[1]), out = zt_open_out(argv[2], 0);
	long long n = zt_copy(in, out, zt_alloc(ZT_CHUNK), ZT_CHUNK);
	printf("copied %lld\n", n);
	return 0;
}
