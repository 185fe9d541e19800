/*
 * review_edges - a copy loop in the situations that zcopy's own files and
 * signal handlers must not change: a file size limit, a death of init, a
 * child made by _Fork.
 *
 * usage: review_edges [-f BYTES] ACTION SRC
 *   -f      RLIMIT_FSIZE (soft and hard) set to BYTES before anything else
 *   ACTION  copy:  SRC to stdout with read()/write() of 64 KiB
 *           alarm: copy, then a 100 ms timer with SIGALRM at SIG_DFL and a
 *                  500 ms poll(); prints what poll returned (as the init
 *                  of a PID namespace the signal is ignored, so poll times
 *                  out)
 *           fork:  six 64 KiB chunks of SRC to stdout, a seventh read, then
 *                  _Fork(); the child puts the file "child.out" on fd 1
 *                  with dup2 and writes the seventh chunk there; the parent
 *                  waits for it
 *           hold:  copy, create the file "ready" in the current directory,
 *                  wait (up to 30 s) until a file "go" appears there, then
 *                  copy SRC again
 * Prints "copied N" per copy and the child's status on stderr.
 */
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "zt.h"

static void copy(const char *src)
{
	static char buf[65536] __attribute__((aligned(4096)));
	unsigned long long total = 0;
	int in = open(src, O_RDONLY);
	if (in < 0)
		zt_die("open");
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0)
			zt_die("read");
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, (size_t)(n - off));
			if (w < 0)
				zt_die("write");
			off += w;
		}
		total += (unsigned long long)n;
	}
	close(in);
	fprintf(stderr, "copied %llu\n", total);
}

static void fork_dup(const char *src)
{
	static char buf[65536] __attribute__((aligned(4096)));
	int in = open(src, O_RDONLY);
	ssize_t n;
	if (in < 0)
		zt_die("open");
	for (int i = 0; i < 6; i++) {
		n = read(in, buf, sizeof buf);
		if (n != (ssize_t)sizeof buf || write(1, buf, (size_t)n) != n)
			zt_die("copy");
	}
	n = read(in, buf, sizeof buf);
	if (n != (ssize_t)sizeof buf)
		zt_die("read");
	pid_t pid = _Fork();
	if (pid < 0)
		zt_die("_Fork");
	if (pid == 0) {
		int fd = open("child.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) != 1)
			zt_die("child.out");
		close(fd);
		ssize_t w = write(1, buf, (size_t)n);
		exit(w == n ? 0 : 3);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		zt_die("waitpid");
	fprintf(stderr, "child status %#x\n", st);
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "f:")) != -1) {
		if (opt != 'f')
			zt_usage("review_edges [-f BYTES] copy|alarm|fork|hold SRC");
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max = strtoull(optarg, NULL, 0);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			zt_die("setrlimit");
	}
	if (argc - optind != 2)
		zt_usage("review_edges [-f BYTES] copy|alarm|fork|hold SRC");
	const char *action = argv[optind], *src = argv[optind + 1];

	if (strcmp(action, "fork") != 0)
		copy(src);
	if (strcmp(action, "alarm") == 0) {
		struct itimerval it = { { 0, 0 }, { 0, 100000 } };
		if (setitimer(ITIMER_REAL, &it, NULL) != 0)
			zt_die("setitimer");
		errno = 0;
		int r = poll(NULL, 0, 500);
		fprintf(stderr, "poll %d %s\n", r, zt_errname(r < 0 ? errno : 0));
	} else if (strcmp(action, "fork") == 0) {
		fork_dup(src);
	} else if (strcmp(action, "hold") == 0) {
		int fd = open("ready", O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			zt_die("ready");
		close(fd);
		for (int i = 0; i < 3000 && access("go", F_OK) != 0; i++)
			poll(NULL, 0, 10);
		copy(src);
	} else if (strcmp(action, "copy") != 0) {
		zt_usage("review_edges [-f BYTES] copy|alarm|fork|hold SRC");
	}
	return 0;
}
