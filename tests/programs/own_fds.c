/*
 * own_fds - a copy loop whose program also does things with descriptor
 * numbers that zcopy might hold for itself.
 *
 * usage: own_fds MODE SRC DST
 *   daemon     copy, then fork a child that closes 0, 1 and 2 and lives 3 s
 *              on (a daemon); the parent exits at once.  Whoever reads the
 *              parent's stdout/stderr must see end-of-file when it exits.
 *   dup2-high  copy half, then put files of its own at 512 and at the eight
 *              highest numbers below RLIMIT_NOFILE with dup2, write to each
 *              through that number, copy the rest, close the numbers; every
 *              call's result is printed.
 *   low-limit  set RLIMIT_NOFILE to 32, copy half, open /dev/null until
 *              EMFILE (printing each number open returns), close them all,
 *              copy the rest.
 *   closefrom  copy half, closefrom(3), open SRC and DST again (at the same
 *              numbers, positioned where the copy stopped), copy the rest,
 *              and ask F_GETFD of the four highest numbers (closed for it).
 *   chdir DIR  copy, then change into DIR (before the exit handlers run).
 * Prints "copied N" at the end; exits 0, or 99 on an unexpected failure.
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include "zt.h"

static char *buf;

/* Copies up to max bytes (0: to the end) in 128 KiB reads. */
static unsigned long long copy(int in, int out, unsigned long long max)
{
	unsigned long long total = 0;
	for (;;) {
		size_t want = ZT_CHUNK;
		if (max && max - total < want)
			want = (size_t)(max - total);
		if (want == 0)
			return total;
		ssize_t n = zt_read(in, buf, want);
		if (n == 0)
			return total;
		int err;
		total += zt_write_all(out, buf, (size_t)n, &err);
		if (err) {
			errno = err;
			zt_die("write");
		}
	}
}

static void report(const char *what, long n, long r)
{
	printf("%s %ld -> %ld %s\n", what, n, r, zt_errname(r < 0 ? errno : 0));
}

static int nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		zt_die("getrlimit");
	return rl.rlim_cur > 1 << 20 ? 1 << 20 : (int)rl.rlim_cur;
}

int main(int argc, char **argv)
{
	const char *use = "own_fds daemon|dup2-high|low-limit|closefrom|chdir DIR SRC DST";
	if (argc < 4)
		zt_usage(use);
	const char *mode = argv[1];
	int a = strcmp(mode, "chdir") == 0 ? 3 : 2;
	if (argc != a + 2)
		zt_usage(use);
	if (strcmp(mode, "low-limit") == 0) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			zt_die("getrlimit");
		rl.rlim_cur = 32;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			zt_die("setrlimit");
	}
	buf = zt_alloc(ZT_CHUNK);
	int in = zt_open_in(argv[a]);
	int out = zt_open_out(argv[a + 1], 0);
	struct stat st;
	if (fstat(in, &st) != 0)
		zt_die("fstat");
	unsigned long long half = (unsigned long long)st.st_size / 2 / ZT_CHUNK * ZT_CHUNK;
	unsigned long long total = 0;

	if (strcmp(mode, "daemon") == 0) {
		total = copy(in, out, 0);
		pid_t pid = zt_fork();
		if (pid == 0) {
			close(0);
			close(1);
			close(2);
			sleep(3);
			_exit(0);
		}
		printf("daemon started\n");
	} else if (strcmp(mode, "dup2-high") == 0) {
		int top = nofile(), nums[9] = { 512 };
		for (int i = 1; i < 9; i++)
			nums[i] = top - i;
		total = copy(in, out, half);
		for (int i = 0; i < 9; i++) {
			char name[32], line[32];
			snprintf(name, sizeof name, "mine.%d", i);
			int f = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
			if (f < 0)
				zt_die(name);
			report("dup2", nums[i], dup2(f, nums[i]));
			int n = snprintf(line, sizeof line, "mine %d\n", i);
			report("write", nums[i], (long)write(nums[i], line, (size_t)n));
			close(f);
		}
		total += copy(in, out, 0);
		for (int i = 0; i < 9; i++) {
			report("close", nums[i], close(nums[i]));
			report("fcntl", nums[i], fcntl(nums[i], F_GETFD));
		}
	} else if (strcmp(mode, "low-limit") == 0) {
		int got[64], n = 0;
		total = copy(in, out, half);
		for (;;) {
			int f = open("/dev/null", O_RDONLY);
			if (f < 0) {
				printf("open -> %s after %d\n", zt_errname(errno), n);
				break;
			}
			printf("open -> %d\n", f);
			if (n == 64)
				break;
			got[n++] = f;
		}
		for (int i = 0; i < n; i++)
			close(got[i]);
		total += copy(in, out, 0);
	} else if (strcmp(mode, "closefrom") == 0) {
		total = copy(in, out, half);
		closefrom(3);
		in = open(argv[a], O_RDONLY);
		out = open(argv[a + 1], O_WRONLY);
		printf("reopened -> %d %d\n", in, out);
		if (in < 0 || out < 0 || lseek(in, (off_t)total, SEEK_SET) < 0 ||
		    lseek(out, (off_t)total, SEEK_SET) < 0)
			zt_die("reopen");
		total += copy(in, out, 0);
		int top = nofile();
		for (int i = 1; i <= 4; i++)
			report("fcntl", top - i, fcntl(top - i, F_GETFD));
	} else if (strcmp(mode, "chdir") == 0) {
		total = copy(in, out, 0);
		if (chdir(argv[2]) != 0)
			zt_die("chdir");
	} else {
		zt_usage(use);
	}
	printf("copied %llu\n", total);
	return 0;
}
