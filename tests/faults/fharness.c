/*
 * fharness.c - running fault programs with and without libzcopy and reading
 * what they left (see fharness.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fharness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char fh_dir[4096];
static char base[3072]; /* holds every test's directory; removed at the end */
static char lib[4096];
static char progs[4096];

static void abs_path(char *out, size_t cap, const char *env, const char *fallback)
{
	const char *v = getenv(env);
	char cwd[2048];
	if (v && *v) {
		snprintf(out, cap, "%s", v);
		return;
	}
	if (!getcwd(cwd, sizeof cwd))
		cwd[0] = 0;
	snprintf(out, cap, "%s/%s", cwd, fallback);
}

void fh_global_init(void)
{
	abs_path(lib, sizeof lib, "ZCOPY_TEST_LIB", "build/libzcopy.so");
	abs_path(progs, sizeof progs, "ZCOPY_FAULT_PROGS", "build/faults");
	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "test_faults: no library at %s\n", lib);
		exit(2);
	}
	const char *t = getenv("TMPDIR");
	snprintf(base, sizeof base, "%.2000s/zcopy-faults.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(base)) {
		perror("test_faults: mkdtemp");
		exit(2);
	}
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void remove_tree(const char *dir)
{
	if (dir[0] && chdir("/") == 0)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_dir(void)
{
	remove_tree(fh_dir);
}

/* A test that fails leaves through _exit, without atexit handlers: its
 * directory goes with the base.  Mounts a test made lived in its own mount
 * namespace, which ended with it. */
void fh_global_cleanup(void)
{
	remove_tree(base);
}

void fh_begin(void)
{
	snprintf(fh_dir, sizeof fh_dir, "%s/test.XXXXXX", base);
	ck_assert_msg(mkdtemp(fh_dir) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert(chdir(fh_dir) == 0);
	atexit(remove_dir);
}

const char *fh_prog(const char *name)
{
	static char buf[4][4096 + 256];
	static int k;
	char *p = buf[k++ % 4];
	snprintf(p, sizeof buf[0], "%s/%.200s", progs, name);
	return p;
}

static void redirect(int fd, const char *tag, const char *ext)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/%s.%s", fh_dir, tag, ext);
	int f = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (f < 0 || dup2(f, fd) < 0)
		_exit(97);
	close(f);
}

int fh_run(const char *tag, int shim, const char *const *argv, int timeout)
{
	char stats[4200];
	snprintf(stats, sizeof stats, "%s/%s.stats", fh_dir, tag);
	unlink(stats);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		/* Its own process group, so a timeout kills the readers and
		 * changers it forked too. */
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0)
			_exit(97);
		redirect(1, tag, "out");
		redirect(2, tag, "err");
		/* Whatever the suite was started with, this run decides. */
		unsetenv("LD_PRELOAD");
		unsetenv("ZCOPY_MODE");
		unsetenv("ZCOPY_STATS");
		unsetenv("ZCOPY_GUARD");
		unsetenv("ZCOPY_LOG");
		unsetenv("ZCOPY_LOG_FILE");
		setenv("ZCOPY_MIN_CHUNK", "65536", 1);
		if (shim) {
			setenv("LD_PRELOAD", lib, 1);
			setenv("ZCOPY_MODE", "on", 1);
			setenv("ZCOPY_STATS", stats, 1);
		}
		signal(SIGPIPE, SIG_DFL);
		execv(fh_prog(argv[0]), (char *const *)argv);
		_exit(96);
	}
	setpgid(pid, pid);
	int status = 0;
	struct timespec nap = { 0, 5 * 1000 * 1000 };
	for (long waited = 0;; waited += 5) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		ck_assert(r == 0 || errno == EINTR);
		if (waited > timeout * 1000L) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("%s run (%s) of %s hung: killed after %d s", tag,
				     shim ? "zcopy" : "plain", argv[0], timeout);
		}
		nanosleep(&nap, NULL);
	}
	/* Anything it left behind (a reader still draining) goes too. */
	kill(-pid, SIGKILL);
	return status;
}

const char *fh_describe(int status)
{
	static char buf[4][96];
	static int k;
	char *p = buf[k++ % 4];
	if (WIFEXITED(status))
		snprintf(p, sizeof buf[0], "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(p, sizeof buf[0], "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(p, sizeof buf[0], "status 0x%x", status);
	return p;
}

void fh_make_file(const char *rel, size_t size, uint64_t seed)
{
	FILE *f = fopen(rel, "wb");
	ck_assert_msg(f != NULL, "%s: %s", rel, strerror(errno));
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	char block[4096];
	for (size_t done = 0; done < size;) {
		for (size_t i = 0; i < sizeof block; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(block + i, &x, 8);
		}
		size_t n = size - done < sizeof block ? size - done : sizeof block;
		ck_assert(fwrite(block, 1, n, f) == n);
		done += n;
	}
	ck_assert(fclose(f) == 0);
}

char *fh_slurp(const char *rel, size_t *len)
{
	FILE *f = fopen(rel, "rb");
	ck_assert_msg(f != NULL, "%s/%s: %s", fh_dir, rel, strerror(errno));
	size_t cap = 1 << 16, n = 0;
	char *p = malloc(cap + 1);
	ck_assert(p != NULL);
	for (size_t got; (got = fread(p + n, 1, cap - n, f)) > 0;) {
		n += got;
		if (n == cap) {
			cap *= 2;
			p = realloc(p, cap + 1);
			ck_assert(p != NULL);
		}
	}
	fclose(f);
	p[n] = 0;
	if (len)
		*len = n;
	return p;
}

void fh_copy_file(const char *from, const char *to)
{
	size_t n;
	char *p = fh_slurp(from, &n);
	FILE *f = fopen(to, "wb");
	ck_assert_msg(f != NULL, "%s: %s", to, strerror(errno));
	ck_assert(fwrite(p, 1, n, f) == n);
	ck_assert(fclose(f) == 0);
	free(p);
}

void fh_same_file(const char *a, const char *b)
{
	size_t na, nb;
	char *pa = fh_slurp(a, &na), *pb = fh_slurp(b, &nb);
	size_t i = 0;
	while (i < na && i < nb && pa[i] == pb[i])
		i++;
	ck_assert_msg(na == nb && i == na, "%s (%zu bytes) and %s (%zu bytes) differ at byte %zu",
		      a, na, b, nb, i);
	free(pa);
	free(pb);
}

char *fh_out(const char *tag)
{
	char p[256];
	snprintf(p, sizeof p, "%s.out", tag);
	return fh_slurp(p, NULL);
}

void fh_same_out(const char *a, const char *b)
{
	char *pa = fh_out(a), *pb = fh_out(b);
	ck_assert_msg(strcmp(pa, pb) == 0, "stdout differs:\n--- %s\n%s--- %s\n%s", a, pa, b, pb);
	free(pa);
	free(pb);
}

long long fh_err_count(const char *tag, const char *name)
{
	char p[256], key[64];
	snprintf(p, sizeof p, "%s.err", tag);
	snprintf(key, sizeof key, "%s ", name);
	char *t = fh_slurp(p, NULL);
	char *at = strstr(t, key);
	long long v = at ? atoll(at + strlen(key)) : -1;
	free(t);
	return v;
}

long long fh_stat(const char *tag, const char *key)
{
	char p[256], k[96];
	snprintf(p, sizeof p, "%s.stats", tag);
	snprintf(k, sizeof k, "\"%s\":", key);
	ck_assert_msg(access(p, R_OK) == 0, "%s run wrote no stats record", tag);
	char *t = fh_slurp(p, NULL);
	long long sum = 0;
	int records = 0;
	for (char *line = t; line && *line;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = 0;
		if (*line == '{') {
			records++;
			char *at = strstr(line, k);
			if (at)
				sum += atoll(at + strlen(k));
		}
		line = end ? end + 1 : NULL;
	}
	free(t);
	ck_assert_msg(records > 0, "%s run: empty stats file", tag);
	return sum;
}

void fh_expect_engaged(const char *tag)
{
	long long zc = fh_stat(tag, "bytes_zero_copy"), ph = fh_stat(tag, "phantom_reads");
	ck_assert_msg(zc > 0 || ph > 0,
		      "%s run: the engine never engaged (bytes_zero_copy 0, phantom_reads 0): "
		      "the fault did not hit a redirected copy",
		      tag);
}

void fh_expect_redirected(const char *tag)
{
	ck_assert_msg(fh_stat(tag, "bytes_zero_copy") > 0,
		      "%s run: no byte went by a kernel transfer (bytes_zero_copy 0): the fault "
		      "did not hit a redirected copy",
		      tag);
}

uint64_t fh_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
