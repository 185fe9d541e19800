/*
 * sink - reads standard input to the end and prints how many bytes came.
 *
 * The consumer at the end of the demo's pipes: it reads with splice(2) into
 * /dev/null when it can, so its own cost is the same small constant with and
 * without zcopy on the producer side, and falls back to read() otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	static char buf[1 << 20];
	long long total = 0;
	int null = open("/dev/null", O_WRONLY);
	for (;;) {
		ssize_t n = null >= 0 ? splice(0, NULL, null, NULL, 1 << 20, 0) : -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			null = -1; /* stdin is not a pipe: plain reads */
			n = read(0, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n < 0) {
			perror("sink");
			return 1;
		}
		if (n == 0)
			break;
		total += n;
	}
	printf("%lld\n", total);
	return 0;
}
