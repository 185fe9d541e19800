/*
 * fork_signal - forks 200 times in the middle of a copy while a timer
 * signal handler writes a page to /dev/null every 50 microseconds.  glibc
 * does not block signals around fork and its fork handlers, so the handler
 * runs, now and then, while a fork is under way: the write it makes must
 * not wait for anything the fork holds.  A hang is the failure.
 *
 * usage: fork_signal SRC DST
 *   between forks the copy goes on (the file is read again from the start
 *   at its end); prints the bytes written and whether the timer fired.
 */
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "zt.h"

#define FORKS 200

static int sink = -1;
static volatile sig_atomic_t ticks;
static char page[ZT_PAGE];

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	if (write(sink, page, sizeof page) == (ssize_t)sizeof page)
		ticks++;
	errno = saved;
}

int main(int argc, char **argv)
{
	int in, out;
	zt_start(argc, argv, 2, "fork_signal SRC DST", &in, &out);
	sink = open("/dev/null", O_WRONLY);
	if (sink < 0)
		zt_die("/dev/null");
	unsigned char *buf = zt_map_anon(ZT_CHUNK);
	memset(page, 'x', sizeof page);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		zt_die("sigaction");
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		zt_die("setitimer");

	long long total = 0;
	for (int i = 0; i < FORKS;) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0) {
			if (lseek(in, 0, SEEK_SET) != 0)
				zt_die("lseek");
			continue;
		}
		/* A read chunk not written yet: under zcopy a phantom the fork
		 * must give its bytes first. */
		pid_t pid = zt_fork();
		if (pid == 0)
			_exit(0);
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				zt_die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			printf("child %d: status %#x\n", i, status);
		zt_put(out, buf, (size_t)n);
		total += n;
		i++;
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	printf("forks %d, wrote %lld, timer fired %s\n", FORKS, total, ticks > 0 ? "yes" : "no");
	return 0;
}
