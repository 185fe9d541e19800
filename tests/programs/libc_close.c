/*
 * libc_close - a copy loop whose destination's number is closed inside libc
 * (no close() of the program's own) and filled with another file, with no
 * dup2 either: the writes after that must go to the other file.
 *
 * usage: libc_close HOW SRC DST1 DST2
 *   HOW fclose:    DST1 opened, fdopen'ed; fclose closes it
 *       freopen:   DST1 opened, fdopen'ed; freopen(DST2) takes its number
 *       pclose:    popen("cat > DST1"); pclose closes the pipe (and waits
 *                  for cat, which ends only when every write end is closed)
 *       endmntent: setmntent(DST1, "w"); endmntent closes it
 *       repipe:    a pipe to a child (cat > DST1), fdopen'ed; freopen(DST2)
 *                  takes its number, and the child is waited for at once
 *                  (it ends only when every write end is closed)
 * Then (except for freopen) DST2 is opened and put at the old number with
 * fcntl(F_DUPFD), which only ever takes a free number.  The loop copies
 * SWAP_AT chunks to DST1, the rest of SRC to DST2.
 * Output: one line with the counts and the numbers.
 */
#include <mntent.h>
#include <sys/wait.h>

#include "zt.h"

#define SWAP_AT 5

static pid_t child = -1;

static FILE *open_dest(const char *how, const char *path)
{
	if (!strcmp(how, "pclose")) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "exec cat > '%s'", path);
		return popen(cmd, "w");
	}
	if (!strcmp(how, "endmntent"))
		return setmntent(path, "w");
	if (!strcmp(how, "repipe")) {
		int p[2];
		if (pipe(p) != 0 || (child = fork()) < 0)
			return NULL;
		if (child == 0) {
			dup2(p[0], 0);
			close(p[0]);
			close(p[1]);
			int o = zt_open_out(path, 0);
			dup2(o, 1);
			execlp("cat", "cat", (char *)NULL);
			_exit(127);
		}
		close(p[0]);
		return fdopen(p[1], "w");
	}
	int fd = zt_open_out(path, 0);
	return fdopen(fd, "w");
}

/* Closes f's number inside libc; returns 0 or -1. */
static int close_dest(const char *how, FILE *f, const char *next)
{
	if (!strcmp(how, "pclose"))
		return pclose(f) == 0 ? 0 : -1;
	if (!strcmp(how, "endmntent"))
		return endmntent(f) == 1 ? 0 : -1;
	if (!strcmp(how, "freopen"))
		return freopen(next, "w", f) ? 0 : -1; /* the FILE stays open */
	if (!strcmp(how, "repipe")) {
		int st;
		if (!freopen(next, "w", f) || waitpid(child, &st, 0) != child)
			return -1;
		return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
	}
	return fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 5)
		zt_usage("libc_close fclose|freopen|pclose|endmntent|repipe SRC DST1 DST2");
	const char *how = argv[1];
	int in = zt_open_in(argv[2]);
	FILE *f = open_dest(how, argv[3]);
	if (!f)
		zt_die("open destination");
	int out = fileno(f);
	char *buf = zt_alloc(ZT_CHUNK);
	long long before = 0, after = 0;
	for (int i = 0;; i++) {
		ssize_t n = read(in, buf, ZT_CHUNK);
		if (n < 0)
			zt_die("read");
		if (n == 0)
			break;
		if (i == SWAP_AT) {
			if (close_dest(how, f, argv[4]) < 0)
				zt_die(how);
			if (strcmp(how, "freopen") && strcmp(how, "repipe")) {
				int t = zt_open_out(argv[4], 0);
				/* Kept open: a close() here would be one zcopy sees. */
				if (t != out && fcntl(t, F_DUPFD, out) != out)
					zt_die("F_DUPFD");
			}
		}
		int err;
		zt_write_all(out, buf, (size_t)n, &err);
		if (err) {
			errno = err;
			zt_die("write");
		}
		*(i < SWAP_AT ? &before : &after) += n;
	}
	printf("%s: %lld bytes before, %lld after, fd %d\n", how, before, after, out);
	return 0;
}
