/*
 * rwv_loop - readv() into one body iovec, then writev() of a small header
 * iovec followed by the body, the way nginx and lighttpd send a response.
 *
 * usage: rwv_loop SRC DST
 * The output is, per chunk, a text header "#chunk N len L\n" then the bytes.
 */
#include <sys/uio.h>

#include "zt.h"

/* writev until everything went out, resuming after short counts. */
static void writev_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t w = writev(fd, iov, cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			zt_die("writev");
		}
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 2, "rwv_loop SRC DST", &in, &out);
	char *body = zt_alloc(ZT_CHUNK);
	char hdr[64];
	unsigned chunk = 0;
	long long total = 0;
	for (;;) {
		struct iovec rv = { body, ZT_CHUNK };
		ssize_t n = readv(in, &rv, 1);
		if (n < 0)
			zt_die("readv");
		if (n == 0)
			break;
		int hl = snprintf(hdr, sizeof hdr, "#chunk %u len %zd\n", chunk++, n);
		struct iovec wv[2] = { { hdr, (size_t)hl }, { body, (size_t)n } };
		writev_all(out, wv, 2);
		total += n;
	}
	printf("chunks %u body %lld src_off %lld dst_off %lld\n", chunk, total, zt_pos(in),
	       zt_pos(out));
	return 0;
}
