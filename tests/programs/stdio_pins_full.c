/*
 * stdio_pins_full - an fwrite of deferred bytes into their own source file,
 * over the range another buffer's deferred bytes stand for, while zcopy
 * has no room left to pin the destination (the copier has written to many
 * other files): that other buffer must keep the old bytes.
 *
 * Two page-aligned buffers A and B take turns reading SRC in 128 KiB
 * chunks, each chunk fwritten to /dev/null, then to 40 files it keeps
 * open (each stream's first output a byte, so that the chunk is not
 * glibc's first fwrite on it); then B reads the chunk at OFF and A the
 * next one, and A is fwritten into SRC at OFF through an "r+" stream whose
 * descriptor is there (its offset stays unknown to glibc).  Prints B's
 * hash, then SRC's bytes at OFF.
 *
 * SRC is first copied to COPY (4 KiB calls, too small for zcopy), which is
 * the file read and written.
 *
 * usage: stdio_pins_full SRC COPY
 */
#include "zt.h"

#define CHUNK (128 * 1024)
#define FILES 40

static char a[CHUNK] __attribute__((aligned(4096)));
static char b[CHUNK] __attribute__((aligned(4096)));

static uint64_t hash(const void *p, size_t n)
{
	return zt_fnv(14695981039346656037ull, p, n);
}

static void chunk(char *buf, FILE *in, FILE *out)
{
	if (fread(buf, 1, CHUNK, in) != CHUNK)
		zt_die("fread");
	if (out && fwrite(buf, 1, CHUNK, out) != CHUNK)
		zt_die("fwrite");
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("stdio_pins_full SRC COPY");
	int i0 = open(argv[1], O_RDONLY), o0 = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	static char page[4096];
	ssize_t k;
	if (i0 < 0 || o0 < 0)
		zt_die("open");
	while ((k = read(i0, page, sizeof page)) > 0)
		zt_put(o0, page, (size_t)k);
	if (k < 0 || close(o0) != 0 || close(i0) != 0)
		zt_die("copy");
	argv++;
	FILE *in = fopen(argv[1], "rb"), *nul = fopen("/dev/null", "wb"), *files[FILES];
	if (!in || !nul)
		zt_die("fopen");
	for (int i = 0; i < 8; i++)
		chunk(i % 2 ? b : a, in, nul);
	for (int i = 0; i < FILES; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%d", i);
		/* A byte first: glibc's first fwrite on a stream is its own. */
		if (!(files[i] = fopen(name, "wb")) || fputc('x', files[i]) == EOF ||
		    fflush(files[i]) != 0)
			zt_die("fopen");
		chunk(i % 2 ? b : a, in, files[i]);
	}
	long long off = zt_pos(fileno(in));
	/* The writing stream's first output: the byte before OFF, as it is. */
	FILE *out = fopen(argv[1], "r+b");
	static char before[1];
	if (!out || pread(fileno(in), before, 1, off - 1) != 1 ||
	    lseek(fileno(out), off - 1, SEEK_SET) != off - 1 || fputc(before[0], out) == EOF ||
	    fflush(out) != 0)
		zt_die("open the source for writing");
	chunk(b, in, NULL);
	chunk(a, in, NULL);
	if (fwrite(a, 1, CHUNK, out) != CHUNK || fflush(out) != 0)
		zt_die("fwrite into the source");
	printf("B %016llx\n", (unsigned long long)hash(b, CHUNK));
	static char now[CHUNK];
	if (pread(fileno(in), now, CHUNK, off) != CHUNK)
		zt_die("pread");
	printf("source at %lld %016llx\n", off, (unsigned long long)hash(now, CHUNK));
	return 0;
}
