/*
 * checksum - reads a file in 128 KiB chunks and checksums it, writing
 * nothing (sha256sum, md5sum).  zcopy must stay out: no read is ever
 * followed by a write of its bytes.
 *
 * usage: checksum SRC
 */
#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 2)
		zt_usage("checksum SRC");
	int in = zt_open_in(argv[1]);
	unsigned char *buf = zt_alloc(ZT_CHUNK);
	uint64_t h = ZT_FNV_INIT;
	long long total = 0;
	for (;;) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		h = zt_fnv(h, buf, (size_t)n);
		total += n;
	}
	printf("bytes %lld sum %016llx src_off %lld\n", total, (unsigned long long)h, zt_pos(in));
	return 0;
}
