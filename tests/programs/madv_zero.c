/*
 * madv_zero - copies a file with an anonymous mmap'd buffer, then
 * madvise(MADV_DONTNEED)s the buffer (allocators and caches do this to give
 * memory back).  Private anonymous memory then reads as zeros - not as the
 * file's bytes - and writing it out must write zeros.  Then the buffer is
 * unmapped and mapped again at the same address: zeros again.
 *
 * usage: madv_zero SRC DST ZEROS1 ZEROS2
 */
#include "zt.h"

static void write_file(const char *path, const void *p, size_t n)
{
	int out = zt_open_out(path, 0);
	zt_put(out, p, n);
	close(out);
}

static void expect_zero(const char *what, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0) {
			printf("%s: byte %zu is %#x, expected 0\n", what, i, p[i]);
			return;
		}
	}
	printf("%s: all zero\n", what);
}

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 4, "madv_zero SRC DST ZEROS1 ZEROS2", &in, &out);
	unsigned char *buf = zt_map_anon(ZT_CHUNK);
	long long total = zt_copy(in, out, buf, ZT_CHUNK);
	printf("copied %lld src_off %lld\n", total, zt_pos(in));

	if (madvise(buf, ZT_CHUNK, MADV_DONTNEED) != 0)
		zt_die("madvise");
	/* Written before the program looks at it: nothing may fault it in
	 * from the file. */
	write_file(argv[3], buf, ZT_CHUNK);
	expect_zero("after MADV_DONTNEED", buf, ZT_CHUNK);

	if (munmap(buf, ZT_CHUNK) != 0)
		zt_die("munmap");
	unsigned char *again = mmap(buf, ZT_CHUNK, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (again == MAP_FAILED)
		zt_die("mmap again");
	write_file(argv[4], again, ZT_CHUNK);
	expect_zero("after munmap+mmap", again, ZT_CHUNK);
	return 0;
}
