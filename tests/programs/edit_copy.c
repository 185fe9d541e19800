/*
 * edit_copy - a copy loop that edits some chunks in place between the read
 * and the write (a filter patching headers, a converter).  The edited bytes,
 * not the file's, must reach the output.
 *
 * usage: edit_copy SRC DST    (edits: edit_rule.h)
 */
#include "common.h"
#include "edit_rule.h"

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("edit_copy SRC DST");
	int in = zt_open_in(argv[1]);
	int out = zt_open_out(argv[2], 0);
	unsigned char *buf = zt_alloc(ZT_CHUNK);
	unsigned long idx = 0;
	long long total = 0;
	for (;; idx++) {
		ssize_t n = read(in, buf, ZT_CHUNK);
		if (n < 0)
			zt_die("read");
		if (n == 0)
			break;
		zt_edit_apply(buf, (size_t)n, idx);
		int err;
		zt_write_all(out, buf, (size_t)n, &err);
		if (err) {
			errno = err;
			zt_die("write");
		}
		total += n;
	}
	printf("chunks %lu copied %lld src_off %lld dst_off %lld\n", idx, total, zt_pos(in),
	       zt_pos(out));
	return 0;
}
