/*
 * child.c - running CMD as a child of zcopy (observe, ab): starting it with
 * redirected stdin/stdout, telling "command not found" from CMD's own status,
 * forwarding stop signals, passing CMD's death on, and keeping the list of
 * temporary files so that none is left behind whatever happens.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NSTOP (sizeof stop_sigs / sizeof stop_sigs[0])

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t stop_sig;
static int caught[NSTOP];      /* 1 if we installed a handler (it was not ignored) */
static sigset_t stop_set;

static void on_stop(int sig, siginfo_t *si, void *uc)
{
	pid_t c = child_pid;
	(void)uc;
	if (!stop_sig)
		stop_sig = sig;
	/* A signal from the terminal (si_code > 0) already went to the whole
	 * foreground group, CMD included: sending it again would deliver it twice. */
	if (c > 0 && si->si_code <= 0 && si->si_pid != c)
		kill(c, sig);
}

void zt_signals_install(void)
{
	struct sigaction sa, old;
	size_t i;

	sigemptyset(&stop_set);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_stop;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NSTOP; i++)
		sigaddset(&sa.sa_mask, stop_sigs[i]);
	for (i = 0; i < NSTOP; i++) {
		/* An ignored signal (nohup) stays ignored, for zcopy and for CMD. */
		if (sigaction(stop_sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(stop_sigs[i], &sa, NULL) == 0) {
			caught[i] = 1;
			sigaddset(&stop_set, stop_sigs[i]);
		}
	}
}

int zt_stop_signal(void)
{
	return stop_sig;
}

/* ---- temporary files ---- */

#define MAX_TEMPS 16
static struct {
	char path[4096];
	int dir;
} temps[MAX_TEMPS];
static int ntemps;

static const char *tmp_base(void)
{
	const char *d = getenv("TMPDIR");
	/* The path ends up in ZCOPY_STATS, where libzcopy.so expands %p and
	 * keeps at most a few hundred bytes. */
	if (d && d[0] == '/' && !strchr(d, '%') && strlen(d) < 256)
		return d;
	return "/tmp";
}

static int add_temp(const char *path, int dir)
{
	if (ntemps == MAX_TEMPS) {
		zt_err(0, "too many temporary files");
		return -1;
	}
	snprintf(temps[ntemps].path, sizeof temps[ntemps].path, "%s", path);
	temps[ntemps].dir = dir;
	ntemps++;
	return 0;
}

/* Creates path and registers it for removal: by mkostemp when tmpl is not
 * NULL (then it is path, the template the name is written into), else as a
 * new file opened with flags; what names it in the error.  Registered
 * before a stop signal can run: nothing between the creation and the list. */
static int create_temp(const char *path, char *tmpl, int flags, const char *what)
{
	sigset_t old;
	int fd;

	sigprocmask(SIG_BLOCK, &stop_set, &old);
	if (tmpl)
		fd = mkostemp(tmpl, O_CLOEXEC);
	else
		fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		zt_err(errno, "cannot create %s", what);
	else if (add_temp(path, 0) != 0) {
		unlink(path);
		close(fd);
		fd = -1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return fd;
}

int zt_mktemp(const char *stem, char *path, size_t cap)
{
	char what[300];

	if ((size_t)snprintf(path, cap, "%s/zcopy-%s.XXXXXX", tmp_base(), stem) >= cap) {
		zt_err(0, "temporary path too long");
		return -1;
	}
	snprintf(what, sizeof what, "a temporary file in %s", tmp_base());
	return create_temp(path, path, 0, what);
}

int zt_mktemp_at(const char *path, int flags)
{
	return create_temp(path, NULL, flags, path);
}

int zt_mktempdir(const char *stem, char *path, size_t cap)
{
	sigset_t old;
	int rc = 0;

	if ((size_t)snprintf(path, cap, "%s/zcopy-%s.XXXXXX", tmp_base(), stem) >= cap) {
		zt_err(0, "temporary path too long");
		return -1;
	}
	sigprocmask(SIG_BLOCK, &stop_set, &old);
	if (!mkdtemp(path)) {
		zt_err(errno, "cannot create a temporary directory in %s", tmp_base());
		rc = -1;
	} else if (add_temp(path, 1) != 0) {
		rmdir(path);
		rc = -1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Files of the user's set aside (ab --force): put back by zt_cleanup. */
#define MAX_RESTORES 16
static struct {
	char backup[4096], path[4096];
} restores[MAX_RESTORES];
static int nrestores;

int zt_restore_later(const char *backup, const char *path)
{
	sigset_t old;

	if (nrestores == MAX_RESTORES) {
		zt_err(0, "too many files to set aside");
		return -1;
	}
	sigprocmask(SIG_BLOCK, &stop_set, &old);
	snprintf(restores[nrestores].backup, sizeof restores[0].backup, "%s", backup);
	snprintf(restores[nrestores].path, sizeof restores[0].path, "%s", path);
	nrestores++;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void zt_cleanup(void)
{
	/* The user's files first: each goes back where it was, over whatever
	 * the last run left there. */
	while (nrestores > 0) {
		nrestores--;
		if (rename(restores[nrestores].backup, restores[nrestores].path) != 0)
			zt_err(errno, "cannot put %s back (it is in %s)", restores[nrestores].path,
			       restores[nrestores].backup);
	}
	/* Newest first: files made inside a temporary directory go before it. */
	while (ntemps > 0) {
		ntemps--;
		if (temps[ntemps].dir)
			rmdir(temps[ntemps].path);
		else
			unlink(temps[ntemps].path);
	}
}

/* ---- running CMD ---- */

pid_t zt_spawn(char *const argv[], int in_fd, int out_fd, int err_fd, int *exec_err)
{
	sigset_t old;
	int p[2], e = 0;
	ssize_t n;
	pid_t pid;

	*exec_err = 0;
	if (pipe2(p, O_CLOEXEC) != 0) {
		zt_err(errno, "pipe");
		return -1;
	}
	/* Blocked across fork, so a stop signal finds child_pid already set, and
	 * the child does not run our handler before it resets it. */
	sigprocmask(SIG_BLOCK, &stop_set, &old);
	pid = fork();
	if (pid == 0) {
		size_t i;
		for (i = 0; i < NSTOP; i++)
			if (caught[i])
				signal(stop_sigs[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(p[0]);
		if ((in_fd >= 0 && dup2(in_fd, 0) < 0) || (out_fd >= 0 && dup2(out_fd, 1) < 0) ||
		    (err_fd >= 0 && dup2(err_fd, 2) < 0))
			e = errno;
		else {
			execvp(argv[0], argv);
			e = errno;
		}
		/* The exec error travels through the close-on-exec pipe; a successful
		 * exec closes it with nothing written. */
		if (write(p[1], &e, sizeof e) < 0)
			_exit(ZT_EXIT_INTERNAL);
		_exit(zt_exec_status(e));
	}
	if (pid > 0)
		child_pid = pid;
	else
		e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		zt_err(e, "fork");
		return -1;
	}
	do
		n = read(p[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == (ssize_t)sizeof e) {
		int st;
		zt_wait(pid, &st, NULL);
		*exec_err = e ? e : EIO;
		return -1;
	}
	return pid;
}

int zt_wait(pid_t pid, int *status, struct rusage *ru)
{
	pid_t r;

	do
		r = wait4(pid, status, 0, ru);
	while (r < 0 && errno == EINTR);
	child_pid = 0;
	if (r < 0) {
		zt_err(errno, "wait");
		return -1;
	}
	return 0;
}

void zt_die_of(int sig)
{
	struct rlimit no_core = {0, 0};
	sigset_t s;

	zt_cleanup();
	fflush(stdout);
	fflush(stderr);
	/* CMD already dumped its core, if any; zcopy's own would only mislead. */
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	_exit(128 + sig);
}

void zt_pass_status(int status)
{
	if (WIFSIGNALED(status))
		zt_die_of(WTERMSIG(status));
	zt_cleanup();
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : ZT_EXIT_INTERNAL);
}

const char *zt_signame(int sig)
{
	static char buf[32];
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, sizeof buf, "SIG%s", abbrev);
	else
		snprintf(buf, sizeof buf, "signal %d", sig);
	return buf;
}

void zt_describe_status(int status, char *buf, size_t cap)
{
	if (WIFSIGNALED(status))
		snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
			 zt_signame(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, cap, "ended with wait status 0x%x", (unsigned)status);
}
