/*
 * ro_buffer - a copy loop whose buffer is made read-only for one read.
 *
 * After a few chunks (the stream is engaged), the program mprotects its
 * buffer PROT_READ, reads into it (which must fail with EFAULT and leave the
 * file offset alone), makes it writable again and goes on copying.  A
 * deferred read would map the file over the buffer and succeed.
 *
 * usage: ro_buffer SRC DST
 */
#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("ro_buffer SRC DST");
	int in = zt_open_in(argv[1]), out = zt_open_out(argv[2], 0);
	char *buf = zt_alloc(ZT_CHUNK);
	for (int chunk = 0;; chunk++) {
		if (chunk == 5) {
			if (mprotect(buf, ZT_CHUNK, PROT_READ) != 0)
				zt_die("mprotect");
			ssize_t r = read(in, buf, ZT_CHUNK);
			printf("read into read-only buffer: %zd %s, offset %lld\n", r,
			       zt_errname(r < 0 ? errno : 0), zt_pos(in));
			if (mprotect(buf, ZT_CHUNK, PROT_READ | PROT_WRITE) != 0)
				zt_die("mprotect");
		}
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		zt_put(out, buf, (size_t)n);
	}
	printf("offset at end %lld\n", zt_pos(in));
	return 0;
}
