/*
 * stdiocopy - a legacy-style copier using stdio: fread() then fwrite().
 *
 *   stdiocopy SRC [DST]
 *
 * zcopy replays fread/fwrite and makes glibc's direct calls itself, but a
 * static buffer like this one starts at an address that does not match the
 * file offset modulo the page size, so the map strategy cannot defer into
 * it (reason "alignment" or "stdio" in its stats).
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
