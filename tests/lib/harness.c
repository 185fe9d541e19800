/*
 * harness.c - see harness.h.  Runs commands with an environment built before
 * fork (tests may have threads), each in its own process group so a hung
 * run and everything it forked can be killed; reads stats records with the
 * zcopy command's reader (tools/records.c), so a test sees the record as the
 * tool does.
 */
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool.h" /* the stats-record reader, tools/records.c */

extern char **environ;

const char *const it_mode_names[4] = { "none", "off", "observe", "on" };
char it_lib[4096];
char it_progs[4096];
char it_dir[4096];
static char base_dir[256];

static void resolve(char *out, const char *env, const char *fallback)
{
	const char *p = getenv(env);
	if (!p || !*p)
		p = fallback;
	if (!realpath(p, out)) {
		fprintf(stderr, "integration: %s (%s): %s\n", p, env, strerror(errno));
		exit(2);
	}
}

static void global_init(const char *progs)
{
	resolve(it_lib, "ZCOPY_TEST_LIB", "build/libzcopy.so");
	resolve(it_progs, "ZCOPY_TEST_PROGS", progs);
	snprintf(base_dir, sizeof base_dir, "/tmp/zcopy-test.XXXXXX");
	if (!mkdtemp(base_dir)) {
		perror("mkdtemp");
		exit(2);
	}
	/* Preload a private copy: a rebuild of build/libzcopy.so while the
	 * suite runs must not change the library under test half-way. */
	char copy[sizeof base_dir + 32];
	snprintf(copy, sizeof copy, "%s/libzcopy.so", base_dir);
	int in = open(it_lib, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_EXCL, 0755);
	static char buf[1 << 16];
	ssize_t n = 0;
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			n = -1;
	if (in < 0 || out < 0 || n < 0 || close(out) != 0) {
		fprintf(stderr, "integration: copying %s: %s\n", it_lib, strerror(errno));
		exit(2);
	}
	close(in);
	snprintf(it_lib, sizeof it_lib, "%s", copy);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	if (*dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Skips are told by a file in the base directory: each test runs in a
 * process of its own, and Check knows only pass and fail. */
static char skip_file[sizeof base_dir + 16];

void it_skip(const char *why)
{
	FILE *f = fopen(skip_file, "a");
	if (f) {
		fprintf(f, "%s\n", why);
		fclose(f);
	}
	/* Ends the test's process as a pass for Check; it_main counts it as
	 * skipped. */
	exit(0);
}

static const char *suite_name = "suite";

Suite *it_suite(const char *name)
{
	suite_name = name;
	return suite_create(name);
}

int it_main(Suite *s, const char *progs)
{
	global_init(progs);
	snprintf(skip_file, sizeof skip_file, "%s/skipped", base_dir);
	/* Check's log names each test; its failures are shown from there, so
	 * that the one summary line below is all a passing suite prints. */
	char log[sizeof base_dir + 16];
	snprintf(log, sizeof log, "%s/check.log", base_dir);
	int verbose = getenv("V") && strcmp(getenv("V"), "1") == 0;
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_set_log(sr, log);
	srunner_run_all(sr, verbose ? CK_VERBOSE : CK_SILENT);
	int run = srunner_ntests_run(sr), failed = srunner_ntests_failed(sr), skipped = 0;
	srunner_free(sr); /* closes the log */
	char line[4096];
	FILE *f = verbose ? NULL : fopen(log, "r");
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, ":F:") || strstr(line, ":E:"))
			fputs(line, stdout);
	if (f)
		fclose(f);
	f = fopen(skip_file, "r");
	while (f && fgets(line, sizeof line, f)) {
		printf("skipped: %s", line);
		skipped++;
	}
	if (f)
		fclose(f);
	printf("%s: %d passed, %d failed, %d skipped\n", suite_name, run - failed - skipped,
	       failed, skipped);
	rm_tree(base_dir);
	return failed == 0 ? 0 : 1;
}

void it_add(TCase *tc, const TTest *const *tests)
{
	for (size_t i = 0; tests[i]; i++)
		tcase_add_test(tc, tests[i]);
}

TCase *it_tcase(Suite *s, const char *name, void (*setup)(void), int timeout)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup ? setup : it_begin, NULL);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

static pid_t owner_pid;

static void end_test(void)
{
	/* Only the test's own process removes its directory, never a child
	 * that happens to exit through atexit. */
	if (getpid() == owner_pid)
		rm_tree(it_dir);
}

void it_begin(void)
{
	snprintf(it_dir, sizeof it_dir, "%s/t.XXXXXX", base_dir);
	ck_assert_msg(mkdtemp(it_dir) != NULL, "mkdtemp: %s", strerror(errno));
	/* Relative names mean the same to the harness and to the test's own
	 * stdio calls. */
	ck_assert_msg(chdir(it_dir) == 0, "chdir %s: %s", it_dir, strerror(errno));
	owner_pid = getpid();
	atexit(end_test);
}

/* "base/rel", kept for the rest of the test: a test is one short-lived
 * process, so what it allocates here is never freed. */
static const char *join(const char *base, const char *rel)
{
	char *p = NULL;
	ck_assert_msg(asprintf(&p, "%s/%s", base, rel) > 0, "out of memory");
	return p;
}

const char *it_path(const char *rel)
{
	return join(it_dir, rel);
}

const char *it_prog(const char *name)
{
	return join(it_progs, name);
}

void it_make_file(const char *rel, size_t size, uint64_t seed)
{
	int fd = open(it_path(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "create %s: %s", rel, strerror(errno));
	static uint64_t block[8192];
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	for (size_t done = 0; done < size;) {
		for (size_t i = 0; i < 8192; i++) { /* xorshift64* */
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			block[i] = x * 0x2545f4914f6cdd1dULL;
		}
		size_t n = size - done < sizeof block ? size - done : sizeof block;
		ck_assert_msg(write(fd, block, n) == (ssize_t)n, "write %s", rel);
		done += n;
	}
	close(fd);
}

off_t it_file_size(const char *rel)
{
	struct stat st;
	if (stat(it_path(rel), &st) != 0)
		return -1;
	return st.st_size;
}

char *it_slurp(const char *rel, size_t *len)
{
	FILE *f = fopen(it_path(rel), "rb");
	ck_assert_msg(f != NULL, "open %s: %s", rel, strerror(errno));
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (n == cap)
			buf = realloc(buf, (cap *= 2) + 1);
		size_t r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

void it_same_file(const char *a, const char *b)
{
	int fa = open(it_path(a), O_RDONLY), fb = open(it_path(b), O_RDONLY);
	ck_assert_msg(fa >= 0, "%s missing: %s", a, strerror(errno));
	ck_assert_msg(fb >= 0, "%s missing: %s", b, strerror(errno));
	static char ba[1 << 16], bb[1 << 16];
	long long off = 0;
	for (;;) {
		ssize_t na = read(fa, ba, sizeof ba), nb = read(fb, bb, sizeof bb);
		ck_assert(na >= 0 && nb >= 0);
		/* Regular files give full reads until the end. */
		ssize_t n = na < nb ? na : nb;
		for (ssize_t i = 0; i < n; i++)
			if (ba[i] != bb[i])
				ck_abort_msg("%s and %s differ at byte %lld", a, b, off + i);
		if (na != nb)
			ck_abort_msg("%s and %s differ in size (%lld vs %lld bytes)", a, b,
				     (long long)it_file_size(a), (long long)it_file_size(b));
		if (na == 0)
			break;
		off += na;
	}
	close(fa);
	close(fb);
}

/* ---- running commands ---------------------------------------------------- */

/* Environment for a run: ours minus LD_PRELOAD and ZCOPY_*, plus the mode's
 * settings and the extras.  Built in the parent (no malloc after fork). */
static char **build_env(const char *tagdir, enum it_mode mode, int keep_env,
			const char *const *extra)
{
	size_t n = 0;
	while (environ[n])
		n++;
	size_t ne = 0;
	while (extra && extra[ne])
		ne++;
	char **env = calloc(n + ne + 8, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 ||
		    strncmp(environ[i], "ZCOPY_", 6) == 0)
			continue;
		env[k++] = environ[i];
	}
	if (mode != IT_NONE) {
		char *v;
		if (asprintf(&v, "LD_PRELOAD=%s", it_lib) > 0)
			env[k++] = v;
		if (!keep_env) {
			if (asprintf(&v, "ZCOPY_MODE=%s", it_mode_names[mode]) > 0)
				env[k++] = v;
			if (asprintf(&v, "ZCOPY_STATS=%s/stats", tagdir) > 0)
				env[k++] = v;
		}
	}
	for (size_t i = 0; i < ne; i++)
		env[k++] = (char *)extra[i];
	env[k] = NULL;
	return env;
}

static pid_t spawn(const char *cwd, const char *const *argv, char **env, int in, int out,
		   int err)
{
	pid_t pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		/* Tests may ignore or block SIGPIPE; the program must not inherit it. */
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || chdir(cwd) != 0)
			_exit(126);
		/* Nothing else of ours may leak in: a stray pipe end would keep
		 * a reader alive (no EPIPE) or a writer open (no EOF). */
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		execvpe(argv[0], (char *const *)argv, env);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Waits for pid; on timeout kills its process group and fails. */
static int wait_for(pid_t pid, time_t deadline, const char *what)
{
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		ck_assert_msg(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		if (time(NULL) > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("%s did not finish in time (killed)", what);
		}
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static struct {
	char tag[64];
	int status;
} statuses[32];

static void remember(const char *tag, int status)
{
	for (int i = 0; i < 32; i++) {
		if (!statuses[i].tag[0] || strcmp(statuses[i].tag, tag) == 0) {
			snprintf(statuses[i].tag, sizeof statuses[i].tag, "%s", tag);
			statuses[i].status = status;
			return;
		}
	}
}

int it_status(const char *tag)
{
	for (int i = 0; i < 32 && statuses[i].tag[0]; i++)
		if (strcmp(statuses[i].tag, tag) == 0)
			return statuses[i].status;
	ck_abort_msg("no run named %s", tag);
	return -1;
}

struct it_result it_exec(const struct it_spec *s)
{
	const char *tag = s->tag ? s->tag : it_mode_names[s->mode];
	char tagdir[4096 + 64];
	snprintf(tagdir, sizeof tagdir, "%s/%s", it_dir, tag);
	ck_assert_msg(mkdir(tagdir, 0755) == 0 || errno == EEXIST, "mkdir %s", tagdir);
	char path[sizeof tagdir + 64];

	int in = open(s->in ? it_path(s->in) : "/dev/null", O_RDONLY);
	ck_assert_msg(in >= 0, "stdin %s: %s", s->in, strerror(errno));
	int out = s->out_fd;
	if (out < 0 && !s->consumer) {
		if (s->out)
			snprintf(path, sizeof path, "%s", s->out);
		else
			snprintf(path, sizeof path, "%s/stdout", tagdir);
		out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_msg(out >= 0, "stdout %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof path, "%s/stderr", tagdir);
	int err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(err >= 0, "stderr %s: %s", path, strerror(errno));

	const char *cwd = s->in_dir ? it_dir : tagdir;
	time_t deadline = time(NULL) + (s->timeout ? s->timeout : 60);
	char **env = build_env(tagdir, s->mode, s->keep_env, s->env);
	struct it_result r = { 0, 0 };
	if (s->consumer) {
		int p[2];
		ck_assert(pipe(p) == 0);
		snprintf(path, sizeof path, "%s/piped", tagdir);
		int cout = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		snprintf(path, sizeof path, "%s/consumer.stderr", tagdir);
		int cerr = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert(cout >= 0 && cerr >= 0);
		char **cenv = build_env(tagdir, IT_NONE, 0, NULL);
		pid_t prod = spawn(cwd, s->argv, env, in, p[1], err);
		pid_t cons = spawn(cwd, s->consumer, cenv, p[0], cout, cerr);
		close(p[0]);
		close(p[1]);
		close(cout);
		close(cerr);
		r.status = wait_for(prod, deadline, s->argv[0]);
		r.consumer_status = wait_for(cons, deadline, s->consumer[0]);
		free(cenv);
	} else {
		pid_t pid = spawn(cwd, s->argv, env, in, out, err);
		r.status = wait_for(pid, deadline, s->argv[0]);
		/* A reader or changer the program forked and left behind. */
		if (s->reap)
			kill(-pid, SIGKILL);
	}
	free(env);
	close(in);
	close(err);
	if (out != s->out_fd && out >= 0)
		close(out);
	remember(tag, r.status);
	return r;
}

const char *it_describe(int st)
{
	static char ring[4][64];
	static unsigned next;
	char *p = ring[next++ % 4];
	if (WIFEXITED(st))
		snprintf(p, 64, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(p, 64, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(p, 64, "status %#x", st);
	return p;
}

void it_compare(const char *tag, const char *const *outputs)
{
	int a = it_status("none"), b = it_status(tag);
	char x[256], y[256];
	snprintf(y, sizeof y, "%s/stderr", tag);
	ck_assert_msg(a == b, "run %s: %s, without the shim: %s (stderr: %s)", tag, it_describe(b),
		      it_describe(a), it_slurp(y, NULL));
	snprintf(x, sizeof x, "none/stdout");
	snprintf(y, sizeof y, "%s/stdout", tag);
	if (it_file_size(x) >= 0 || it_file_size(y) >= 0)
		it_same_file(x, y);
	snprintf(x, sizeof x, "none/stderr");
	snprintf(y, sizeof y, "%s/stderr", tag);
	char *ea = it_slurp(x, NULL), *eb = it_slurp(y, NULL);
	ck_assert_msg(strcmp(ea, eb) == 0, "run %s: stderr differs; without the shim:\n%.400s\nwith:\n%.400s",
		      tag, ea, eb);
	free(ea);
	free(eb);
	for (int i = 0; outputs && outputs[i]; i++) {
		snprintf(x, sizeof x, "none/%s", outputs[i]);
		snprintf(y, sizeof y, "%s/%s", tag, outputs[i]);
		it_same_file(x, y);
	}
}

void it_expect_plain_success(const char *what)
{
	int st = it_status("none");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s without the shim: %s: %s", what,
		      it_describe(st), it_slurp("none/stderr", NULL));
}

void it_four_spec(const struct it_spec *tmpl, const char *const *outputs)
{
	int cst[4];
	for (int m = IT_NONE; m <= IT_ON; m++) {
		struct it_spec s = *tmpl;
		s.mode = (enum it_mode)m;
		s.tag = NULL;
		cst[m] = it_exec(&s).consumer_status;
	}
	for (int m = IT_OFF; m <= IT_ON; m++) {
		it_compare(it_mode_names[m], outputs);
		if (tmpl->consumer) {
			ck_assert_msg(cst[m] == cst[IT_NONE], "run %s: %s ended with %s, without the shim %s",
				      it_mode_names[m], tmpl->consumer[0], it_describe(cst[m]),
				      it_describe(cst[IT_NONE]));
			char y[64];
			snprintf(y, sizeof y, "%s/piped", it_mode_names[m]);
			it_same_file("none/piped", y);
		}
	}
}

void it_four(const char *const *argv, const char *const *env, const char *const *outputs)
{
	struct it_spec s = { .argv = argv, .env = env, .out_fd = -1 };
	for (int m = IT_NONE; m <= IT_ON; m++) {
		s.mode = (enum it_mode)m;
		it_exec(&s);
		/* A plain run that failed makes every comparison meaningless. */
		if (m == IT_NONE)
			it_expect_plain_success(argv[0]);
	}
	for (int m = IT_OFF; m <= IT_ON; m++)
		it_compare(it_mode_names[m], outputs);
}

int it_count_lines(const char *text, const char *needle, const char *also)
{
	int n = 0;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *copy = strndup(line, len);
		if (strstr(copy, needle) && (!also || strstr(copy, also)))
			n++;
		free(copy);
		if (!nl)
			break;
		line = nl + 1;
	}
	return n;
}

/* ---- stats ---------------------------------------------------------------- */

/* exe names the program: the record's path ends with "/exe" (or is exe);
 * NULL matches every record. */
static int exe_matches(const struct zt_record *r, const char *exe)
{
	if (!exe)
		return 1;
	size_t n = strlen(exe), len = strlen(r->exe);
	if (len < n || strcmp(r->exe + len - n, exe) != 0)
		return 0;
	return len == n || r->exe[len - n - 1] == '/';
}

const char *it_stats_text(const char *tag)
{
	char rel[128];
	snprintf(rel, sizeof rel, "%s/stats", tag);
	if (it_file_size(rel) < 0)
		return "(no stats file)";
	return it_slurp(rel, NULL);
}

/* Calls fn for each record of exe in run tag, read by the tool's reader
 * (tools/records.c); returns how many.  A line it cannot read fails the
 * test: the library wrote a broken record. */
static int each_record(const char *tag, const char *exe,
		       void (*fn)(const struct zt_record *, void *), void *arg)
{
	char rel[128];
	snprintf(rel, sizeof rel, "%s/stats", tag);
	if (it_file_size(rel) < 0)
		return 0;
	char *text = it_slurp(rel, NULL);
	int n = 0;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (*line == '{') {
			struct zt_record r;
			const char *why = NULL;
			ck_assert_msg(zt_record_parse(line, len, &r, &why, NULL) == 0,
				      "run %s: unreadable stats record (%s): %.*s", tag, why, (int)len,
				      line);
			if (exe_matches(&r, exe)) {
				n++;
				if (fn)
					fn(&r, arg);
			}
			zt_record_free(&r);
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	free(text);
	return n;
}

int it_stat_records(const char *tag, const char *exe)
{
	return each_record(tag, exe, NULL, NULL);
}

/* Whether r holds the top-level key of key ("transfers" of
 * "transfers.splice"). */
static int has_top(const struct zt_record *r, const char *key)
{
	size_t top = strcspn(key, ".");
	for (unsigned i = 0; zt_record_keys[i]; i++)
		if (strlen(zt_record_keys[i]) == top && strncmp(zt_record_keys[i], key, top) == 0)
			return r->have >> i & 1;
	return 0;
}

struct stat_query {
	const char *key;
	long long sum;
	const char *missing;
	int optional;
};

static void add_value(const struct zt_record *r, void *arg)
{
	struct stat_query *q = arg;
	uint64_t v;
	ck_assert_msg(zt_record_get(r, q->key, &v) >= 0, "%s is not a key of the stats record",
		      q->key);
	if (!has_top(r, q->key) && !q->optional)
		q->missing = q->key;
	q->sum += (long long)v; /* zero counts are left out of the tables */
}

static long long query(const char *tag, const char *exe, const char *key, int optional)
{
	struct stat_query q = { key, 0, NULL, optional };
	int n = each_record(tag, exe, add_value, &q);
	ck_assert_msg(n > 0, "run %s: no stats record for %s; stats: %s", tag, exe ? exe : "any",
		      it_stats_text(tag));
	ck_assert_msg(!q.missing, "run %s: stats record of %s lacks %s: %s", tag,
		      exe ? exe : "a process", q.missing, it_stats_text(tag));
	return q.sum;
}

long long it_stat(const char *tag, const char *exe, const char *key)
{
	return query(tag, exe, key, 0);
}

long long it_stat_opt(const char *tag, const char *exe, const char *key)
{
	return query(tag, exe, key, 1);
}

struct str_query {
	const char *key;
	char *value;
};

/* The strings of the record are "exe" and "mode". */
static void first_string(const struct zt_record *r, void *arg)
{
	struct str_query *q = arg;
	if (q->value || !has_top(r, q->key))
		return;
	if (strcmp(q->key, "mode") == 0)
		q->value = strdup(r->mode);
	else if (strcmp(q->key, "exe") == 0)
		q->value = strdup(r->exe);
}

const char *it_stat_str(const char *tag, const char *exe, const char *key)
{
	struct str_query q = { key, NULL };
	int n = each_record(tag, exe, first_string, &q);
	ck_assert_msg(n > 0, "run %s: no stats record for %s; stats: %s", tag, exe,
		      it_stats_text(tag));
	ck_assert_msg(q.value != NULL, "run %s: record of %s lacks string %s", tag, exe, key);
	return q.value;
}

void it_expect_passive(const char *exe)
{
	static const char *const moved[] = { "bytes_zero_copy", "phantom_reads",
					     "materialized_bytes", "transfers.copy_file_range",
					     "transfers.sendfile", "transfers.splice" };
	ck_assert_str_eq(it_stat_str("off", exe, "mode"), "off");
	ck_assert_str_eq(it_stat_str("observe", exe, "mode"), "observe");
	for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
		long long off = it_stat("off", exe, moved[i]);
		long long obs = it_stat("observe", exe, moved[i]);
		ck_assert_msg(off == 0, "ZCOPY_MODE=off: %s = %lld, expected 0", moved[i], off);
		ck_assert_msg(obs == 0, "ZCOPY_MODE=observe: %s = %lld, expected 0", moved[i], obs);
	}
	long long would = it_stat_opt("off", exe, "would_zero_copy_bytes");
	ck_assert_msg(would == 0, "ZCOPY_MODE=off: would_zero_copy_bytes = %lld", would);
	ck_assert_str_eq(it_stat_str("on", exe, "mode"), "on");
}

/* ---- one program run plain or under zcopy -------------------------------- */

int it_run(const char *tag, int shim, const char *const *argv, int timeout)
{
	const char *full[64];
	size_t n = 0;
	full[n++] = it_prog(argv[0]);
	for (size_t i = 1; argv[i]; i++) {
		ck_assert(n < sizeof full / sizeof full[0] - 1);
		full[n++] = argv[i];
	}
	full[n] = NULL;
	struct it_spec s = { .tag = tag, .mode = shim ? IT_ON : IT_NONE, .argv = full,
			     .env = IT_ARGV("ZCOPY_MIN_CHUNK=65536"), .out_fd = -1,
			     .timeout = timeout, .in_dir = 1, .reap = 1 };
	return it_exec(&s).status;
}

char *it_out(const char *tag)
{
	char p[256];
	snprintf(p, sizeof p, "%s/stdout", tag);
	return it_slurp(p, NULL);
}

void it_same_out(const char *a, const char *b)
{
	char *pa = it_out(a), *pb = it_out(b);
	ck_assert_msg(strcmp(pa, pb) == 0, "stdout differs:\n--- %s\n%s--- %s\n%s", a, pa, b, pb);
	free(pa);
	free(pb);
}

long long it_err_count(const char *tag, const char *name)
{
	char p[256], key[64];
	snprintf(p, sizeof p, "%s/stderr", tag);
	snprintf(key, sizeof key, "%s ", name);
	char *t = it_slurp(p, NULL);
	char *at = strstr(t, key);
	long long v = at ? atoll(at + strlen(key)) : -1;
	free(t);
	return v;
}

void it_copy_file(const char *from, const char *to)
{
	size_t n;
	char *p = it_slurp(from, &n);
	FILE *f = fopen(it_path(to), "wb");
	ck_assert_msg(f != NULL, "%s: %s", to, strerror(errno));
	ck_assert(fwrite(p, 1, n, f) == n);
	ck_assert(fclose(f) == 0);
	free(p);
}

void it_expect_engaged(const char *tag)
{
	long long zc = it_stat_opt(tag, NULL, "bytes_zero_copy");
	long long ph = it_stat_opt(tag, NULL, "phantom_reads");
	ck_assert_msg(zc > 0 || ph > 0,
		      "%s run: the engine never engaged (bytes_zero_copy 0, phantom_reads 0): "
		      "the fault did not hit a redirected copy",
		      tag);
}

void it_expect_redirected(const char *tag)
{
	ck_assert_msg(it_stat_opt(tag, NULL, "bytes_zero_copy") > 0,
		      "%s run: no byte went by a kernel transfer (bytes_zero_copy 0): the fault "
		      "did not hit a redirected copy",
		      tag);
}
