/*
 * free_reuse - copies a file, then reallocates, frees and reuses the buffer
 * memory: realloc must keep the bytes the program read, and memory that
 * malloc/calloc hand out again must hold what the program put there (or
 * zeros from calloc), also when it is written out without being touched.
 * Done twice: with a buffer from mmap (large malloc) and from the brk heap.
 *
 * usage: free_reuse SRC DST_MMAP DST_HEAP ZEROS_MMAP ZEROS_HEAP
 */
#include <malloc.h>

#include "zt.h"

#define BIG (4 * ZT_CHUNK)

static void copy(const char *src, const char *dst, char *buf)
{
	int in = zt_open_in(src);
	int out = zt_open_out(dst, 0);
	long long total = zt_copy(in, out, buf, ZT_CHUNK);
	printf("copied %lld src_off %lld\n", total, zt_pos(in));
	close(in);
	close(out);
}

static void expect_fill(const char *what, const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != v) {
			printf("%s: byte %zu is %#x, expected %#x\n", what, i, p[i], v);
			return;
		}
	}
	printf("%s: all %#x\n", what, v);
}

static void reuse(const char *label, const char *src, const char *dst, const char *zeros)
{
	char what[64];
	char *buf = zt_alloc(ZT_CHUNK);
	copy(src, dst, buf);

	/* realloc keeps the contents: the last chunk read. */
	char *big = realloc(buf, BIG);
	if (!big)
		zt_die("realloc");
	printf("%s: after realloc sum %016llx\n", label,
	       (unsigned long long)zt_fnv(ZT_FNV_INIT, big, ZT_CHUNK));
	free(big);

	/* calloc memory written out untouched must be zeros on the output. */
	char *z = calloc(1, ZT_CHUNK);
	if (!z)
		zt_die("calloc");
	int out = zt_open_out(zeros, 0);
	zt_put(out, z, ZT_CHUNK);
	close(out);
	snprintf(what, sizeof what, "%s: calloc", label);
	expect_fill(what, (unsigned char *)z, ZT_CHUNK, 0);
	free(z);

	unsigned char *m = malloc(BIG);
	if (!m)
		zt_die("malloc");
	memset(m, 0x5a, BIG);
	snprintf(what, sizeof what, "%s: malloc+memset", label);
	expect_fill(what, m, BIG, 0x5a);
	free(m);
}

int main(int argc, char **argv)
{
	if (argc != 6)
		zt_usage("free_reuse SRC DST_MMAP DST_HEAP ZEROS_MMAP ZEROS_HEAP");
	/* glibc serves 128 KiB and larger blocks with mmap by default. */
	reuse("mmap", argv[1], argv[2], argv[4]);
	/* Now from the brk heap, where freed memory stays in the process. */
	if (mallopt(M_MMAP_THRESHOLD, 64 << 20) != 1)
		zt_die("mallopt");
	reuse("heap", argv[1], argv[3], argv[5]);
	return 0;
}
