/*
 * copier.c - a program for the tool tests: copies IN to OUT with read/write
 * in 1 MiB chunks (ACTION "other": writes each chunk's bytes reversed, from
 * another buffer, as a program that transforms its data), then does what
 * ACTION says:
 *   pause  print "ready" on stdout and wait for a signal
 *   wait   print "ready" and read stdin to its end, then exit 0
 *   segv   store through a null pointer
 *   abort  abort()
 *   vfork  vfork a child that dies of SIGTERM before any exec, print its
 *          wait status, and exit 0
 *   view   print the dispositions it reads back for the fatal signals, set
 *          and read some back, then raise SIGTERM from its own handler's
 *          SIG_DFL (the handler re-raises, as servers do)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[1 << 20] __attribute__((aligned(4096)));
static char rev[1 << 20] __attribute__((aligned(4096)));

static void show(const char *what, int sig)
{
	struct sigaction sa;
	if (sigaction(sig, NULL, &sa) != 0) {
		printf("%s %d: error\n", what, sig);
		return;
	}
	printf("%s %d: handler=%s flags=%#x restorer=%d mask0=%#lx\n", what, sig,
	       sa.sa_handler == SIG_DFL ? "DFL" : sa.sa_handler == SIG_IGN ? "IGN" : "fn",
	       (unsigned)sa.sa_flags, sa.sa_restorer != NULL, ((unsigned long *)&sa.sa_mask)[0]);
}

static void on_term(int sig)
{
	/* The usual way a server ends: clean up, then die of the signal. */
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	ssize_t n;
	int in, out;

	if (argc != 4)
		return 2;
	in = open(argv[1], O_RDONLY);
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0)
		return 3;
	int other = strcmp(argv[3], "other") == 0;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; other && i < n; i++)
			rev[i] = buf[n - 1 - i];
		if (write(out, other ? rev : buf, (size_t)n) != n)
			return 4;
	}
	if (strcmp(argv[3], "pause") == 0 || strcmp(argv[3], "wait") == 0) {
		char c;
		printf("ready\n");
		fflush(stdout);
		if (argv[3][0] == 'p')
			for (;;)
				pause();
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	if (strcmp(argv[3], "segv") == 0)
		*(volatile int *)(long)(argc - 4) = 1; /* argc is 4: a null pointer */
	if (strcmp(argv[3], "abort") == 0)
		abort();
	if (strcmp(argv[3], "vfork") == 0) {
		int st;
		pid_t pid = vfork();
		if (pid == 0) {
			kill(getpid(), SIGTERM);
			_exit(5);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return 6;
		printf("child status %#x\n", (unsigned)st);
	}
	if (strcmp(argv[3], "view") == 0) {
		static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGSEGV,
					    SIGPIPE, SIGTERM, SIGUSR1, SIGCHLD };
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			show("start", sigs[i]);
		printf("signal(SIGUSR1, IGN) returned %s\n",
		       signal(SIGUSR1, SIG_IGN) == SIG_DFL ? "DFL" : "other");
		show("after", SIGUSR1);
		printf("signal(SIGUSR1, DFL) returned %s\n",
		       signal(SIGUSR1, SIG_DFL) == SIG_IGN ? "IGN" : "other");
		show("after", SIGUSR1);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_term;
		sa.sa_flags = SA_RESETHAND;
		struct sigaction old;
		sigaction(SIGTERM, &sa, &old);
		printf("old SIGTERM: %s flags=%#x\n", old.sa_handler == SIG_DFL ? "DFL" : "other",
		       (unsigned)old.sa_flags);
		show("handled", SIGTERM);
		fflush(stdout);
		raise(SIGTERM);
		printf("survived SIGTERM\n");
	}
	return 0;
}
