/*
 * file_signals - a copy loop into a regular file while another thread sends
 * the copying thread SIGUSR1 as fast as it can; the handler (installed
 * without SA_RESTART) only counts.  A plain write(2) to a regular file is
 * not cut short by a handled signal; the kernel transfers that stand for it
 * under zcopy (copy_file_range, sendfile, splice into a file) stop at one.
 *
 * usage: file_signals SRC DST
 * Copies SRC to DST PASSES times over (DST ends as PASSES copies of SRC),
 * 128 KiB at a time through a page-aligned buffer; prints the first read
 * or write that did not move its whole chunk (and completes it), then
 * "done".  How many signals arrived depends on timing and is not printed.
 */
#include "zt.h"

#define CH (128 * 1024)
#define PASSES 4

static volatile sig_atomic_t hits;

static void on_usr1(int sig)
{
	(void)sig;
	hits++;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("file_signals SRC DST");
	int in = zt_open_in(argv[1]);
	int out = zt_open_out(argv[2], 0);
	char *buf = zt_alloc(CH);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		zt_die("sigaction");
	struct zt_storm storm;
	int storming = 0, reported = 0;
	long long chunk = 0;
	for (int pass = 0; pass < PASSES; pass++) {
		if (lseek(in, 0, SEEK_SET) != 0)
			zt_die("lseek");
		for (;; chunk++) {
			if (chunk == 4 && !storming) {
				/* After the warm-up: the copy is zcopy's from here. */
				zt_storm_begin(&storm, pthread_self(), SIGUSR1, 100);
				storming = 1;
			}
			errno = 0;
			ssize_t n = read(in, buf, CH);
			if (n < 0 && !reported) {
				printf("read %lld failed: %s\n", chunk, zt_errname(errno));
				reported = 1;
			}
			if (n < 0)
				continue;
			if (n == 0)
				break;
			errno = 0;
			ssize_t w = write(out, buf, (size_t)n);
			if (w != n && !reported) {
				printf("write %lld of %zd bytes returned %zd (%s)\n", chunk, n, w,
				       w < 0 ? zt_errname(errno) : "short");
				reported = 1;
			}
			if (w < n)
				zt_put(out, buf + (w > 0 ? w : 0), (size_t)(n - (w > 0 ? w : 0)));
		}
	}
	if (storming)
		zt_storm_end(&storm);
	printf("done: %s\n", reported ? "a call was cut short" : "every read and write whole");
	return 0;
}
