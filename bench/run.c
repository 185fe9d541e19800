/*
 * run.c - runs one program of one scenario once and measures it: builds its
 * argv and environment, wires its output (pipe to the sink, TCP connection
 * to the sink, /dev/null, or a file), times it from the fork of the copier
 * until the copier and the consumer are both done (CLOCK_MONOTONIC), takes
 * the copier's user+sys time from wait4, checks the byte count (every run)
 * or the output hash (verification runs), and reads zcopy's stats record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tool.h" /* the stats-record reader, tools/records.c */

extern char **environ;

static int listen_fd = -1;
static struct sockaddr_in listen_addr;
static char stats_path[MAXPATH];
static char sink_path[MAXPATH];
static char feed_path[MAXPATH];
/* Children of the run in progress, killed by the timeout alarm: the copier,
 * the consumer and the sender of a socket source. */
static volatile pid_t kids[3];
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	for (int i = 0; i < 3; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
}

void run_init(struct bench *b)
{
	struct sigaction sa;
	socklen_t len = sizeof(listen_addr);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: wait4 must see EINTR */
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* children get SIG_DFL back from execve */

	fmt(stats_path, sizeof(stats_path), "%s/zcopy-stats.json", b->work);
	fmt(sink_path, sizeof(sink_path), "%s/sink", b->bin);
	fmt(feed_path, sizeof(feed_path), "%s/ideal", b->bin);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&listen_addr, 0, sizeof(listen_addr));
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&listen_addr, len) < 0 ||
	    listen(listen_fd, 4) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) < 0) {
		perror("bench: loopback listener");
		listen_fd = -1;
	}
}

void run_done(void)
{
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The environment of a child: ours without LD_PRELOAD and ZCOPY_*, then
 * what this program needs.  Returns the number of entries used. */
static int build_env(char **env, int cap, char extra[][MAXPATH], int nextra)
{
	int n = 0;
	for (char **e = environ; *e && n < cap - nextra - 1; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "ZCOPY_", 6) != 0)
			env[n++] = *e;
	for (int i = 0; i < nextra; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	return n;
}

/* A loopback TCP connection: *snd is the connecting end, *rcv the accepted. */
static int tcp_pair(int *snd, int *rcv)
{
	*snd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*rcv = -1;
	if (listen_fd < 0 || *snd < 0 ||
	    connect(*snd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 ||
	    (*rcv = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		if (*snd >= 0)
			close(*snd);
		return -1;
	}
	return 0;
}

static pid_t spawn(char **argv, char **envp, int in, int out)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	if (in > 0 && dup2(in, 0) < 0)
		_exit(126);
	if (out != 1 && dup2(out, 1) < 0)
		_exit(126);
	syscall(SYS_close_range, 3U, ~0U, 0U); /* nothing of ours leaks in */
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Reaps pid (retrying after the alarm's EINTR); returns its wait status. */
static int reap(pid_t pid, struct rusage *ru)
{
	int st = 0;
	while (wait4(pid, &st, 0, ru) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

__attribute__((format(printf, 2, 3))) static int fail(struct vres *v, const char *how, ...)
{
	va_list ap;

	v->failed = 1;
	va_start(ap, how);
	vsnprintf(v->failure, sizeof(v->failure), how, ap);
	va_end(ap);
	return -1;
}

/* bytes_zero_copy and the fallback counts of the run's stats record, read by
 * the zcopy command's reader (tools/records.c). */
static void read_stats(struct vres *v)
{
	char buf[8192];
	int fd = open(stats_path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	struct zt_record r;
	size_t len, k = 0;

	if (fd >= 0)
		close(fd);
	unlink(stats_path);
	if (n <= 0)
		return;
	buf[n] = 0;
	len = strcspn(buf, "\n");
	if (zt_record_parse(buf, len, &r, NULL, NULL) != 0)
		return;
	if (!v->have_zc || r.bytes_zero_copy < v->zc_min)
		v->zc_min = r.bytes_zero_copy;
	v->have_zc = 1;
	/* The report shows them as the record has them: {"reason":count,...} */
	k += (size_t)snprintf(v->fallbacks + k, sizeof(v->fallbacks) - k, "{");
	for (size_t i = 0; i < r.nreasons && k < sizeof(v->fallbacks); i++)
		if (r.reasons[i].count)
			k += (size_t)snprintf(v->fallbacks + k, sizeof(v->fallbacks) - k,
					      "%s\"%s\":%" PRIu64, k > 1 ? "," : "",
					      r.reasons[i].name, r.reasons[i].count);
	if (k < sizeof(v->fallbacks))
		snprintf(v->fallbacks + k, sizeof(v->fallbacks) - k, "}");
	zt_record_free(&r);
}

/* Drops the source from the page cache (the cold variant). */
static void make_cold(const char *src)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (geteuid() == 0)
		sync(); /* as root, also flush what other runs left dirty */
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Fresh destination: unlinked, and its file system synced, so a run never
 * pays for the dirty pages of the one before it. */
static void fresh_dst(const struct scen *s)
{
	int fd;
	unlink(s->dst);
	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

static int build_argv(struct bench *b, struct scen *s, struct vres *v, char **argv, char *chunk,
		      int *stdout_file)
{
	int n = 0;
	*stdout_file = 0;
	argv[n++] = v->path;
	if (v->kind != V_PEER) {
		if ((v->kind == V_RAW || v->kind == V_OFF || v->kind == V_ON) &&
		    strncmp(s->id, "stdio-", 6) == 0)
			argv[n++] = "-s"; /* the stdio copier: fread/fwrite */
		argv[n++] = "-b";
		argv[n++] = chunk;
		argv[n++] = s->sock_src ? "-" : s->src;
		if (s->dest == D_FILE)
			argv[n++] = s->dst;
	} else {
		for (int i = 0; v->peer->args[i]; i++) {
			const char *a = v->peer->args[i];
			argv[n++] = strcmp(a, "@src") == 0 ? s->src
				  : strcmp(a, "@dst") == 0 ? s->dst : (char *)a;
		}
		*stdout_file = s->dest == D_FILE && v->peer->to_stdout;
	}
	argv[n] = NULL;
	(void)b;
	return n;
}

/* Set by run_count for its run: where strace -c writes its table. */
static const char *count_out;

int run_one(struct bench *b, struct scen *s, struct vres *v, int verify, int timed)
{
	char *argv[16], *cargv[24], *envp[512], chunk[32];
	char extra[4][MAXPATH];
	int nextra = 0, stdout_file, out = -1, res[2] = {-1, -1}, cons = -1;
	int feed_out = -1, in = -1;
	pid_t sink = 0, pid, feed = 0;
	struct rusage ru;
	double t0, t1;
	int st, sst = 0, fst = 0;
	char rbuf[128];
	uint64_t got = 0, hash = 0;

	if (v->failed)
		return -1;
	fmt(chunk, sizeof(chunk), "%zu", s->chunk);
	build_argv(b, s, v, argv, chunk, &stdout_file);
	if (v->kind == V_OFF || v->kind == V_ON || v->kind == V_ONDEF || v->kind == V_RWOFF ||
	    v->kind == V_RWON) {
		int off = v->kind == V_OFF || v->kind == V_RWOFF;
		fmt(extra[nextra++], MAXPATH, "LD_PRELOAD=%s", b->lib);
		fmt(extra[nextra++], MAXPATH, "ZCOPY_MODE=%s", off ? "off" : "on");
		if (s->sweep && v->kind != V_ONDEF)
			fmt(extra[nextra++], MAXPATH, "ZCOPY_MIN_CHUNK=4096");
		if (!off)
			fmt(extra[nextra++], MAXPATH, "ZCOPY_STATS=%s", stats_path);
	}
	if (count_out) {
		/* strace -f -c, the library preloaded into the copier alone
		 * (-E): strace's own calls are not counted, and zcopy stays out
		 * of strace. */
		int k = 0, preload = nextra > 0;
		cargv[k++] = b->strace;
		cargv[k++] = "-f";
		cargv[k++] = "-c";
		cargv[k++] = "-o";
		cargv[k++] = (char *)count_out;
		if (preload) {
			cargv[k++] = "-E";
			cargv[k++] = extra[0]; /* LD_PRELOAD=... */
		}
		for (int i = 0; argv[i] && k < 23; i++)
			cargv[k++] = argv[i];
		cargv[k] = NULL;
		build_env(envp, 512, extra + preload, nextra - preload);
	} else {
		build_env(envp, 512, extra, nextra);
	}

	if (s->cold)
		make_cold(s->src);
	if (s->dest == D_FILE)
		fresh_dst(s);
	unlink(stats_path);

	/* Wire the output; the consumer (if any) is started before the clock. */
	if (s->dest == D_PIPE || s->dest == D_TCP) {
		int p[2];
		char *sargv[] = {sink_path, verify ? "-H" : NULL, NULL};
		char *senv[] = {NULL};
		if (pipe2(res, O_CLOEXEC) < 0)
			return fail(v, "pipe: %s", strerror(errno));
		if (s->dest == D_PIPE) {
			if (pipe2(p, O_CLOEXEC) < 0)
				return fail(v, "pipe: %s", strerror(errno));
			cons = p[0];
			out = p[1];
		} else if (tcp_pair(&out, &cons) < 0) {
			return fail(v, "loopback connection: %s", strerror(errno));
		}
		sink = spawn(sargv, senv, cons, res[1]);
		close(cons);
		close(res[1]);
	} else if (s->dest == D_NULL) {
		out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	} else if (stdout_file) {
		out = open(s->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (out < 0)
		return fail(v, "output: %s", strerror(errno));
	if (s->sock_src && tcp_pair(&feed_out, &in) < 0)
		return fail(v, "loopback connection: %s", strerror(errno));

	timed_out = 0;
	kids[1] = sink;
	t0 = now();
	if (s->sock_src) {
		/* The sender: the ideal program's sendfile of the source into the
		 * connection, started with the clock; its CPU is not the copier's. */
		char fchunk[] = "1048576";
		char *fargv[] = {feed_path, "-b", fchunk, s->src, NULL};
		char *fenv[] = {NULL};
		feed = spawn(fargv, fenv, -1, feed_out);
		kids[2] = feed;
		close(feed_out);
	}
	pid = spawn(count_out ? cargv : argv, envp, in, out);
	kids[0] = pid;
	close(out); /* the consumer sees EOF when the copier exits */
	if (in >= 0)
		close(in);
	alarm(b->timeout);
	st = reap(pid, &ru);
	if (sink > 0)
		sst = reap(sink, NULL);
	t1 = now();
	if (feed > 0)
		fst = reap(feed, NULL);
	alarm(0);
	kids[0] = kids[1] = kids[2] = 0;

	if (res[0] >= 0) {
		ssize_t n = read(res[0], rbuf, sizeof(rbuf) - 1);
		close(res[0]);
		rbuf[n > 0 ? n : 0] = 0;
		if (sscanf(rbuf, "%" SCNu64 " %" SCNx64, &got, &hash) != 2)
			got = UINT64_MAX;
	}
	if (timed_out)
		return fail(v, "%s: killed after the %u s timeout", argv[0], b->timeout);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail(v, "%s: wait status 0x%x", argv[0], st);
	if (feed > 0 && (!WIFEXITED(fst) || WEXITSTATUS(fst) != 0))
		return fail(v, "%s: sender failed (wait status 0x%x)", argv[0], fst);
	if (sink > 0 && (!WIFEXITED(sst) || WEXITSTATUS(sst) != 0))
		return fail(v, "%s: consumer failed (wait status 0x%x)", argv[0], sst);
	if (s->dest == D_FILE) {
		struct stat fs;
		if (verify && hash_file(s->dst, &got, &hash) < 0)
			return fail(v, "%s: output unreadable", s->dst);
		if (!verify)
			got = stat(s->dst, &fs) == 0 ? (uint64_t)fs.st_size : UINT64_MAX;
	}
	if (s->dest != D_NULL && got != b->size)
		return fail(v, "%s: output has %llu bytes, not %llu", argv[0],
			    (unsigned long long)got, (unsigned long long)b->size);
	if (verify && s->dest != D_NULL) {
		v->verified = hash == b->src_hash ? 1 : -1;
		if (v->verified < 0)
			return fail(v, "%s: output bytes differ from the source", argv[0]);
	}
	if ((v->kind == V_ON || v->kind == V_ONDEF || v->kind == V_RWON) && !count_out)
		read_stats(v);
	if (timed && v->nruns < MAXRUNS) {
		v->wall[v->nruns] = t1 - t0;
		v->cpu[v->nruns] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		v->nruns++;
	}
	return 0;
}

/* The "total" line of strace -c's table: "100.00 S U CALLS [ERRORS] total". */
static long strace_total(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long calls = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char pct[32], sec[32], per[32], last[32];
		long n;
		if (sscanf(line, "%31s %31s %31s %ld", pct, sec, per, &n) == 4 &&
		    strstr(line, " total") && sscanf(strrchr(line, ' ') + 1, "%31s", last) == 1 &&
		    strcmp(last, "total") == 0)
			calls = n;
	}
	fclose(f);
	return calls;
}

int run_count(struct bench *b, struct scen *s, struct vres *v)
{
	char path[MAXPATH], failure[sizeof(v->failure)];
	int failed = v->failed;
	if (!*b->strace || failed)
		return -1;
	memcpy(failure, v->failure, sizeof(failure));
	fmt(path, sizeof(path), "%s/strace-count.txt", b->work);
	unlink(path);
	count_out = path;
	int r = run_one(b, s, v, 0, 0);
	count_out = NULL;
	if (r < 0) {
		fprintf(stderr, "bench: %s, %s: counting the calls failed (%s)\n", s->id, v->label,
			v->failure);
		v->failed = failed;
		memcpy(v->failure, failure, sizeof(failure));
		return -1;
	}
	long calls = strace_total(path);
	unlink(path);
	if (calls <= 0)
		return -1;
	v->calls = (double)calls / ((double)b->size / (double)s->chunk);
	return 0;
}
