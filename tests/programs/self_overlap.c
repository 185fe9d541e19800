/*
 * self_overlap - copies a file onto itself, DELTA bytes further on, chunk by
 * chunk with pread()/pwrite() (an in-place "insert gap" as editors and
 * database compactors do).  Source and destination ranges overlap, so each
 * write changes bytes that a later (or the same) read covers: what the
 * program read must be what it writes, never the file's newer bytes.
 *
 * usage: self_overlap FILE DELTA
 * Prints the new size and a checksum of the whole file.
 */
#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("self_overlap FILE DELTA");
	int fd = open(argv[1], O_RDWR);
	if (fd < 0)
		zt_die(argv[1]);
	off_t delta = (off_t)strtoll(argv[2], NULL, 0);
	struct stat st;
	if (fstat(fd, &st) != 0)
		zt_die("fstat");
	char *buf = zt_alloc(ZT_CHUNK);
	off_t end = st.st_size;
	for (off_t off = 0; off < end;) {
		size_t want = end - off < ZT_CHUNK ? (size_t)(end - off) : ZT_CHUNK;
		ssize_t n = pread(fd, buf, want, off);
		if (n < 0)
			zt_die("pread");
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, buf + done, (size_t)(n - done), off + delta + done);
			if (w < 0)
				zt_die("pwrite");
			done += w;
		}
		off += n;
	}
	if (fstat(fd, &st) != 0)
		zt_die("fstat");
	/* Checksum through a second buffer: the first one must not matter. */
	char *chk = zt_alloc(ZT_CHUNK);
	uint64_t h = ZT_FNV_INIT;
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, chk, ZT_CHUNK, off);
		if (n < 0)
			zt_die("pread");
		if (n == 0)
			break;
		h = zt_fnv(h, chk, (size_t)n);
		off += n;
	}
	printf("size %lld sum %016llx off %lld\n", (long long)st.st_size, (unsigned long long)h,
	       zt_pos(fd));
	return 0;
}
