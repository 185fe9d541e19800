/*
 * mremap_grow - copies a file through the first half of an anonymous
 * mapping, then grows the mapping with mremap(MREMAP_MAYMOVE), as programs
 * with a growable buffer do (a record that did not fit).  The grown buffer
 * must still hold the last chunk read, and the new tail must read as zeros.
 *
 * usage: mremap_grow SRC DST LAST [ro|unaligned]
 *   prints the mremap result (ok or the errno name) and a checksum of the
 *   last chunk as the grown buffer holds it; LAST receives those bytes.
 *   ro: the buffer is made read-only before it grows (a protection of
 *   its own on memory zcopy gave its bytes).
 *   unaligned: the chunks are read 512 bytes into the mapping (guarded
 *   pages in guard mode, given their bytes before the mapping grows).
 */
#include "zt.h"

int main(int argc, char **argv)
{
	int ro = argc == 5 && strcmp(argv[4], "ro") == 0;
	size_t at = argc == 5 && strcmp(argv[4], "unaligned") == 0 ? 512 : 0;
	if (argc != 4 && !ro && !at)
		zt_usage("mremap_grow SRC DST LAST [ro|unaligned]");
	int in = zt_open_in(argv[1]);
	int out = zt_open_out(argv[2], 0);
	size_t cap = 2 * ZT_CHUNK;
	unsigned char *buf = zt_map_anon(cap);
	/* The whole mapping is the program's own memory (touched), as a
	 * buffer in use for a while is. */
	memset(buf, 0x5a, cap);
	long long total = zt_copy(in, out, buf + at, ZT_CHUNK);
	/* A regular file gives full reads up to the last one. */
	size_t last = total == 0 ? 0 : total % ZT_CHUNK ? (size_t)(total % ZT_CHUNK) : ZT_CHUNK;
	printf("copied %lld\n", total);
	if (ro && mprotect(buf, cap, PROT_READ) != 0)
		zt_die("mprotect");

	unsigned char *grown = mremap(buf, cap, 2 * cap, MREMAP_MAYMOVE);
	if (grown == MAP_FAILED) {
		printf("mremap %s\n", zt_errname(errno));
		return 1;
	}
	printf("mremap ok\n");
	printf("last chunk %zu bytes, fnv %016llx\n", last,
	       (unsigned long long)zt_fnv(ZT_FNV_INIT, grown + at, last));
	size_t nonzero = 0;
	for (size_t i = cap; i < 2 * cap; i++)
		nonzero += grown[i] != 0;
	printf("new tail: %zu nonzero bytes\n", nonzero);
	int fd = zt_open_out(argv[3], 0), err;
	zt_write_all(fd, grown + at, last, &err);
	if (err) {
		errno = err;
		zt_die("write last");
	}
	return 0;
}
