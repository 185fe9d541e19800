/*
 * stdio_copy - fread()/fwrite() copy loop with 128 KiB requests (perl, many
 * scripting runtimes and small utilities copy like this).  stdio is not
 * redirected by zcopy; the output must be exact all the same.
 *
 * usage: stdio_copy SRC DST
 */
#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("stdio_copy SRC DST");
	FILE *in = fopen(argv[1], "rb");
	FILE *out = fopen(argv[2], "wb");
	if (!in || !out)
		zt_die("fopen");
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0;
	size_t n;
	while ((n = fread(buf, 1, ZT_CHUNK, in)) > 0) {
		if (fwrite(buf, 1, n, out) != n)
			zt_die("fwrite");
		total += (long long)n;
	}
	if (ferror(in))
		zt_die("fread");
	long long in_pos = ftell(in);
	if (fclose(out) != 0)
		zt_die("fclose");
	printf("copied %lld in_pos %lld\n", total, in_pos);
	return 0;
}
