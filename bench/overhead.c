/*
 * overhead.c - what zcopy costs where it redirects nothing: four workloads
 * run with no preload and with the library preloaded in each ZCOPY_MODE,
 * interleaved after a warm-up round, each round starting one variant later
 * than the round before (none off observe on, off observe on none, ...): in
 * a fixed order `on` always ran right after `observe`, and sha256sum under
 * `on` measured 22% above no preload in two reports where rotated rounds of
 * the same commands show the two level:
 *   tiny    1-byte read()/write() loop to /dev/null (bench/tiny.c)
 *   sha256  sha256sum FILE
 *   gzip    gzip -1 -c FILE
 *   exec    a bash loop that runs /bin/true EXEC_N times: the library's
 *           load, start-up and exit in every process, where a long run
 *           spreads them thin (the children run without ZCOPY_STATS: bash
 *           read it at its start and writes its own record, and a record
 *           per child would add the cost of writing it, not the library's)
 * Every run's stdout must be the expected one and every preloaded run must
 * leave its own ZCOPY_STATS record.  Usage: overhead LIB TINY DOC.  Knobs:
 * OVERHEAD_RUNS (5), OVERHEAD_SIZE (256M), OVERHEAD_TINY_SIZE (1M),
 * OVERHEAD_DIR (/tmp); the defaults keep a run to about five minutes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "tool.h" /* the stats-record reader, tools/records.c */

#define NV 4
#define NW 4
#define EXEC_N "200"
#define MAXRUNS 64
#define BLK (1 << 20)
#define P 512

extern char **environ;

static const char *const vname[NV] = {"none", "off", "observe", "on"};

struct wl {
	const char *id, *title;
	char *argv[6];                /* argv[0] is looked up in PATH */
	double wall[NV][MAXRUNS], cpu[NV][MAXRUNS];
	uint64_t out_hash, out_len;   /* expected stdout: tiny's is known, else the first run's */
	int records[NV];              /* ZCOPY_STATS records found */
	uint64_t zc_bytes[NV];        /* summed bytes_zero_copy (on), would_zero_copy_bytes (observe) */
};

/* Everything the run creates; cleanup() removes exactly these. */
static char work[P / 2], lib[P], tinyp[P], big[P], small[P], errf[P], statsf[P];
static char tiny_n[32]; /* tiny's -n argument */

static struct wl wls[NW] = {
	{.id = "tiny", .title = "1-byte read/write loop to /dev/null",
	 .argv = {tinyp, "-n", tiny_n, small}},
	{.id = "sha256", .title = "`sha256sum FILE`", .argv = {"sha256sum", big}},
	{.id = "gzip", .title = "`gzip -1 -c FILE`", .argv = {"gzip", "-1", "-c", big}},
	{.id = "exec", .title = "`bash -c` loop running `/bin/true` " EXEC_N " times",
	 .argv = {"bash", "-c",
		  "unset ZCOPY_STATS; i=0; while [ $i -lt " EXEC_N " ]; do /bin/true || exit 1; "
		  "i=$((i + 1)); done"}},
};

static void cleanup(void)
{
	char *const made[] = {lib, tinyp, big, small, errf, statsf};

	for (size_t i = 0; *work && i < sizeof(made) / sizeof(made[0]); i++)
		if (*made[i])
			unlink(made[i]);
	if (*work)
		rmdir(work);
}

static void on_signal(int sig)
{
	cleanup(); /* unlink and rmdir only: safe in a handler */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *what)
{
	fprintf(stderr, "overhead: %s\n", what);
	cleanup();
	exit(1);
}

static double now(void)
{
	struct timespec t;
	return clock_gettime(CLOCK_MONOTONIC, &t), (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void put(int fd, char *buf, size_t *len, char c, struct bhash *h)
{
	buf[(*len)++] = c;
	if (*len == BLK && (*len = 0, bhash_update(h, buf, BLK), write(fd, buf, BLK) != BLK))
		die("cannot write the input file");
}

/* Text-like input: lines of 12 words drawn by xorshift64* from a fixed
 * 1024-word vocabulary.  gzip is given text far more often than random
 * bytes, and on random bytes it is about twice as slow.  Same seed for every
 * file, so the small file is a prefix of the big one.  Returns its hash;
 * the pages just written stay in the page cache for the runs. */
static uint64_t generate(const char *path, uint64_t size)
{
	static char buf[BLK], vocab[1024][12];
	uint64_t x = 0x2545f4914f6cdd1dULL, n = 0;
	size_t len = 0;
	struct bhash h;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), words = 0;
#define RND() (x ^= x >> 12, x ^= x << 25, x ^= x >> 27, x * 0x2545f4914f6cdd1dULL)
	if (fd < 0)
		die("cannot create the input file");
	bhash_init(&h);
	for (int i = 0; i < 1024; i++) {
		int wlen = 2 + (int)(RND() >> 61);
		for (int j = 0; j < wlen; j++)
			vocab[i][j] = (char)('a' + RND() % 26);
		vocab[i][wlen] = 0;
	}
	while (n < size) {
		for (const char *w = vocab[RND() >> 54]; *w && n < size; n++)
			put(fd, buf, &len, *w++, &h);
		if (n++ < size) /* past the end, n > size ends the loop */
			put(fd, buf, &len, ++words % 12 ? ' ' : '\n', &h);
	}
	bhash_update(&h, buf, len);
	if ((len && write(fd, buf, len) != (ssize_t)len) || fsync(fd) < 0 || close(fd) < 0)
		die("cannot write the input file");
	return bhash_final(&h);
#undef RND
}

static int copy_exec(const char *from, const char *to)
{
	struct stat st;
	int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	int ok = in >= 0 && out >= 0 && fstat(in, &st) == 0 &&
		 sendfile(out, in, NULL, (size_t)st.st_size) == st.st_size;

	if (in >= 0)
		close(in);
	return (out < 0 || close(out) < 0 || !ok) ? -1 : 0;
}

/* The children's environment: ours without LD_PRELOAD and ZCOPY_*, so
 * "none" really preloads nothing and each variant sets only its own mode. */
static char **child_env(int v, char *store, size_t cap)
{
	static char *env[4096];
	size_t n = 0;

	for (char **e = environ; *e && n < 4090; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) && strncmp(*e, "ZCOPY_", 6))
			env[n++] = *e;
	if (v > 0) {
		snprintf(store, cap, "LD_PRELOAD=%s%cZCOPY_MODE=%s%cZCOPY_STATS=%s/stats-%%p.json",
			 lib, 0, vname[v], 0, work);
		for (int i = 0; i < 3; i++, store += strlen(store) + 1) /* three strings in store */
			env[n++] = store;
	}
	env[n] = NULL;
	return env;
}

/* One run of one variant: wall time from fork to exit, the child's user+sys,
 * stdout hashed on the fly (through a pipe: /dev/null could not be checked),
 * then the child's own stats record. */
static void run(struct wl *w, int v, int slot)
{
	char store[3 * P], **env = child_env(v, store, sizeof(store)), buf[65536];
	int pfd[2], st, fd;
	struct rusage ru;
	struct bhash h;
	ssize_t n;
	pid_t pid;
	double t0 = now();

	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe");
	if ((pid = fork()) == 0) {
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC),
		    err = open(errf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (in < 0 || err < 0 || dup2(in, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		execvpe(w->argv[0], w->argv, env);
		_exit(127);
	}
	if (pid < 0)
		die("fork");
	close(pfd[1]);
	bhash_init(&h);
	while ((n = read(pfd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			bhash_update(&h, buf, (size_t)n);
	close(pfd[0]);
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4");
	w->wall[v][slot] = now() - t0;
	w->cpu[v][slot] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
	snprintf(statsf, sizeof(statsf), "%s/stats-%d.json", work, (int)pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "overhead: %s (%s) failed, status 0x%x; its stderr:\n", w->id, vname[v], st);
		if ((fd = open(errf, O_RDONLY | O_CLOEXEC)) >= 0 && (n = read(fd, buf, 4096)) > 0)
			fwrite(buf, 1, (size_t)n, stderr);
		die("a run failed");
	}
	if (!w->out_len) {
		w->out_hash = bhash_final(&h);
		w->out_len = h.n;
	} else if (bhash_final(&h) != w->out_hash || h.n != w->out_len) {
		fprintf(stderr, "overhead: %s (%s): unexpected output\n", w->id, vname[v]);
		die("outputs differ");
	}
	if (v == 0)
		return;
	/* The record this very child wrote (%p is its pid), in the mode asked for. */
	n = (fd = open(statsf, O_RDONLY | O_CLOEXEC)) < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	unlink(statsf);
	/* Read by the zcopy command's reader (tools/records.c). */
	struct zt_record r;
	int ok = n > 0;
	if (ok) {
		buf[n] = 0;
		ok = zt_record_parse(buf, strcspn(buf, "\n"), &r, NULL, NULL) == 0;
	}
	if (!ok || strcmp(r.mode, vname[v]) != 0) {
		fprintf(stderr, "overhead: %s (%s): no ZCOPY_STATS record\n", w->id, vname[v]);
		die("was the library loaded?");
	}
	w->records[v]++;
	w->zc_bytes[v] += v == 2 ? r.would_zero_copy_bytes : r.bytes_zero_copy;
	zt_record_free(&r);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Quantile q (0.5 = median) of x[0..n), interpolated between ranks. */
static double quant(const double *x, int n, double q)
{
	double t[MAXRUNS], pos = q * (n - 1);
	int i = (int)pos;

	memcpy(t, x, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_d);
	return i + 1 < n ? t[i] + (pos - i) * (t[i + 1] - t[i]) : t[i];
}

/* Pairwise: quantile q over runs i of x_i / none_i (or x_i - none_i): the
 * pairs ran back to back, so a machine whose speed drifts hurts less. */
static double pair(const double *x, const double *base, int n, double q, int diff)
{
	double r[MAXRUNS];
	for (int i = 0; i < n; i++)
		r[i] = diff ? x[i] - base[i] : x[i] / base[i];
	return quant(r, n, q);
}

/* The start of a /proc file, as a string. */
static char *readf(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, out, cap - 1);

	out[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	return out;
}

static void loadavg(char *out, size_t cap)
{
	char b[256], x[3][16];

	if (sscanf(readf("/proc/loadavg", b, sizeof(b)), "%15s %15s %15s", x[0], x[1], x[2]) == 3)
		snprintf(out, cap, "%s %s %s", x[0], x[1], x[2]);
	else
		snprintf(out, cap, "unknown");
}

static void report(FILE *f, int runs, uint64_t calls)
{
	int any = 0;

	fprintf(f, "| workload | variant | median wall | median user+sys | wall vs none (IQR) "
		   "| user+sys vs none (IQR) | zcopy records |\n|---|---|---:|---:|---:|---:|---|\n");
	for (int k = 0; k < NW; k++)
		for (int v = 0; v < NV; v++) {
			double *wa = wls[k].wall[v], *ca = wls[k].cpu[v];
			double *wb = wls[k].wall[0], *cb = wls[k].cpu[0];
			fprintf(f, "| %s | %s | %.3f s | %.3f s | ", v ? "" : wls[k].title, vname[v],
				quant(wa, runs, .5), quant(ca, runs, .5));
			if (!v) {
				fprintf(f, "1 | 1 | - |\n");
				continue;
			}
			fprintf(f, "%.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) | %d/%d", pair(wa, wb, runs, .5, 0),
				pair(wa, wb, runs, .25, 0), pair(wa, wb, runs, .75, 0),
				pair(ca, cb, runs, .5, 0), pair(ca, cb, runs, .25, 0),
				pair(ca, cb, runs, .75, 0), wls[k].records[v], runs + 1);
			if (v >= 2)
				fprintf(f, "; %s %" PRIu64 " B", v == 2 ? "would zero-copy" : "zero-copy",
					wls[k].zc_bytes[v]);
			fprintf(f, " |\n");
		}
	fprintf(f, "\nThe 1-byte loop's extra cost per call (median over runs of (X_i - none_i) / "
		   "%" PRIu64 " calls):", calls);
	for (int v = 1; v < NV; v++)
		fprintf(f, " %s %.0f ns wall, %.0f ns user+sys%s", vname[v],
			pair(wls[0].wall[v], wls[0].wall[0], runs, .5, 1) * 1e9 / (double)calls,
			pair(wls[0].cpu[v], wls[0].cpu[0], runs, .5, 1) * 1e9 / (double)calls,
			v + 1 < NV ? ";" : ".\n");
	fprintf(f, "\nPreloaded rows more than 5%% above no preload (median wall or user+sys ratio):");
	for (int k = 0; k < NW; k++)
		for (int v = 1; v < NV; v++) {
			double rw = pair(wls[k].wall[v], wls[k].wall[0], runs, .5, 0),
			       rc = pair(wls[k].cpu[v], wls[k].cpu[0], runs, .5, 0);
			if (rw > 1.05 || rc > 1.05)
				fprintf(f, "%s %s %s (wall %+.1f%%, user+sys %+.1f%%)", any++ ? ";" : "",
					wls[k].id, vname[v], (rw - 1) * 100, (rc - 1) * 100);
		}
	fprintf(f, "%s\n", any ? "." : " none.");
}

int main(int argc, char **argv)
{
	const char *e, *parent = getenv("OVERHEAD_DIR");
	char cmd[512] = "", t_start[64], l0[128], l1[128], cpu[4096], nbuf[48];
	uint64_t size = 256ULL << 20, tsize = 1ULL << 20;
	int runs = 5;
	size_t cl = 0;
	double t0 = now();
	time_t t = time(NULL);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct utsname u;
	struct bhash th;

	if (argc != 4 || access(argv[1], R_OK) < 0 || access(argv[2], X_OK) < 0) {
		fprintf(stderr, "usage: overhead LIB TINY DOC (build LIB and TINY first)\n");
		return 2;
	}
	if ((e = getenv("OVERHEAD_RUNS")) && *e)
		runs = atoi(e);
	if ((e = getenv("OVERHEAD_SIZE")) && *e)
		size = parse_size(e);
	if ((e = getenv("OVERHEAD_TINY_SIZE")) && *e)
		tsize = parse_size(e);
	if (runs < 1 || runs > MAXRUNS || !size || !tsize) {
		fprintf(stderr, "overhead: bad OVERHEAD_RUNS (1..%d), OVERHEAD_SIZE or OVERHEAD_TINY_SIZE\n",
			MAXRUNS);
		return 2;
	}
	/* The command that reproduces this run: its OVERHEAD_* settings, then make. */
	for (char **ev = environ; *ev; ev++)
		if (!strncmp(*ev, "OVERHEAD_", 9) && cl + strlen(*ev) + 32 < sizeof(cmd))
			cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "%s ", *ev);
	snprintf(cmd + cl, sizeof(cmd) - cl, "make bench-overhead");
	strftime(t_start, sizeof(t_start), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	loadavg(l0, sizeof(l0));

	/* Data under /tmp, not build/, and private copies of the library and
	 * tiny, so a rebuild or `make clean` meanwhile cannot change what runs. */
	parent = parent && *parent ? parent : "/tmp";
	snprintf(work, sizeof(work), "%s/zcopy-overhead.XXXXXX", parent);
	if (!mkdtemp(work)) {
		*work = 0; /* nothing of ours to remove */
		die("cannot create the work directory");
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	snprintf(tinyp, sizeof(tinyp), "%s/tiny", work);
	snprintf(lib, sizeof(lib), "%s/libzcopy.so", work);
	if (copy_exec(argv[2], tinyp) < 0 || copy_exec(argv[1], lib) < 0)
		die("cannot copy the library or tiny into the work directory");
	snprintf(big, sizeof(big), "%s/input.dat", work);
	snprintf(small, sizeof(small), "%s/tiny.dat", work);
	snprintf(errf, sizeof(errf), "%s/stderr", work);
	fprintf(stderr, "overhead: generating %" PRIu64 " MiB of input in %s\n", size >> 20, work);
	generate(big, size);
	/* tiny prints the count and hash of its source: its stdout is known. */
	snprintf(nbuf, sizeof(nbuf), "%" PRIu64 " %016" PRIx64 "\n", tsize, generate(small, tsize));
	bhash_init(&th);
	bhash_update(&th, nbuf, strlen(nbuf));
	wls[0].out_hash = bhash_final(&th);
	wls[0].out_len = strlen(nbuf);
	snprintf(tiny_n, sizeof(tiny_n), "%" PRIu64, tsize);

	for (int k = 0; k < NW; k++) {
		fprintf(stderr, "overhead: %s: warm-up, then %d rounds of none/off/observe/on, rotated\n",
			wls[k].id, runs);
		for (int r = 0; r <= runs; r++)              /* round 0 is the warm-up ... */
			for (int j = 0; j < NV; j++)         /* rotated: see the top */
				run(&wls[k], (j + r) % NV, r ? r - 1 : 0); /* ... whose slot run 1 overwrites */
	}
	loadavg(l1, sizeof(l1));
	if ((e = strstr(readf("/proc/cpuinfo", cpu, sizeof(cpu)), "model name")) && strchr(e, ':'))
		memmove(cpu, strchr(e, ':') + 2, strcspn(strchr(e, ':') + 2, "\n") + 1);
	cpu[strcspn(cpu, "\n")] = 0;
	if (uname(&u) < 0)
		die("uname");

	FILE *f = fopen(argv[3], "w");
	if (!f)
		die("cannot write the report");
	fprintf(f, "# What zcopy costs when it redirects nothing\n\n"
		   "Produced by `%s` (bench/overhead.c). The machine is shared and other work may run "
		   "meanwhile, so absolute times are noisy: read the ratios, taken pair by pair from "
		   "interleaved runs.\n\n## Machine and parameters\n\n"
		   "- CPU: %s, %ld online cores; kernel %s %s %s\n"
		   "- Input: %" PRIu64 " MiB of pseudo-random text (lines of 12 words from a fixed 1024-word "
		   "vocabulary, xorshift64*) under %s, in the page cache; the 1-byte loop copies a "
		   "%" PRIu64 " KiB file of the same text (%" PRIu64 " calls); gzip -1 makes the big file "
		   "%.1f MiB\n"
		   "- Runs: %d timed runs per variant, interleaved, each round starting one variant later than the one before (none off observe on, off observe on none, ...), "
		   "after one uncounted warm-up round. The defaults (5 runs rather than 7; 1 MiB rather "
		   "than 4 MiB for the 1-byte loop) keep the whole run to about five minutes; "
		   "OVERHEAD_RUNS and OVERHEAD_TINY_SIZE change them\n"
		   "- Started %s, took %.0f s; load average (1, 5, 15 min) %s at the start, %s at the "
		   "end (%ld cores: above %ld, other work competed for the CPUs)\n\n",
		cmd, cpu, ncpu, u.sysname, u.release, u.machine, size >> 20, parent, tsize >> 10,
		2 * tsize + 1, (double)wls[2].out_len / (1 << 20), runs, t_start, now() - t0, l0, l1, ncpu, ncpu);
	fprintf(f, "## How it is measured\n\n"
		   "- **none**: nothing preloaded (LD_PRELOAD and ZCOPY_* removed from the "
		   "environment); **off**, **observe**, **on**: a copy of build/libzcopy.so preloaded "
		   "with that `ZCOPY_MODE`.\n"
		   "- Workloads: build/bench/tiny (bench/tiny.c), read(fd, buf, 1) / write(fd, buf, 1) "
		   "to /dev/null; `sha256sum FILE`; `gzip -1 -c FILE` (level 1 so a run takes "
		   "seconds, not minutes); a `bash -c` loop that runs `/bin/true` " EXEC_N " times "
		   "(every process loads the library, starts it and ends it; the shell's "
		   "user+sys includes its children's; the children run without ZCOPY_STATS, so "
		   "the figure is the library's own cost, not that of writing a record per "
		   "process).\n"
		   "- Wall: CLOCK_MONOTONIC from fork until the child exited and its stdout was "
		   "drained. user+sys: the child's, from wait4.\n"
		   "- Each run's stdout goes to a pipe the harness hashes (for gzip instead of "
		   "`> /dev/null`, which could not be checked) and must equal the workload's first "
		   "run; tiny's (count and hash of what it wrote) must match its source.\n"
		   "- Each preloaded run must leave a ZCOPY_STATS record of its own pid in the mode "
		   "asked for. The last column counts them (warm-up included) and sums the bytes "
		   "moved (on) or that would have been moved (observe) by a kernel transfer.\n"
		   "- Ratios: median over runs i of X_i / none_i, with the interquartile range of "
		   "those ratios; 1.05 = 5%% slower than no preload.\n\n## Results\n\n");
	report(f, runs, 2 * tsize + 1);
	if (fclose(f) != 0)
		die("cannot write the report");
	report(stdout, runs, 2 * tsize + 1);
	printf("overhead: wrote %s (%.0f s; load %s -> %s)\n", argv[3], now() - t0, l0, l1);
	cleanup();
	return 0;
}
