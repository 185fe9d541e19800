/*
 * stdio_threads - two threads copy two files into one shared output FILE
 * with fread()/fwrite(): each fwrite is one call on the stream, which
 * glibc's FILE lock keeps whole, so the output is a sequence of complete
 * chunks, each source's in order.  The program checks that itself and
 * prints what it found, so the output is the same whatever the scheduling.
 *
 * usage: stdio_threads SRC_A SRC_B DST
 */
#include <pthread.h>

#include "zt.h"

#define CHUNK (128 * 1024)

static FILE *out;

struct job {
	const char *src;
	char *buf;
	long long chunks;
};

/* Static, page-aligned buffers: a thread's heap blocks lie near its stack,
 * which zcopy never defers into. */
static char buf_a[CHUNK] __attribute__((aligned(4096)));
static char buf_b[CHUNK] __attribute__((aligned(4096)));

static void *copy(void *arg)
{
	struct job *j = arg;
	FILE *in = fopen(j->src, "rb");
	char *buf = j->buf;
	size_t n;
	if (!in)
		zt_die("fopen");
	while ((n = fread(buf, 1, CHUNK, in)) == CHUNK) {
		if (fwrite(buf, 1, n, out) != n)
			zt_die("fwrite");
		j->chunks++;
	}
	fclose(in);
	return NULL;
}

/* Which source and chunk a block of the output is, or -1. */
static int which(const char *blk, FILE *a, FILE *b, long long na, long long nb, long long *ia,
		 long long *ib)
{
	static char want[CHUNK];
	if (*ia < na && fseeko(a, *ia * CHUNK, SEEK_SET) == 0 &&
	    fread(want, 1, CHUNK, a) == CHUNK && memcmp(want, blk, CHUNK) == 0) {
		(*ia)++;
		return 0;
	}
	if (*ib < nb && fseeko(b, *ib * CHUNK, SEEK_SET) == 0 &&
	    fread(want, 1, CHUNK, b) == CHUNK && memcmp(want, blk, CHUNK) == 0) {
		(*ib)++;
		return 1;
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("stdio_threads SRC_A SRC_B DST");
	out = fopen(argv[3], "wb");
	if (!out)
		zt_die("fopen");
	struct job ja = { argv[1], buf_a, 0 }, jb = { argv[2], buf_b, 0 };
	pthread_t ta, tb;
	if (pthread_create(&ta, NULL, copy, &ja) || pthread_create(&tb, NULL, copy, &jb))
		zt_die("pthread_create");
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (fclose(out) != 0)
		zt_die("fclose");

	FILE *o = fopen(argv[3], "rb"), *a = fopen(argv[1], "rb"), *b = fopen(argv[2], "rb");
	static char blk[CHUNK];
	long long ia = 0, ib = 0, bad = 0;
	if (!o || !a || !b)
		zt_die("fopen");
	while (fread(blk, 1, CHUNK, o) == CHUNK)
		bad += which(blk, a, b, ja.chunks, jb.chunks, &ia, &ib) < 0;
	printf("chunks a %lld b %lld, in order a %lld b %lld, torn or foreign %lld, tail %d\n",
	       ja.chunks, jb.chunks, ia, ib, bad, !feof(o));
	return 0;
}
