/*
 * dead_stderr - runs a program whose stderr is a pipe with no reader left,
 * and SIGPIPE at its default action: its first write to fd 2 kills it.
 *
 * usage: dead_stderr PROG [ARG...]
 */
#include <signal.h>

#include "zt.h"

int main(int argc, char **argv)
{
	int p[2];
	if (argc < 2)
		zt_usage("dead_stderr PROG [ARG...]");
	if (pipe(p) != 0)
		zt_die("pipe");
	close(p[0]);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(p[1], 2) != 2)
		zt_die("dup2");
	close(p[1]);
	execvp(argv[1], argv + 1);
	_exit(127); /* stderr is gone: the status says it */
}
