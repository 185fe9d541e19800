/*
 * fork_nested - a child that forks again (a shell running a pipeline does
 * this): the grandchild copies a file.  Each process is a fresh start for
 * zcopy; the grandchild's copy must be recognised like any other.
 *
 * usage: fork_nested SRC DST
 */
#include <sys/wait.h>

#include "zt.h"

static void copy(const char *src, const char *dst)
{
	int in = zt_open_in(src), out = zt_open_out(dst, 0);
	unsigned char *buf = zt_map_anon(ZT_CHUNK);
	long long total = zt_copy(in, out, buf, ZT_CHUNK);
	printf("grandchild copied %lld\n", total);
}

static int wait_ok(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			zt_die("waitpid");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("fork_nested SRC DST");
	pid_t child = zt_fork();
	if (child == 0) {
		pid_t grandchild = fork();
		if (grandchild < 0)
			zt_die("fork");
		if (grandchild == 0) {
			copy(argv[1], argv[2]);
			exit(0);
		}
		exit(wait_ok(grandchild) ? 0 : 1);
	}
	printf("child %s\n", wait_ok(child) ? "ok" : "failed");
	return 0;
}
