/*
 * ctor_lib - a shared library whose constructor copies a file with read()
 * and write() before the preloaded libzcopy's constructor has run (the
 * dynamic loader initialises a program's own libraries first).  Built as
 * build/programs/libctor_lib.so and linked into ctor_read.
 *
 * CTOR_SRC names the file to read, CTOR_DST the file to write it to.
 */
#include "zt.h"

unsigned long long ctor_bytes;
unsigned long long ctor_sum;
int ctor_ran;

__attribute__((constructor)) static void early_copy(void)
{
	const char *src = getenv("CTOR_SRC");
	const char *dst = getenv("CTOR_DST");
	ctor_ran = 1;
	if (!src || !dst)
		return;
	int in = zt_open_in(src);
	int out = zt_open_out(dst, 0);
	char *buf = zt_alloc(ZT_CHUNK);
	uint64_t h = ZT_FNV_INIT;
	for (;;) {
		ssize_t n = read(in, buf, ZT_CHUNK);
		if (n < 0)
			zt_die("ctor read");
		if (n == 0)
			break;
		int err;
		zt_write_all(out, buf, (size_t)n, &err);
		if (err) {
			errno = err;
			zt_die("ctor write");
		}
		h = zt_fnv(h, buf, (size_t)n);
		ctor_bytes += (unsigned long long)n;
	}
	ctor_sum = h;
	close(in);
	close(out);
	free(buf);
}
