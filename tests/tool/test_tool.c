/*
 * test_tool.c - tests of the zcopy command (build/zcopy with build/libzcopy.so
 * beside it): `run`, `observe`, `ab`, help and errors, and the stats-record
 * reader and hash the command is built from (test_records.c).
 *
 * Each test runs in its own forked child with a private working directory and
 * a private TMPDIR; every test that runs observe or ab ends by checking that
 * this TMPDIR is empty again.  ZT_BUILD names the build directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "zcopy.h"

/* test_records.c: the stats-record reader and the hash, linked in directly. */
TCase *records_tcase(void);
/* test_env.c: the library's settings, scope and double loading, preloaded by hand. */
TCase *env_tcase(void);
/* test_fatal.c: records of processes killed by signals, and the live counters. */
TCase *fatal_tcase(void);
/* test_streams.c: per-stream detail in records, observe --streams, -vv, advice. */
TCase *streams_tcase(void);

static char tool[PATH_MAX], lib[PATH_MAX];
static char work[PATH_MAX], tmpdir[PATH_MAX + 8];

struct result {
	int status;
	char out[65536];
	char err[65536];
};

static void slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = 0, r;

	buf[0] = '\0';
	if (fd < 0)
		return;
	while ((size_t)n < cap - 1 && (r = read(fd, buf + n, cap - 1 - (size_t)n)) > 0)
		n += r;
	buf[n] = '\0';
	close(fd);
}

/* Runs the tool with args (NULL-terminated, without the program name),
 * stdout and stderr captured; env holds "NAME=VALUE" to set or "NAME" to
 * unset. */
static void run_argv(struct result *r, const char *stdout_path, const char *const *env,
		     const char *const *args)
{
	const char *argv[64];
	char outp[PATH_MAX + 8], errp[PATH_MAX + 8];
	int n = 0;
	pid_t pid;

	argv[n++] = tool;
	while (n < 63 && (argv[n] = args[n - 1]) != NULL)
		n++;
	argv[n] = NULL;
	snprintf(outp, sizeof outp, "%s/stdout", work);
	snprintf(errp, sizeof errp, "%s/stderr", work);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(stdout_path ? stdout_path : outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int i = open("/dev/null", O_RDONLY);
		if (o < 0 || e < 0 || i < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || dup2(i, 0) < 0)
			_exit(120);
		for (; env && *env; env++) {
			const char *eq = strchr(*env, '=');
			if (eq) {
				char name[128];
				snprintf(name, sizeof name, "%.*s", (int)(eq - *env), *env);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(*env);
			}
		}
		execv(tool, (char *const *)argv);
		_exit(121);
	}
	ck_assert_int_eq(waitpid(pid, &r->status, 0), pid);
	ck_assert_msg(!WIFEXITED(r->status) || WEXITSTATUS(r->status) < 120 ||
			      WEXITSTATUS(r->status) > 121,
		      "could not start %s", tool);
	slurp(stdout_path ? "/dev/null" : outp, r->out, sizeof r->out);
	slurp(errp, r->err, sizeof r->err);
}

static void run_tool_env(struct result *r, const char *stdout_path, const char *const *env,
			 const char *first, ...)
{
	const char *args[63];
	va_list ap;
	int n = 0;

	args[n++] = first;
	va_start(ap, first);
	while (n < 62 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	run_argv(r, stdout_path, env, args);
}

#define run_tool(r, ...) run_tool_env(r, NULL, NULL, __VA_ARGS__, (const char *)NULL)

static int exited_with(const struct result *r, int code)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

#define ck_exit(r, code)                                                                   \
	ck_assert_msg(exited_with(r, code), "wait status 0x%x, wanted exit %d; stderr: %s", \
		      (unsigned)(r)->status, code, (r)->err)
#define ck_has(hay, needle) ck_assert_msg(strstr(hay, needle), "no \"%s\" in: %s", needle, hay)

static void write_file(const char *path, size_t size)
{
	char buf[65536];
	size_t i, done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	for (i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i * 131 + i / 251);
	while (done < size) {
		size_t n = size - done < sizeof buf ? size - done : sizeof buf;
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* "base/name" in a ring of buffers (a few may be live at once); test_env.c
 * uses it too. */
char *path_in(const char *base, const char *name)
{
	static char paths[8][PATH_MAX + 64];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, sizeof paths[0], "%s/%s", base, name);
	return p;
}

/* The settings a test must not inherit from whoever runs it; test_env.c
 * and copier_run.h use it too. */
void clear_zcopy_env(void)
{
	static const char *const vars[] = { "LD_PRELOAD", "ZCOPY_MODE", "ZCOPY_STATS",
					    "ZCOPY_LOG",  "ZCOPY_GUARD", "ZCOPY_ONLY",
					    "ZCOPY_SKIP" };
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

/* Removes a test's directory (dir "" when setup failed before making it). */
void remove_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static char *in_work(const char *name)
{
	return path_in(work, name);
}

static void check_json(const char *json_path, const char *py)
{
	char cmd[8192];
	int st;
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); %s' '%s'", py,
		 json_path);
	st = system(cmd);
	ck_assert_msg(st == 0, "json check failed: %s", py);
}

static void assert_tmpdir_empty(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char left[1024] = "";

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(left + strlen(left), sizeof left - strlen(left), " %s", e->d_name);
	closedir(d);
	ck_assert_msg(left[0] == '\0', "temporary files left behind:%s", left);
}

static void setup(void)
{
	const char *b = getenv("ZT_BUILD");

	ck_assert_msg(b != NULL, "ZT_BUILD must name the build directory");
	snprintf(tool, sizeof tool, "%s/zcopy", b);
	snprintf(lib, sizeof lib, "%s/libzcopy.so", b);
	ck_assert_msg(access(tool, X_OK) == 0, "%s missing", tool);
	ck_assert_msg(access(lib, R_OK) == 0, "%s missing", lib);
	snprintf(work, sizeof work, "/tmp/zt-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(work));
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", work);
	ck_assert_int_eq(mkdir(tmpdir, 0700), 0);
	setenv("TMPDIR", tmpdir, 1);
	clear_zcopy_env();
}

static void teardown(void)
{
	remove_tree(work);
}

/* ------------------------------------------------------------------ run */

START_TEST(run_passes_exit_status_0)
{
	struct result r;
	run_tool(&r, "run", "--", "true");
	ck_exit(&r, 0);
}
END_TEST

START_TEST(run_passes_exit_status_42)
{
	struct result r;
	run_tool(&r, "run", "--", "sh", "-c", "exit 42");
	ck_exit(&r, 42);
}
END_TEST

START_TEST(run_passes_signal_death_through)
{
	struct result r;
	run_tool(&r, "run", "--", "sh", "-c", "kill -TERM $$");
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM,
		      "wait status 0x%x", (unsigned)r.status);
}
END_TEST

START_TEST(run_puts_library_in_empty_preload)
{
	struct result r;
	char want[PATH_MAX + 2];
	run_tool(&r, "run", "--", "sh", "-c", "echo \"$LD_PRELOAD\"");
	ck_exit(&r, 0);
	char *real = realpath(lib, NULL);
	ck_assert_ptr_nonnull(real);
	snprintf(want, sizeof want, "%s\n", real);
	free(real);
	ck_assert_str_eq(r.out, want);
}
END_TEST

START_TEST(run_puts_library_first_and_keeps_existing_preload)
{
	static const char *const env[] = {"LD_PRELOAD=libm.so.6", NULL};
	struct result r;
	char want[PATH_MAX + 32];
	run_tool_env(&r, NULL, env, "run", "--", "sh", "-c", "echo \"$LD_PRELOAD\"", NULL);
	ck_exit(&r, 0);
	char *real = realpath(lib, NULL);
	ck_assert_ptr_nonnull(real);
	snprintf(want, sizeof want, "%s:libm.so.6\n", real);
	free(real);
	ck_assert_str_eq(r.out, want);
}
END_TEST

/* exported LD_PRELOAD plus `zcopy run`: the library is named once. */
START_TEST(run_does_not_preload_the_library_twice)
{
	char env0[PATH_MAX + 32], want[PATH_MAX + 32];
	const char *env[] = {env0, NULL};
	struct result r;
	char *real = realpath(lib, NULL);
	ck_assert_ptr_nonnull(real);
	snprintf(env0, sizeof env0, "LD_PRELOAD=%s:libm.so.6", lib);
	run_tool_env(&r, NULL, env, "run", "--", "sh", "-c", "echo \"$LD_PRELOAD\"", NULL);
	ck_exit(&r, 0);
	snprintf(want, sizeof want, "%s:libm.so.6\n", real);
	free(real);
	ck_assert_str_eq(r.out, want);
}
END_TEST

START_TEST(run_uses_zcopy_library)
{
	char env0[PATH_MAX + 32], want[PATH_MAX + 32], cmd[PATH_MAX * 3];
	const char *env[] = {env0, NULL};
	struct result r;
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", lib, in_work("other.so"));
	ck_assert_int_eq(system(cmd), 0);
	snprintf(env0, sizeof env0, "ZCOPY_LIBRARY=%s", in_work("other.so"));
	run_tool_env(&r, NULL, env, "run", "--", "sh", "-c", "echo \"$LD_PRELOAD\"", NULL);
	ck_exit(&r, 0);
	snprintf(want, sizeof want, "%s\n", in_work("other.so"));
	ck_assert_str_eq(r.out, want);
	/* a ZCOPY_LIBRARY that is not there is an error, not a fallback */
	snprintf(env0, sizeof env0, "ZCOPY_LIBRARY=%s", in_work("missing.so"));
	run_tool_env(&r, NULL, env, "run", "--", "true", NULL);
	ck_exit(&r, 1);
	ck_has(r.err, "ZCOPY_LIBRARY=");
}
END_TEST

START_TEST(run_sets_mode_guard_stats_and_log)
{
	struct result r;
	char want[PATH_MAX * 2];
	ck_assert_int_eq(chdir(work), 0);
	run_tool(&r, "run", "-m", "observe", "-g", "-s", "st.%p.json", "-vv", "--", "sh", "-c",
		 "echo \"$ZCOPY_MODE $ZCOPY_GUARD $ZCOPY_STATS $ZCOPY_LOG\"");
	ck_exit(&r, 0);
	snprintf(want, sizeof want, "observe 1 %s/st.%%p.json 2\n", work);
	ck_assert_str_eq(r.out, want);
}
END_TEST

START_TEST(run_stats_dash_means_stderr)
{
	struct result r;
	run_tool(&r, "run", "-s", "-", "--", "sh", "-c", "echo \"$ZCOPY_STATS\"");
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, "stderr\n");
}
END_TEST

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Said once, by the tool, and CMD gets the value in force (off), so the
 * library in each of CMD's processes says nothing more. */
START_TEST(run_says_a_bad_mode_once_and_runs_off)
{
	static const char *const env[] = {"ZCOPY_MODE=disabled", NULL};
	struct result r;
	write_file(in_work("in"), 1 << 20);
	ck_assert_int_eq(chdir(work), 0);
	run_tool_env(&r, NULL, env, "run", "-s", "st", "--", "sh", "-c",
		     "cat in | cat > out; echo \"$ZCOPY_MODE\"", NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, "off\n");
	ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "ZCOPY_MODE=\"disabled\"") &&
			      strstr(r.err, "zcopy is off"),
		      "stderr: %s", r.err);
	slurp(in_work("st"), r.out, sizeof r.out);
	ck_has(r.out, "\"mode\":\"off\"");
	ck_assert_msg(!strstr(r.out, "\"mode\":\"on\""), "%s", r.out);
}
END_TEST

START_TEST(run_names_a_misspelt_variable)
{
	static const char *const env[] = {"ZCOPY_MDOE=off", "ZCOPY_FROB=1", NULL};
	struct result r;
	run_tool_env(&r, NULL, env, "run", "--", "true", NULL);
	ck_exit(&r, 0);
	ck_has(r.err, "ZCOPY_MDOE is not a zcopy setting (did you mean ZCOPY_MODE?)");
	ck_has(r.err, "ZCOPY_FROB is not a zcopy setting");
}
END_TEST

START_TEST(run_refuses_a_stats_file_it_cannot_write)
{
	struct result r;
	run_tool(&r, "run", "-s", in_work("no/such/dir/st"), "--", "true");
	ck_exit(&r, 2);
	ck_has(r.err, "does not exist");
	run_tool(&r, "run", "-s", work, "--", "true");
	ck_exit(&r, 2);
	ck_has(r.err, "not a regular file");
}
END_TEST

static void build_static(const char *path)
{
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd,
		 "printf 'int main(void){return 7;}' > '%s.c' && cc -static -o '%s' '%s.c'", path,
		 path, path);
	ck_assert_msg(system(cmd) == 0, "cannot build a static program (libc6-dev)");
}

START_TEST(run_says_a_static_program_runs_without_zcopy)
{
	struct result r;
	char script[PATH_MAX + 16];
	build_static(in_work("static"));
	run_tool(&r, "run", "--", in_work("static"));
	ck_exit(&r, 7);
	ck_has(r.err, "is statically linked");
	ck_has(r.err, "runs without zcopy");
	/* a script whose interpreter is static */
	snprintf(script, sizeof script, "#!%s\n", in_work("static"));
	write_text(in_work("script"), script);
	ck_assert_int_eq(chmod(in_work("script"), 0755), 0);
	run_tool(&r, "run", "--", in_work("script"));
	ck_exit(&r, 7);
	ck_has(r.err, "is statically linked");
	/* and a dynamic one gets no such line */
	run_tool(&r, "run", "--", "true");
	ck_assert_str_eq(r.err, "");
}
END_TEST

/* Secure mode needs a set-user-ID file owned by someone else: only root can
 * make one, so elsewhere the test checks the ordinary file only. */
START_TEST(run_says_a_setuid_program_runs_without_zcopy)
{
	struct result r;
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd, "cp /bin/true '%s'", in_work("suid"));
	ck_assert_int_eq(system(cmd), 0);
	run_tool(&r, "run", "--", in_work("suid"));
	ck_assert_str_eq(r.err, "");
	if (getuid() != 0) {
		fprintf(stderr, "run_says_a_setuid_program_runs_without_zcopy: not root, "
				"setuid part not checked\n");
		return;
	}
	ck_assert_int_eq(chown(in_work("suid"), 65534, 65534), 0);
	ck_assert_int_eq(chmod(in_work("suid"), 04755), 0);
	run_tool(&r, "run", "--", in_work("suid"));
	ck_exit(&r, 0);
	ck_has(r.err, "is setuid: the loader ignores LD_PRELOAD");
}
END_TEST

START_TEST(run_non_executable_exits_126)
{
	struct result r;
	write_file(in_work("data"), 10);
	run_tool(&r, "run", "--", in_work("data"));
	ck_exit(&r, 126);
	ck_has(r.err, "cannot execute");
}
END_TEST

/* -------------------------------------------------------------- observe */

START_TEST(observe_reports_cat_to_dev_null)
{
	struct result r;
	write_file(in_work("in"), 4 << 20);
	run_tool_env(&r, "/dev/null", NULL, "observe", "--", "cat", in_work("in"), NULL);
	ck_exit(&r, 0);
	ck_has(r.err, "zcopy observe: CMD exited with status 0; 1 process record");
	ck_has(r.err, "/cat");
	ck_has(r.err, "4.0 MiB"); /* every byte cat wrote went through an intercepted call */
	ck_has(r.err, "total");
	assert_tmpdir_empty();
}
END_TEST

/* CMD writes records into $ZCOPY_STATS itself, so the report's numbers are known. */
START_TEST(observe_reads_records_and_skips_malformed_lines)
{
	struct result r;
	run_tool(&r, "observe", "--", "sh", "-c",
		 "printf '%s\\n' 'not json' '{\"pid\":77,\"bytes_copied\":\"x\"}' "
		 "'{\"pid\":77,\"exe\":\"/opt/t\\u00e9st\",\"mode\":\"observe\","
		 "\"bytes_copied\":1073741824,\"would_zero_copy_bytes\":536870912,"
		 "\"extra\":[1,{\"a\":null}],\"fallbacks\":{\"alignment\":3,\"warmup\":1},"
		 "\"fallback_bytes\":{\"alignment\":536870000,\"warmup\":912}}' "
		 ">> \"$ZCOPY_STATS\"; exit 7");
	ck_exit(&r, 7);
	ck_has(r.err, "skipping a malformed stats record (expected '{' at byte 1)");
	ck_has(r.err, "skipping a malformed stats record (expected a non-negative integer");
	ck_has(r.err, "77             1.0 GiB      512.0 MiB  50.0%  /opt/t\xc3\xa9st");
	ck_has(r.err, "alignment                            3    512.0 MiB");
	ck_assert_msg(strstr(r.err, "alignment") < strstr(r.err, "    warmup "),
		      "reasons not sorted by bytes: %s", r.err);
	assert_tmpdir_empty();
}
END_TEST

START_TEST(observe_passes_signal_death_and_cleans_up)
{
	struct result r;
	run_tool(&r, "observe", "--", "sh", "-c", "kill -TERM $$");
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM,
		      "wait status 0x%x", (unsigned)r.status);
	ck_has(r.err, "killed by signal 15 (SIGTERM)");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(observe_keeps_records_with_s)
{
	struct result r;
	char kept[4096];
	run_tool(&r, "observe", "-s", in_work("kept.json"), "--", "sh", "-c",
		 "echo '{\"pid\":5,\"bytes_copied\":10}' >> \"$ZCOPY_STATS\"");
	ck_exit(&r, 0);
	slurp(in_work("kept.json"), kept, sizeof kept);
	ck_has(kept, "{\"pid\":5,\"bytes_copied\":10}\n");
	assert_tmpdir_empty();
}
END_TEST

/* -s - means stderr, as for run; no file called '-' appears. */
START_TEST(observe_stats_dash_means_stderr)
{
	struct result r;
	ck_assert_int_eq(chdir(work), 0);
	run_tool(&r, "observe", "-s", "-", "--", "sh", "-c",
		 "echo '{\"pid\":5,\"bytes_copied\":10}' >> \"$ZCOPY_STATS\"");
	ck_exit(&r, 0);
	ck_has(r.err, "{\"pid\":5,\"bytes_copied\":10}\n");
	ck_assert_int_ne(access(in_work("-"), F_OK), 0);
	assert_tmpdir_empty();
}
END_TEST

START_TEST(observe_names_why_no_record_came_back)
{
	struct result r;
	build_static(in_work("static"));
	run_tool(&r, "observe", "--", in_work("static"));
	ck_exit(&r, 7);
	ck_has(r.err, "no process wrote a record: ");
	ck_has(r.err, "is statically linked");
	run_tool(&r, "observe", "--", "sh", "-c", "kill -KILL $$");
	ck_has(r.err, "no process wrote a record: CMD was killed by SIGKILL");
	assert_tmpdir_empty();
}
END_TEST

/* ---------------------------------------------------------------- stats */

/* stats --sum adds one key over every record of every file: counters,
 * table members (absent ones count 0), both files; a malformed line is
 * skipped with a warning. */
START_TEST(stats_sum_adds_a_key_over_records_and_files)
{
	static const struct {
		const char *key, *sum;
	} sums[] = {
		{ "bytes_zero_copy", "3500\n" },     /* 1000 + 500 + 2000 */
		{ "transfers.splice", "8\n" },       /* 7 + 0 (absent) + 1 */
		{ "fallbacks.warmup", "3\n" },       /* absent, 3, absent */
		{ "fallback_bytes.warmup", "50\n" }, /* 50, absent, absent */
		{ "guard", "1\n" },                  /* 1 + 0 + absent */
	};
	struct result r;
	write_text(in_work("a"),
		   "{\"pid\":1,\"guard\":1,\"bytes_zero_copy\":1000,\"transfers\":{\"splice\":7},"
		   "\"fallbacks\":{},\"fallback_bytes\":{\"warmup\":50}}\n"
		   "not a record\n"
		   "{\"pid\":2,\"guard\":0,\"bytes_zero_copy\":500,\"fallbacks\":{\"warmup\":3}}\n");
	write_text(in_work("b"), "{\"pid\":3,\"bytes_zero_copy\":2000,\"transfers\":{\"splice\":1}}\n"
				 "{\"pid\":4,\"bytes_zero_copy\":-5}\n");
	for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
		run_tool(&r, "stats", "--sum", sums[i].key, in_work("a"), in_work("b"));
		ck_exit(&r, 0);
		ck_assert_str_eq(r.out, sums[i].sum);
		ck_has(r.err, "skipping a malformed stats record");
	}
	/* A key outside the record's schema is an error, not a quiet 0. */
	run_tool(&r, "stats", "--sum", "bytes_zerocopy", in_work("a"));
	ck_exit(&r, 2);
	ck_has(r.err, "unknown key 'bytes_zerocopy'");
	run_tool(&r, "stats", "--sum", "fallbacks.no_such_reason", in_work("a"));
	ck_exit(&r, 2);
	run_tool(&r, "stats", "--sum", "bytes_copied", in_work("no-such-file"));
	ck_exit(&r, 1);
	ck_assert_str_eq(r.out, "");
	run_tool(&r, "stats", "bytes_copied", in_work("a"));
	ck_exit(&r, 2);
}
END_TEST

/* The sum of a real run's records: the number the record holds. */
START_TEST(stats_sum_reads_what_the_library_wrote)
{
	struct result r;
	char rec[4096], want[64];
	write_file(in_work("in"), 4 << 20);
	run_tool_env(&r, "/dev/null", NULL, "run", "-s", in_work("st"), "--", "cat", in_work("in"),
		     NULL);
	ck_exit(&r, 0);
	slurp(in_work("st"), rec, sizeof rec);
	const char *at = strstr(rec, "\"bytes_zero_copy\":");
	ck_assert_ptr_nonnull(at);
	snprintf(want, sizeof want, "%lld\n", atoll(at + strlen("\"bytes_zero_copy\":")));
	ck_assert_str_ne(want, "0\n");
	run_tool(&r, "stats", "--sum", "bytes_zero_copy", in_work("st"));
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, want);
}
END_TEST

/* ------------------------------------------------------- fixed runs */

/* A run of the tool with fixed arguments (in the work directory) and what
 * its exit status and output must be. */
static const struct tool_case {
	const char *argv[12];  /* after the program name */
	int exit;
	const char *out_has[3], *err_has[2];
	const char *out_lacks, *err_lacks;
	int tmp_checked;       /* the temporary directory is left empty */
	const char *out_is;    /* the whole of stdout, if given */
	int err_empty;         /* nothing on stderr */
} tool_cases[] = {
	/* run: an unknown mode is refused */
	{ { "run", "-m", "fast", "--", "true" }, 2, { NULL }, { "bad mode" }, NULL, NULL,
	  .tmp_checked = 0 },
	/* run: a missing command exits 127, with nothing on stdout */
	{ { "run", "--", "zcopy-no-such-command" }, 127, { NULL },
	  { "zcopy-no-such-command: command not found" }, NULL, NULL, .out_is = "" },
	/* --version prints the version */
	{ { "--version" }, 0, { NULL }, { NULL }, NULL, NULL,
	  .out_is = "zcopy " ZCOPY_VERSION "\n" },
	/* --help goes to stdout */
	{ { "--help" }, 0, { "zcopy ab" }, { NULL }, NULL, NULL, .err_empty = 1 },
	/* a bad option exits 2 with the usage */
	{ { "run", "--frobnicate", "--", "true" }, 2, { NULL },
	  { "unknown option '--frobnicate'", "usage:" }, NULL, NULL, .out_is = "" },
	/* an unknown command, and ab without CMD, exit 2 */
	{ { "copy", "a", "b" }, 2, { NULL }, { "unknown command 'copy'" }, NULL, NULL,
	  .tmp_checked = 0 },
	{ { "ab", "-n", "2" }, 2, { NULL }, { "missing CMD" }, NULL, NULL, .tmp_checked = 0 },
	/* observe: a missing command exits 127 */
	{ { "observe", "--", "zcopy-no-such-command" }, 127, { NULL }, { "command not found" },
	  NULL, NULL, .tmp_checked = 1 },
	/* ab: output that changes between runs differs */
	{ { "ab", "-n", "2", "-w", "0", "--", "sh", "-c", "date +%N" }, 5,
	  { "NOT DETERMINISTIC WITHOUT ZCOPY", "run B1: stdout:", "not deterministic" }, { NULL },
	  NULL, NULL, .tmp_checked = 1 },
	/* ab: a difference on the B side only is named */
	{ { "ab", "-n", "2", "-w", "0", "--", "sh", "-c",
	    "[ \"$ZCOPY_MODE\" = on ] && echo changed; echo same" }, 3,
	  { "OUTPUTS DIFFER (2 differences)", "run B1: stdout: 5 bytes", "run B2: stdout:" },
	  { NULL }, "not deterministic", NULL, .tmp_checked = 1 },
	/* ab: the same nonzero exit is a failure (the reference run's stderr
	 * shown) unless ignored */
	{ { "ab", "-n", "2", "--", "sh", "-c", "echo out; echo why >&2; exit 3" }, 4,
	  { "CMD FAILED IN EVERY RUN (exited with status 3)", "    why\n" }, { NULL }, NULL, NULL,
	  .tmp_checked = 0 },
	{ { "ab", "-n", "2", "--ignore-failure", "--", "sh", "-c", "echo out; exit 3" }, 0,
	  { "outputs agree: CMD exited with status 3; stdout 4 bytes" }, { NULL }, NULL, NULL,
	  .tmp_checked = 1 },
	/* ab: says when only the status was compared */
	{ { "ab", "-n", "1", "-w", "0", "--", "sh", "-c", "cp /dev/null x" }, 0,
	  { "only the exit status was compared", "--out FILE" }, { NULL }, NULL, NULL,
	  .tmp_checked = 0 },
	{ { "ab", "-n", "1", "-w", "0", "--", "echo", "hi" }, 0, { NULL }, { NULL },
	  "only the exit status", NULL, .tmp_checked = 1 },
	/* ab: the child's stderr is kept out of the report (the command line
	 * itself must not hold the word looked for) unless asked for */
	{ { "ab", "-n", "1", "-w", "0", "--", "sh", "-c", "echo n''oise >&2; echo out" }, 0,
	  { NULL }, { NULL }, "noise", "noise", .tmp_checked = 0 },
	{ { "ab", "-n", "1", "-w", "0", "--show-output", "--", "sh", "-c",
	    "echo n''oise >&2; echo out" }, 0, { NULL }, { "noise\nnoise\n" }, NULL, NULL,
	  .tmp_checked = 1 },
	/* ab: an exit status difference is reported */
	{ { "ab", "-n", "1", "-w", "0", "--", "sh", "-c",
	    "[ \"$ZCOPY_MODE\" = on ] && exit 4; exit 0" }, 3,
	  { "run B1: exit status: exited with status 0 in run A1, exited with status 4" },
	  { NULL }, NULL, NULL, .tmp_checked = 1 },
	/* ab: a command killed by a signal on both sides agrees */
	{ { "ab", "-n", "2", "--", "sh", "-c", "kill -KILL $$" }, 4,
	  { "CMD FAILED IN EVERY RUN (killed by signal 9 (SIGKILL))" }, { NULL }, NULL, NULL,
	  .tmp_checked = 0 },
	{ { "ab", "-n", "2", "--ignore-failure", "--", "sh", "-c", "kill -KILL $$" }, 0,
	  { "outputs agree: CMD killed by signal 9 (SIGKILL)" }, { NULL }, NULL, NULL,
	  .tmp_checked = 1 },
	/* ab: a signal on one side differs */
	{ { "ab", "-n", "1", "-w", "0", "--", "sh", "-c",
	    "[ \"$ZCOPY_MODE\" = on ] && kill -USR1 $$; exit 0" }, 3,
	  { "killed by signal 10 (SIGUSR1) in run B1" }, { NULL }, NULL, NULL, .tmp_checked = 1 },
	/* ab: a missing command exits 127; zero runs are refused */
	{ { "ab", "--", "zcopy-no-such-command" }, 127, { NULL }, { "command not found" }, NULL,
	  NULL, .tmp_checked = 1 },
	{ { "ab", "-n", "0", "--", "true" }, 2, { NULL }, { "bad number of runs" }, NULL, NULL,
	  .tmp_checked = 0 },
};

START_TEST(tool_fixed_runs)
{
	const struct tool_case *c = &tool_cases[_i];
	struct result r;
	ck_assert_int_eq(chdir(work), 0);
	run_argv(&r, NULL, NULL, c->argv);
	ck_exit(&r, c->exit);
	for (size_t i = 0; i < 3 && c->out_has[i]; i++)
		ck_has(r.out, c->out_has[i]);
	for (size_t i = 0; i < 2 && c->err_has[i]; i++)
		ck_has(r.err, c->err_has[i]);
	if (c->out_is)
		ck_assert_str_eq(r.out, c->out_is);
	if (c->err_empty)
		ck_assert_str_eq(r.err, "");
	if (c->out_lacks)
		ck_assert_msg(!strstr(r.out, c->out_lacks), "\"%s\" in: %s", c->out_lacks, r.out);
	if (c->err_lacks)
		ck_assert_msg(!strstr(r.err, c->err_lacks), "\"%s\" in: %s", c->err_lacks, r.err);
	if (c->tmp_checked)
		assert_tmpdir_empty();
}
END_TEST

/* ------------------------------------------------------------------- ab */

START_TEST(ab_deterministic_command_agrees)
{
	struct result r;
	write_file(in_work("in"), 1 << 20);
	run_tool(&r, "ab", "-n", "3", "-w", "1", "--", "cat", in_work("in"));
	ck_exit(&r, 0);
	ck_has(r.out, "verdict: outputs agree: CMD exited with status 0; stdout 1048576 bytes");
	ck_has(r.out, "wall (s)");
	ck_has(r.out, "maxrss (KiB)");
	ck_has(r.out, "zcopy in the B runs (sum of 3 runs, 3 process records)");
	assert_tmpdir_empty();
}
END_TEST

/* The report's own example: dd of a file that is not there. */
START_TEST(ab_command_failing_in_every_run_exits_4)
{
	struct result r;
	run_tool_env(&r, in_work("ab.json"), NULL, "ab", "-n", "2", "-w", "0", "--json", "--",
		     "dd", "if=typo.img", "of=/dev/null", NULL);
	ck_exit(&r, 4);
	check_json(in_work("ab.json"), "assert d[\"verdict\"] == \"failed_every_run\";"
				       "assert d[\"exit_code\"] == 4 and d[\"agree\"] is True");
	/* one run that succeeds is enough not to call it a failure */
	run_tool(&r, "ab", "-n", "2", "-w", "0", "--", "sh", "-c",
		 "[ \"$ZCOPY_MODE\" = on ] && exit 1; exit 0");
	ck_exit(&r, 3);
	assert_tmpdir_empty();
}
END_TEST

/* The report's example: CMD reads the very file named with --out. */
START_TEST(ab_existing_out_file_is_left_intact)
{
	struct result r;
	struct stat before, after;
	char got[64];
	write_text(in_work("precious"), "precious data\n");
	ck_assert_int_eq(stat(in_work("precious"), &before), 0);
	run_tool(&r, "ab", "-n", "1", "-w", "0", "--out", in_work("precious"), "--", "cat",
		 in_work("precious"));
	ck_exit(&r, 2);
	ck_has(r.err, "exists");
	ck_has(r.err, "--force");
	slurp(in_work("precious"), got, sizeof got);
	ck_assert_str_eq(got, "precious data\n");
	/* --force: every run reads a copy of it; it is put back, same inode */
	run_tool(&r, "ab", "-n", "2", "-w", "1", "--force", "--out", in_work("precious"), "--",
		 "sh", "-c", "cat \"$0\"; echo changed > \"$0\"", in_work("precious"));
	ck_exit(&r, 0);
	ck_has(r.out, "stdout 14 bytes");
	slurp(in_work("precious"), got, sizeof got);
	ck_assert_str_eq(got, "precious data\n");
	ck_assert_int_eq(stat(in_work("precious"), &after), 0);
	ck_assert_int_eq(before.st_ino, after.st_ino);
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_force_puts_the_file_back_when_stopped)
{
	char outp[PATH_MAX + 8], got[64];
	int status;
	pid_t pid;

	write_text(in_work("precious"), "precious data\n");
	snprintf(outp, sizeof outp, "%s/stdout", work);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int i = open("/dev/null", O_RDONLY);
		if (o < 0 || i < 0 || dup2(o, 1) < 0 || dup2(i, 0) < 0)
			_exit(120);
		execl(tool, tool, "ab", "-n", "50", "--force", "--out", in_work("precious"), "--",
		      "sh", "-c", "echo new > \"$0\"; sleep 1", in_work("precious"), (char *)NULL);
		_exit(121);
	}
	usleep(300 * 1000);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "wait status 0x%x",
		      (unsigned)status);
	slurp(in_work("precious"), got, sizeof got);
	ck_assert_str_eq(got, "precious data\n");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_keep_keeps_differing_files_and_names_the_offset)
{
	struct result r;
	char kept[256];
	run_tool(&r, "ab", "-n", "1", "-w", "0", "--keep", in_work("kept"), "--", "sh", "-c",
		 "printf 'same-prefix '; [ \"$ZCOPY_MODE\" = on ] && echo B || echo A");
	ck_exit(&r, 3);
	ck_has(r.out, "first difference at byte 12");
	ck_has(r.out, "kept: ");
	slurp(in_work("kept/A1.stdout"), kept, sizeof kept);
	ck_assert_str_eq(kept, "same-prefix A\n");
	slurp(in_work("kept/B1.stdout"), kept, sizeof kept);
	ck_assert_str_eq(kept, "same-prefix B\n");
	assert_tmpdir_empty();
}
END_TEST

/* A pipe is read once and every run gets all of it. */
START_TEST(ab_piped_stdin_is_replayed_to_every_run)
{
	char cmd[PATH_MAX * 4], out[4096];
	write_file(in_work("in"), 300000);
	snprintf(cmd, sizeof cmd, "cat '%s' | '%s' ab -n 2 -w 1 -- wc -c > '%s' 2>&1",
		 in_work("in"), tool, in_work("res"));
	ck_assert_int_eq(system(cmd), 0);
	slurp(in_work("res"), out, sizeof out);
	ck_has(out, "outputs agree");
	ck_has(out, "stdout 7 bytes"); /* "300000\n" in every run */
	snprintf(cmd, sizeof cmd, "'%s' ab -n 2 -w 0 --stdin - -- wc -c < '%s' > '%s' 2>&1", tool,
		 in_work("in"), in_work("res"));
	ck_assert_int_eq(system(cmd), 0);
	slurp(in_work("res"), out, sizeof out);
	ck_has(out, "stdout 7 bytes");
	snprintf(cmd, sizeof cmd, "wc -c < '%s' > '%s'", in_work("in"), in_work("want"));
	ck_assert_int_eq(system(cmd), 0);
	slurp(in_work("want"), out, sizeof out);
	ck_assert_str_eq(out, "300000\n");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_prepare_and_cleanup_run_around_every_run)
{
	struct result r;
	char log[256], prep[PATH_MAX + 32], clean[PATH_MAX + 32];
	snprintf(prep, sizeof prep, "echo p >> '%s'; touch '%s'", in_work("log"), in_work("flag"));
	snprintf(clean, sizeof clean, "echo c >> '%s'; rm '%s'", in_work("log"), in_work("flag"));
	run_tool(&r, "ab", "-n", "2", "-w", "1", "--prepare", prep, "--cleanup", clean, "--",
		 "test", "-e", in_work("flag"));
	ck_exit(&r, 0);
	slurp(in_work("log"), log, sizeof log);
	ck_assert_str_eq(log, "p\nc\np\nc\np\nc\np\nc\np\nc\np\nc\n");
	run_tool(&r, "ab", "-n", "2", "--prepare", "exit 3", "--", "true");
	ck_exit(&r, 1);
	ck_has(r.err, "--prepare exit 3: exited with status 3");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_ratios_carry_a_spread_and_short_cpu_times_none)
{
	struct result r;
	write_file(in_work("in"), 300000);
	run_tool_env(&r, in_work("ab.json"), NULL, "ab", "-n", "4", "-w", "0", "--json", "--",
		     "cat", in_work("in"), NULL);
	ck_exit(&r, 0);
	check_json(in_work("ab.json"),
		   "q = d[\"ratio_iqr\"][\"wall\"]; m = d[\"ratio_b_over_a\"][\"wall\"];"
		   "assert q[\"q1\"] <= m <= q[\"q3\"] and q[\"wide\"] in (True, False);"
		   "assert d[\"ratio_b_over_a\"][\"user\"] is None;"
		   "assert \"unresolved\" in d[\"ratio_iqr\"][\"user\"]");
	run_tool(&r, "ab", "-n", "4", "-w", "0", "--", "cat", in_work("in"));
	ck_has(r.out, "(IQR)");
	ck_has(r.out, "too little CPU time");
	assert_tmpdir_empty();
}
END_TEST


START_TEST(ab_json_parses_and_holds_every_figure)
{
	struct result r;
	write_file(in_work("in"), 300000);
	run_tool_env(&r, in_work("ab.json"), NULL, "ab", "-n", "3", "--json", "--", "cat",
		     in_work("in"), NULL);
	ck_exit(&r, 0);
	check_json(in_work("ab.json"),
		   "assert d[\"agree\"] is True and d[\"runs\"] == 3 and d[\"warmup\"] == 1;"
		   "assert d[\"exit\"] == {\"status\": 0, \"signal\": None};"
		   "assert d[\"stdout\"][\"bytes\"] == 300000 and len(d[\"stdout\"][\"sha256\"]) == 64;"
		   "assert d[\"differences\"] == [] and d[\"differences_total\"] == 0;"
		   "assert all(set(d[s][m]) == {\"median\", \"min\", \"max\"} for s in \"ab\""
		   " for m in (\"wall_s\", \"user_s\", \"sys_s\", \"maxrss_kib\"));"
		   "assert d[\"a\"][\"wall_s\"][\"min\"] <= d[\"a\"][\"wall_s\"][\"median\"] <= "
		   "d[\"a\"][\"wall_s\"][\"max\"];"
		   "assert set(d[\"ratio_b_over_a\"]) == {\"wall\", \"user\", \"sys\", \"maxrss\"};"
		   "assert d[\"ratio_b_over_a\"][\"wall\"] > 0;"
		   "z = d[\"zcopy\"]; assert z[\"records\"] == 3;"
		   "assert all(k in z for k in (\"bytes_zero_copy\", \"bytes_copied\", "
		   "\"phantom_reads\", \"materialized_bytes\", \"transfers\", \"fallbacks\", "
		   "\"fallback_bytes\"));"
		   "assert [x[\"run\"] for x in d[\"all_runs\"]] == "
		   "[\"warm-up A1\", \"warm-up B1\", \"A1\", \"B1\", \"A2\", \"B2\", \"A3\", \"B3\"]");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_json_reports_difference_and_signal)
{
	struct result r;
	run_tool_env(&r, in_work("ab.json"), NULL, "ab", "-n", "1", "-w", "0", "--json", "--",
		     "sh", "-c", "[ \"$ZCOPY_MODE\" = on ] || kill -TERM $$; exit 0", NULL);
	ck_exit(&r, 3);
	check_json(in_work("ab.json"),
		   "assert d[\"agree\"] is False;"
		   "assert d[\"exit\"] == {\"status\": None, \"signal\": 15, "
		   "\"signal_name\": \"SIGTERM\"};"
		   "assert d[\"differences\"][0][\"run\"] == \"B1\";"
		   "assert d[\"differences\"][0][\"what\"] == \"exit status\"");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_out_file_is_compared)
{
	struct result r;
	char script[PATH_MAX * 2];
	snprintf(script, sizeof script, "cat > '%s'", in_work("o"));
	write_file(in_work("in"), 100000);
	run_tool_env(&r, in_work("ab.json"), NULL, "ab", "-n", "2", "--json", "--out",
		     in_work("o"), "--stdin", in_work("in"), "--", "sh", "-c", script, NULL);
	ck_exit(&r, 0);
	check_json(in_work("ab.json"), "assert d[\"out\"][0][\"first_a\"][\"bytes\"] == 100000;"
				       "assert d[\"stdout\"][\"bytes\"] == 0");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_out_file_difference_is_named)
{
	struct result r;
	char script[PATH_MAX * 2];
	snprintf(script, sizeof script, "echo \"$ZCOPY_MODE\" > '%s'", in_work("o"));
	run_tool(&r, "ab", "-n", "1", "-w", "0", "--out", in_work("o"), "--", "sh", "-c",
		 script);
	ck_exit(&r, 3);
	ck_has(r.out, "run B1: --out ");
	ck_has(r.out, "4 bytes (sha256"); /* "off\n" in A1 */
	assert_tmpdir_empty();
}
END_TEST

/* A run that found the previous run's file would exit 9 and differ from A1. */
START_TEST(ab_out_file_is_removed_before_each_run)
{
	struct result r;
	char script[PATH_MAX * 2];
	snprintf(script, sizeof script, "test -e '%s' && exit 9; echo x > '%s'", in_work("o"),
		 in_work("o"));
	run_tool(&r, "ab", "-n", "2", "--out", in_work("o"), "--", "sh", "-c", script);
	ck_exit(&r, 0);
	ck_has(r.out, "exited with status 0");
	assert_tmpdir_empty();
}
END_TEST

START_TEST(ab_sigterm_stops_and_cleans_up)
{
	char outp[PATH_MAX + 8];
	struct timespec t0, t1;
	int status;
	pid_t pid;

	snprintf(outp, sizeof outp, "%s/stdout", work);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int i = open("/dev/null", O_RDONLY);
		if (o < 0 || i < 0 || dup2(o, 1) < 0 || dup2(i, 0) < 0)
			_exit(120);
		execl(tool, tool, "ab", "-n", "50", "--", "sleep", "1", (char *)NULL);
		_exit(121);
	}
	usleep(300 * 1000);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "wait status 0x%x",
		      (unsigned)status);
	/* The signal went on to the running sleep: no waiting for 100 runs. */
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
	assert_tmpdir_empty();
}
END_TEST

/* ---------------------------------------------------------------------- */

/* A test case with its fixture and timeout; test_env.c, test_fatal.c and
 * test_streams.c make theirs with it too. */
TCase *fixture_tcase(const char *name, int timeout, SFun set_up, SFun tear_down)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, set_up, tear_down);
	tcase_set_timeout(tc, timeout);
	return tc;
}

static TCase *tcase(Suite *s, const char *name, int timeout)
{
	TCase *tc = fixture_tcase(name, timeout, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("zcopy command");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase(s, "run", 20);
	tcase_add_test(tc, run_passes_exit_status_0);
	tcase_add_test(tc, run_passes_exit_status_42);
	tcase_add_test(tc, run_passes_signal_death_through);
	tcase_add_test(tc, run_puts_library_in_empty_preload);
	tcase_add_test(tc, run_puts_library_first_and_keeps_existing_preload);
	tcase_add_test(tc, run_does_not_preload_the_library_twice);
	tcase_add_test(tc, run_uses_zcopy_library);
	tcase_add_test(tc, run_sets_mode_guard_stats_and_log);
	tcase_add_test(tc, run_stats_dash_means_stderr);
	tcase_add_test(tc, run_says_a_bad_mode_once_and_runs_off);
	tcase_add_test(tc, run_names_a_misspelt_variable);
	tcase_add_test(tc, run_refuses_a_stats_file_it_cannot_write);
	tcase_add_test(tc, run_says_a_static_program_runs_without_zcopy);
	tcase_add_test(tc, run_says_a_setuid_program_runs_without_zcopy);
	tcase_add_test(tc, run_non_executable_exits_126);

	tc = tcase(s, "observe", 30);
	tcase_add_test(tc, observe_reports_cat_to_dev_null);
	tcase_add_test(tc, observe_reads_records_and_skips_malformed_lines);
	tcase_add_test(tc, observe_passes_signal_death_and_cleans_up);
	tcase_add_test(tc, observe_keeps_records_with_s);
	tcase_add_test(tc, observe_stats_dash_means_stderr);
	tcase_add_test(tc, observe_names_why_no_record_came_back);

	tc = tcase(s, "stats", 30);
	tcase_add_test(tc, stats_sum_adds_a_key_over_records_and_files);
	tcase_add_test(tc, stats_sum_reads_what_the_library_wrote);

	tc = tcase(s, "ab", 60);
	tcase_add_test(tc, ab_deterministic_command_agrees);
	tcase_add_test(tc, ab_command_failing_in_every_run_exits_4);
	tcase_add_test(tc, ab_existing_out_file_is_left_intact);
	tcase_add_test(tc, ab_force_puts_the_file_back_when_stopped);
	tcase_add_test(tc, ab_keep_keeps_differing_files_and_names_the_offset);
	tcase_add_test(tc, ab_piped_stdin_is_replayed_to_every_run);
	tcase_add_test(tc, ab_prepare_and_cleanup_run_around_every_run);
	tcase_add_test(tc, ab_ratios_carry_a_spread_and_short_cpu_times_none);
	tcase_add_test(tc, ab_json_parses_and_holds_every_figure);
	tcase_add_test(tc, ab_json_reports_difference_and_signal);
	tcase_add_test(tc, ab_out_file_is_compared);
	tcase_add_test(tc, ab_out_file_difference_is_named);
	tcase_add_test(tc, ab_out_file_is_removed_before_each_run);
	tcase_add_test(tc, ab_sigterm_stops_and_cleans_up);
	tcase_add_loop_test(tc, tool_fixed_runs, 0, sizeof tool_cases / sizeof tool_cases[0]);

	suite_add_tcase(s, records_tcase());
	suite_add_tcase(s, env_tcase());
	suite_add_tcase(s, fatal_tcase());
	suite_add_tcase(s, streams_tcase());

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
