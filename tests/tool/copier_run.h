/*
 * copier_run.h - what test_fatal.c and test_streams.c share: a private
 * directory per test (also XDG_RUNTIME_DIR) holding an 8 MiB file IN, and
 * build/tool/copier (copier.c) started in it without or with zcopy.
 */
#ifndef ZT_COPIER_RUN_H
#define ZT_COPIER_RUN_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

#define SIZE (8u << 20)

static char dir[PATH_MAX], copier[PATH_MAX], zlib[PATH_MAX], ztool[PATH_MAX];

/* test_tool.c */
void clear_zcopy_env(void);
void remove_tree(const char *dir);
TCase *fixture_tcase(const char *name, int timeout, SFun set_up, SFun tear_down);


static inline void f_setup(void)
{
	const char *b = getenv("ZT_BUILD");
	ck_assert_ptr_nonnull(b);
	snprintf(copier, sizeof copier, "%s/tool/copier", b);
	snprintf(zlib, sizeof zlib, "%s/libzcopy.so", b);
	snprintf(ztool, sizeof ztool, "%s/zcopy", b);
	ck_assert_msg(access(copier, X_OK) == 0, "%s missing", copier);
	snprintf(dir, sizeof dir, "/tmp/zt-fatal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	clear_zcopy_env();

	char path[PATH_MAX + 16], block[65536];
	snprintf(path, sizeof path, "%s/in", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < sizeof block; i++)
		block[i] = (char)(i * 7 + i / 509);
	for (size_t done = 0; done < SIZE; done += sizeof block)
		ck_assert_int_eq(write(fd, block, sizeof block), (ssize_t)sizeof block);
	close(fd);
}

static inline void f_teardown(void)
{
	remove_tree(dir);
}

struct run {
	pid_t pid;
	int out; /* the program's stdout, a pipe */
	int in;  /* its stdin, a pipe */
};

/* Starts copier IN SUBDIR/out ACTION in SUBDIR (made here, the core goes
 * there), with core dumps allowed; with zcopy when mode is not NULL. */
static inline void start(struct run *r, const char *subdir, const char *mode, const char *action)
{
	char wd[PATH_MAX + 64], in[PATH_MAX + 16], stats[PATH_MAX + 64];
	int o[2], i[2];

	snprintf(wd, sizeof wd, "%s/%s", dir, subdir);
	ck_assert_int_eq(mkdir(wd, 0755), 0);
	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(stats, sizeof stats, "%s/%s.stats", dir, subdir);
	ck_assert_int_eq(pipe(o), 0);
	ck_assert_int_eq(pipe(i), 0);
	r->pid = fork();
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		struct rlimit core = { RLIM_INFINITY, RLIM_INFINITY };
		setrlimit(RLIMIT_CORE, &core);
		if (chdir(wd) != 0 || dup2(o[1], 1) < 0 || dup2(i[0], 0) < 0)
			_exit(120);
		close(o[0]), close(o[1]), close(i[0]), close(i[1]);
		if (mode) {
			setenv("LD_PRELOAD", zlib, 1);
			setenv("ZCOPY_MODE", mode, 1);
			setenv("ZCOPY_STATS", stats, 1);
		}
		execl(copier, copier, in, "out", action, (char *)NULL);
		_exit(121);
	}
	close(o[1]);
	close(i[0]);
	r->out = o[0];
	r->in = i[1];
}

static inline void read_ready(const struct run *r)
{
	char line[16] = "";
	ssize_t n = read(r->out, line, sizeof line - 1);
	ck_assert_msg(n > 0 && strncmp(line, "ready", 5) == 0, "no ready line (%zd)", n);
}

static inline int finish(struct run *r, char *out, size_t cap)
{
	int st;
	ssize_t n;
	size_t have = 0;
	close(r->in);
	while (have + 1 < cap && (n = read(r->out, out + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	close(r->out);
	ck_assert_int_eq(waitpid(r->pid, &st, 0), r->pid);
	return st;
}

/* The one record of side's stats file: its process and every byte of IN. */
static inline void check_record(const char *side, pid_t pid)
{
	char path[PATH_MAX + 64];
	struct zt_records rs;

	snprintf(path, sizeof path, "%s/%s.stats", dir, side);
	long n = zt_records_load(path, &rs);
	ck_assert_msg(n == 1, "%s: %ld records, wanted 1", side, n);
	ck_assert_int_eq(rs.v[0].pid, pid);
	ck_assert_msg(strstr(rs.v[0].exe, "/tool/copier") != NULL, "exe %s", rs.v[0].exe);
	ck_assert_uint_eq(rs.v[0].bytes_zero_copy + rs.v[0].bytes_copied, SIZE);
	zt_records_free(&rs);
}

/* Runs the tool with argv (argv[0] is ztool) and env ("NAME=VALUE" or
 * NULL) set, stdin from /dev/null; descriptor fd (1 or 2) into buf, the
 * other of the two to /dev/null.  Returns the wait status. */
static inline int run_ztool(const char *const *argv, const char *env, int fd, char *buf,
			    size_t cap)
{
	int p[2], st;
	size_t have = 0;
	ssize_t n;
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (env)
			putenv((char *)env);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, fd == 1 ? 2 : 1);
		dup2(p[1], fd);
		close(p[0]);
		execv(ztool, (char *const *)argv);
		_exit(121);
	}
	close(p[1]);
	while (have + 1 < cap && (n = read(p[0], buf + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* Runs the tool with args, stdout into out; returns the wait status. */
static inline int tool(char *out, size_t cap, const char *a1, const char *a2)
{
	const char *argv[] = { ztool, a1, a2, NULL };
	return run_ztool(argv, NULL, 1, out, cap);
}

#endif
