/*
 * vfork_write - a vfork child that changes what fd 1 names, then writes
 * bytes its parent read before the vfork.  The child has its own fd table
 * but shares the parent's memory (and so zcopy's tables).
 *
 * usage: vfork_write [-u] ACTION SRC
 *   -u      the chunks' buffer starts 512 bytes into a page (zcopy guards
 *           such pages rather than mapping the file there)
 *   Six 64 KiB chunks of SRC go to stdout, a seventh is read; then:
 *   ACTION  dup2:  a vfork child puts the file "child.out" on fd 1 with
 *                  dup2 and writes the seventh chunk there
 *           close: a vfork child closes fd 1 and writes the chunk to it
 *                  (EBADF without zcopy)
 *           closefrom: a vfork child closes fds 3 and up, then writes the
 *                  chunk to its fd 1
 *           twice: the dup2 child, then a second vfork child that writes
 *                  the chunk to its fd 1 as inherited, then a third that
 *                  puts "child2.out" on fd 1 and writes it there
 *           exec:  a vfork child puts "child.out" on fd 1 and execs
 *                  "echo exec"
 *           spawn: posix_spawn of "echo spawn" with "child.out" dup2'ed
 *                  onto its fd 1
 *           reread: a vfork child puts the file "../other" on SRC's
 *                  number with dup2 and copies it from there to
 *                  "child.out"
 *           high:  a vfork child puts "child.out" on the highest number
 *                  RLIMIT_NOFILE allows (where zcopy keeps its own) with
 *                  dup2, and writes the seventh chunk there; the parent
 *                  then says whether that number is open in it
 *           reopen: a vfork child opens SRC again at the offset SRC's fd
 *                  is at, puts it on SRC's number with dup2, reads a chunk
 *                  and writes it to "child.out" (buf is then that chunk)
 *   Then the parent writes the seventh chunk to its own stdout and copies
 *   the rest of SRC there.  Prints each child's status on stderr as
 *   "child N: ok", "child N: EBADF" (the write failed so), and so on.
 */
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "zt.h"

#define CHUNK 65536

static char buf_mem[CHUNK + 4096] __attribute__((aligned(4096)));
static char *buf = buf_mem; /* -u: buf_mem + 512 */
static char more[CHUNK] __attribute__((aligned(4096)));

/* Exit codes of a child, named on stderr by the parent. */
enum { C_OK = 0, C_SHORT = 3, C_EBADF = 4, C_ERR = 5, C_OPEN = 6, C_EXEC = 7 };

static const char *code_name(int st)
{
	if (!WIFEXITED(st))
		return "killed";
	switch (WEXITSTATUS(st)) {
	case C_OK: return "ok";
	case C_SHORT: return "short write";
	case C_EBADF: return "EBADF";
	case C_ERR: return "write failed";
	case C_OPEN: return "open/dup2 failed";
	case C_EXEC: return "exec failed";
	default: return "?";
	}
}

/* In a vfork child: the write of the seventh chunk, as an exit code. */
static int child_write(ssize_t n)
{
	ssize_t w = write(1, buf, (size_t)n);
	if (w == n)
		return C_OK;
	if (w >= 0)
		return C_SHORT;
	return errno == EBADF ? C_EBADF : C_ERR;
}

/* In a vfork child: name on fd 1 (created empty); 0 or C_OPEN. */
static int child_redirect(const char *name)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) != 1)
		return C_OPEN;
	close(fd);
	return 0;
}

static void wait_for(pid_t pid, int k)
{
	int st;
	if (pid < 0)
		zt_die("vfork");
	if (waitpid(pid, &st, 0) != pid)
		zt_die("waitpid");
	fprintf(stderr, "child %d: %s\n", k, code_name(st));
}

/* what: "close", "closefrom" (3 and up), "inherit" (fd 1 as it is) or the
 * file to put on fd 1. */
static void vfork_child(const char *what, ssize_t n, int k)
{
	pid_t pid = vfork();
	if (pid == 0) {
		int r = 0;
		if (strcmp(what, "close") == 0)
			close(1);
		else if (strcmp(what, "closefrom") == 0)
			closefrom(3);
		else if (strcmp(what, "inherit") != 0)
			r = child_redirect(what);
		_exit(r ? r : child_write(n));
	}
	wait_for(pid, k);
}

static void vfork_exec(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		int r = child_redirect("child.out");
		if (r)
			_exit(r);
		execlp("echo", "echo", "exec", (char *)NULL);
		_exit(C_EXEC);
	}
	wait_for(pid, 1);
}

/* In a vfork child: "child.out" put on the highest number the soft
 * RLIMIT_NOFILE allows, and the seventh chunk written there. */
static int child_high(ssize_t n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 65536)
		return C_OPEN;
	int high = (int)rl.rlim_cur - 1;
	int fd = open("child.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, high) != high)
		return C_OPEN;
	close(fd);
	ssize_t w = write(high, buf, (size_t)n);
	return w == n ? C_OK : w < 0 ? C_ERR : C_SHORT;
}

/* In a vfork child: "../other", read through the number `in` named SRC
 * by, copied to "child.out" in 64 KiB chunks. */
static int child_reread(int in)
{
	static char got[CHUNK] __attribute__((aligned(4096)));
	int fd = open("../other", O_RDONLY);
	if (fd < 0 || dup2(fd, in) != in)
		return C_OPEN;
	close(fd);
	int out = open("child.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		return C_OPEN;
	ssize_t n;
	while ((n = read(in, got, CHUNK)) > 0) {
		ssize_t w = write(out, got, (size_t)n);
		if (w != n)
			return w < 0 ? C_ERR : C_SHORT;
	}
	return n == 0 ? C_OK : C_ERR;
}

/* In a vfork child: SRC opened again at the offset `in` is at, put on
 * `in`'s number, and a chunk read from there to "child.out". */
static int child_reopen(int in, const char *src)
{
	off_t at = lseek(in, 0, SEEK_CUR);
	int fd = open(src, O_RDONLY);
	if (at < 0 || fd < 0 || lseek(fd, at, SEEK_SET) != at || dup2(fd, in) != in)
		return C_OPEN;
	close(fd);
	int out = open("child.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n = read(in, buf, CHUNK);
	if (out < 0 || n != CHUNK)
		return C_OPEN;
	ssize_t w = write(out, buf, CHUNK);
	return w == CHUNK ? C_OK : w < 0 ? C_ERR : C_SHORT;
}

static void vfork_reread(int in, const char *src)
{
	pid_t pid = vfork();
	if (pid == 0)
		_exit(src ? child_reopen(in, src) : child_reread(in));
	wait_for(pid, 1);
}

extern char **environ;

static void spawn(void)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	char *argv[] = { "echo", "spawn", NULL };
	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, "child.out", O_WRONLY | O_CREAT | O_TRUNC,
					     0644) != 0)
		zt_die("file actions");
	int e = posix_spawnp(&pid, "echo", &fa, NULL, argv, environ);
	if (e != 0) {
		errno = e;
		zt_die("posix_spawnp");
	}
	posix_spawn_file_actions_destroy(&fa);
	wait_for(pid, 1);
}

static void put(int fd, const char *p, ssize_t n)
{
	if (write(fd, p, (size_t)n) != n)
		zt_die("write");
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "-u") == 0) {
		buf = buf_mem + 512;
		argc--, argv++;
	}
	if (argc != 3)
		zt_usage("vfork_write [-u] dup2|close|closefrom|high|twice|exec|spawn|reread|reopen SRC");
	const char *action = argv[1];
	int in = open(argv[2], O_RDONLY);
	ssize_t n;
	if (in < 0)
		zt_die("open");
	for (int i = 0; i < 6; i++) {
		n = read(in, buf, CHUNK);
		if (n != CHUNK)
			zt_die("read");
		put(1, buf, n);
	}
	n = read(in, buf, CHUNK);
	if (n != CHUNK)
		zt_die("read");

	if (strcmp(action, "dup2") == 0) {
		vfork_child("child.out", n, 1);
	} else if (strcmp(action, "close") == 0 || strcmp(action, "closefrom") == 0) {
		vfork_child(action, n, 1);
	} else if (strcmp(action, "twice") == 0) {
		vfork_child("child.out", n, 1);
		vfork_child("inherit", n, 2);
		vfork_child("child2.out", n, 3);
	} else if (strcmp(action, "exec") == 0) {
		vfork_exec();
	} else if (strcmp(action, "spawn") == 0) {
		spawn();
	} else if (strcmp(action, "reread") == 0) {
		vfork_reread(in, NULL);
	} else if (strcmp(action, "high") == 0) {
		pid_t pid = vfork();
		if (pid == 0)
			_exit(child_high(n));
		wait_for(pid, 1);
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= 65536) {
			int r = fcntl((int)rl.rlim_cur - 1, F_GETFD);
			fprintf(stderr, "highest fd: %s\n", r < 0 ? zt_errname(errno) : "open");
		}
	} else if (strcmp(action, "reopen") == 0) {
		vfork_reread(in, argv[2]);
	} else {
		zt_usage("vfork_write [-u] dup2|close|closefrom|high|twice|exec|spawn|reread|reopen SRC");
	}

	put(1, buf, n);
	while ((n = read(in, more, CHUNK)) > 0)
		put(1, more, n);
	if (n < 0)
		zt_die("read");
	return 0;
}
