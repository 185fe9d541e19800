/*
 * bus_ignored - a program that ignores SIGBUS, and the children it starts.
 * An ignored signal stays ignored across exec (a handled one becomes
 * SIG_DFL), so what the program and its children see of SIGBUS must be the
 * same with and without a SIGBUS handler of zcopy's in the picture.
 *
 * usage: bus_ignored SRC DST
 *   copies SRC to DST, reads the first chunk again (a phantom under zcopy),
 *   then ignores SIGBUS and reports: the chunk's checksum, its own SigIgn
 *   bit (/proc/self/status), and what a child started with fork+exec and
 *   one started with posix_spawn report; then a child that inherits the
 *   ignored SIGBUS from the start copies SRC to DST.2 and starts a child.
 * bus_ignored --child: reports its SigIgn bit, sends itself SIGBUS,
 *   reports that it survived.
 * bus_ignored --inherited SRC DST: the copy and the posix_spawn child only.
 */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "zt.h"

extern char **environ;

static const char *self;

/* SIGBUS's bit of SigIgn in /proc/self/status, as the kernel sees it. */
static const char *bus_ignored(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long mask = 0;
	if (!f)
		zt_die("/proc/self/status");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "SigIgn: %llx", &mask) == 1)
			break;
	fclose(f);
	return (mask >> (SIGBUS - 1)) & 1 ? "yes" : "no";
}

static void report_status(const char *who, int status)
{
	if (WIFEXITED(status))
		printf("%s: exit %d\n", who, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("%s: killed by signal %d\n", who, WTERMSIG(status));
	fflush(stdout);
}

static void wait_for(const char *who, pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			zt_die("waitpid");
	report_status(who, status);
}

static void fork_exec(const char *who, char *const *argv)
{
	pid_t pid = zt_fork();
	if (pid == 0) {
		execv(self, argv);
		_exit(97);
	}
	wait_for(who, pid);
}

static void spawn(const char *who)
{
	char *argv[] = { (char *)self, "--child", NULL };
	pid_t pid;
	fflush(stdout);
	int rc = posix_spawn(&pid, self, NULL, NULL, argv, environ);
	if (rc != 0) {
		errno = rc;
		zt_die("posix_spawn");
	}
	wait_for(who, pid);
}

static void copy(const char *src, const char *dst, unsigned char *buf)
{
	int in = zt_open_in(src), out = zt_open_out(dst, 0);
	long long total = zt_copy(in, out, buf, ZT_CHUNK);
	printf("copied %lld\n", total);
	/* The first chunk again: the stream is known, so under zcopy the
	 * buffer holds it as phantom pages. */
	if (lseek(in, 0, SEEK_SET) != 0 || read(in, buf, ZT_CHUNK) != ZT_CHUNK)
		zt_die("read again");
	close(in);
	close(out);
}

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 2 && strcmp(argv[1], "--child") == 0) {
		printf("child: SIGBUS ignored %s\n", bus_ignored());
		fflush(stdout);
		kill(getpid(), SIGBUS);
		printf("child: survived SIGBUS\n");
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "--inherited") == 0) {
		printf("inherited: SIGBUS ignored %s\n", bus_ignored());
		unsigned char *buf = zt_map_anon(ZT_CHUNK);
		copy(argv[2], argv[3], buf);
		spawn("inherited, posix_spawn child");
		return 0;
	}
	if (argc != 3)
		zt_usage("bus_ignored SRC DST | --child | --inherited SRC DST");
	unsigned char *buf = zt_map_anon(ZT_CHUNK);
	copy(argv[1], argv[2], buf);

	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	if (sigaction(SIGBUS, &ign, NULL) != 0)
		zt_die("sigaction");
	printf("first chunk fnv %016llx\n", (unsigned long long)zt_fnv(ZT_FNV_INIT, buf, ZT_CHUNK));
	printf("self: SIGBUS ignored %s\n", bus_ignored());
	char *child[] = { (char *)self, "--child", NULL };
	fork_exec("fork+exec child", child);
	spawn("posix_spawn child");
	char dst2[4096];
	snprintf(dst2, sizeof dst2, "%s.2", argv[2]);
	char *inherit[] = { (char *)self, "--inherited", argv[1], dst2, NULL };
	fork_exec("inheriting child", inherit);
	return 0;
}
