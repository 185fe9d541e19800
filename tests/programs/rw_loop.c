/*
 * rw_loop - the classic read()/write() copy loop (cat, dd, cp of old).
 *
 * usage: rw_loop [-b BYTES] [-a] [-P] [-S] [-u] SRC DST|-
 *   -b  buffer size and read size (default 128 KiB)
 *   -a  open DST with O_APPEND (after a short preamble written by us)
 *   -P  ignore SIGPIPE, so a closed pipe shows up as EPIPE
 *   -S  use a page-aligned buffer on the stack
 *   -u  use a heap buffer that is not page-aligned (offset by 512 bytes)
 * Prints "copied N src_off X dst_off Y" (to stderr when DST is stdout); on a
 * write error prints "write: ERRNO" and exits 3, after putting the number of
 * bytes written into the file "written" in the current directory (how many a
 * pipe took before its reader left depends on timing; on a full disk it
 * does not).
 */
#include <signal.h>

#include "zt.h"

static int copy(int in, int out, char *buf, size_t bs, unsigned long long *total)
{
	for (;;) {
		ssize_t n = zt_recv(in, buf, bs, 0, "read");
		if (n == 0)
			return 0;
		int err;
		size_t w = zt_write_all(out, buf, (size_t)n, &err);
		*total += w;
		if (err)
			return err;
	}
}

int main(int argc, char **argv)
{
	size_t bs = ZT_CHUNK;
	int append = 0, stack = 0, unaligned = 0, opt;
	while ((opt = getopt(argc, argv, "b:aPSu")) != -1) {
		switch (opt) {
		case 'b': bs = strtoul(optarg, NULL, 0); break;
		case 'a': append = 1; break;
		case 'P': signal(SIGPIPE, SIG_IGN); break;
		case 'S': stack = 1; break;
		case 'u': unaligned = 1; break;
		default: zt_usage("rw_loop [-b BYTES] [-a] [-P] [-S] [-u] SRC DST|-");
		}
	}
	if (argc - optind != 2 || bs == 0 || (stack && bs > ZT_CHUNK))
		zt_usage("rw_loop [-b BYTES] [-a] [-P] [-S] [-u] SRC DST|-");

	int in = zt_open_in(argv[optind]);
	int out;
	if (append) {
		out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
		if (out < 0)
			zt_die(argv[optind + 1]);
		/* A preamble makes the destination offset differ from the source's. */
		int err;
		zt_write_all(out, "appended after this line\n", 25, &err);
		if (err)
			zt_die("preamble");
	} else {
		out = zt_open_out(argv[optind + 1], 0);
	}
	FILE *report = out == 1 ? stderr : stdout;

	unsigned long long total = 0;
	int err;
	if (stack) {
		/* A stack buffer must never be deferred, whatever its alignment. */
		char sbuf[ZT_CHUNK] __attribute__((aligned(ZT_PAGE)));
		err = copy(in, out, sbuf, bs, &total);
	} else {
		char *buf = unaligned ? (char *)zt_alloc(bs + ZT_PAGE) + 512 : zt_alloc(bs);
		err = copy(in, out, buf, bs, &total);
	}
	if (err) {
		fprintf(report, "write: %s\n", zt_errname(err));
		FILE *w = fopen("written", "w");
		if (!w)
			zt_die("written");
		fprintf(w, "%llu\n", total);
		fclose(w);
		return 3;
	}
	fprintf(report, "copied %llu src_off %lld dst_off %lld\n", total, zt_pos(in), zt_pos(out));
	if (out != 1 && close(out) != 0)
		zt_die("close");
	return 0;
}
