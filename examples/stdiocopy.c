/*
 * stdiocopy - a legacy-style copier using stdio: fread() then fwrite().
 *
 *   stdiocopy SRC [DST]
 *
 * glibc's FILE functions reach the kernel through internal calls that a
 * preloaded library cannot see, so zcopy observes this loop (and says so in
 * its stats, reason "stdio") but does not redirect it.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: stdiocopy SRC [DST]\n");
		return 2;
	}
	FILE *in = fopen(argv[1], "rb");
	FILE *out = argc > 2 ? fopen(argv[2], "wb") : stdout;
	if (!in || !out) {
		perror("stdiocopy: fopen");
		return 1;
	}
	static char buf[128 * 1024];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, out) != n) {
			perror("stdiocopy: fwrite");
			return 1;
		}
	if (ferror(in)) {
		perror("stdiocopy: fread");
		return 1;
	}
	fclose(in);
	return fclose(out) == 0 ? 0 : 1;
}
