/*
 * edit_copy - a copy loop that edits some chunks in place between the read
 * and the write (a filter patching headers, a converter).  The edited bytes,
 * not the file's, must reach the output.
 *
 * usage: edit_copy SRC DST    (edits: edit_rule.h)
 */
#include "zt.h"
#include "edit_rule.h"

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 2, "edit_copy SRC DST", &in, &out);
	unsigned char *buf = zt_alloc(ZT_CHUNK);
	unsigned long idx = 0;
	long long total = 0;
	for (;; idx++) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		zt_edit_apply(buf, (size_t)n, idx);
		zt_put(out, buf, (size_t)n);
		total += n;
	}
	printf("chunks %lu copied %lld src_off %lld dst_off %lld\n", idx, total, zt_pos(in),
	       zt_pos(out));
	return 0;
}
