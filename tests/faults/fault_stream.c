/*
 * fault_stream - copies a file into a pipe or a stream socket whose reader
 * is slow or leaves early, under signals, with a blocking or non-blocking
 * descriptor: the EINTR, EAGAIN and "consumer closes early" faults.
 *
 * usage: fault_stream [-t r|n] [-N] [-P] [-l LIMIT] [-s NAP_US] KIND SRC
 *   KIND  pipe | unix | tcp: where the bytes go (a forked child reads them)
 *   -t r  a SIGALRM every millisecond, handler installed with SA_RESTART
 *   -t n  the same without SA_RESTART (blocked writes fail with EINTR)
 *   -N    non-blocking write end: EAGAIN is waited out with poll()
 *   -P    ignore SIGPIPE, so a reader that left shows up as EPIPE
 *   -l    the reader leaves after LIMIT bytes
 *   -s    the reader pauses NAP_US microseconds after each 16 KiB read
 *
 * stdout (compared between runs): the reader's "reader got N hash H", then
 * "copied N" or, once the reader has left, "write error EPIPE" (exit 3).
 * stderr (not compared, timing decides it): how many signals arrived and how
 * many EINTRs, EAGAINs, short writes and resets the program handled.
 *
 * A TCP peer that leaves with unread data resets the connection: the first
 * failing write may say ECONNRESET, and every later one EPIPE.  A program
 * that went on writing after a reset would get EPIPE (and SIGPIPE) next, so
 * this one does exactly that: whichever the kernel reports first, the run
 * ends in EPIPE, which makes plain and zcopy runs comparable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "zt.h"

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

static void start_timer(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		zt_die("sigaction");
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		zt_die("setitimer");
}

static void stop_timer(void)
{
	struct itimerval it;
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
}

struct counts {
	unsigned long eintr, eagain, shortw, resets;
};

/* Writes all of buf as an event-driven or blocking program does; returns 0,
 * or the errno that ended the copy. */
static int put(int fd, const char *buf, size_t n, int nonblock, struct counts *c,
	       long long *total)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, buf + done, n - done);
		if (w < 0) {
			int e = errno;
			if (e == EINTR) {
				c->eintr++;
				continue;
			}
			if (e == EAGAIN && nonblock) {
				c->eagain++;
				struct pollfd p = { fd, POLLOUT, 0 };
				while (poll(&p, 1, -1) < 0 && errno == EINTR)
					c->eintr++;
				continue;
			}
			if (e == ECONNRESET) {
				c->resets++;
				continue;
			}
			return e;
		}
		if ((size_t)w < n - done)
			c->shortw++;
		done += (size_t)w;
		*total += w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int timer = -1, nonblock = 0, opt;
	struct zt_reader r = { 16 * 1024, 0, 0, NULL, 0, -1, { -1, -1, -1 } };
	while ((opt = getopt(argc, argv, "t:NPl:s:")) != -1) {
		switch (opt) {
		case 't': timer = optarg[0] == 'r'; break;
		case 'N': nonblock = 1; break;
		case 'P': signal(SIGPIPE, SIG_IGN); break;
		case 'l': r.limit = atoll(optarg); break;
		case 's': r.nap_us = atol(optarg); break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;

	pid_t reader;
	int out = zt_sink(argv[optind], &r, &reader);
	int in = open(argv[optind + 1], O_RDONLY);
	if (in < 0)
		zt_die(argv[optind + 1]);
	if (nonblock && fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK) != 0)
		zt_die("fcntl");
	char *buf = zt_alloc(ZT_CHUNK);
	struct counts c = { 0, 0, 0, 0 };
	long long total = 0;
	int err = 0;
	if (timer >= 0)
		start_timer(timer);
	for (;;) {
		ssize_t n = read(in, buf, ZT_CHUNK);
		if (n < 0 && errno == EINTR) {
			c.eintr++;
			continue;
		}
		if (n < 0)
			zt_die("read");
		if (n == 0)
			break;
		if ((err = put(out, buf, (size_t)n, nonblock, &c, &total)) != 0)
			break;
	}
	stop_timer();
	fprintf(stderr, "signals %d eintr %lu eagain %lu short %lu resets %lu written %lld\n",
		(int)ticks, c.eintr, c.eagain, c.shortw, c.resets, total);
	close(out);
	int st;
	while (waitpid(reader, &st, 0) < 0 && errno == EINTR)
		;
	if (err) {
		printf("write error %s\n", zt_errname(err));
		return 3;
	}
	printf("copied %lld\n", total);
	return 0;
usage:
	fprintf(stderr, "usage: fault_stream [-t r|n] [-N] [-P] [-l LIMIT] [-s NAP_US] "
			"pipe|unix|tcp SRC\n");
	return 98;
}
