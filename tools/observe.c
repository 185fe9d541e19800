/*
 * observe.c - `zcopy observe`: runs CMD in observe mode with its stats going to
 * a private temporary file, then tells on stderr, per process and in total,
 * how much data went through intercepted calls, how much of it zcopy would
 * have moved in the kernel, and the top reasons it would not have moved the
 * rest, with advice on the setting that would help; --streams adds a table of
 * the largest streams (source -> destination) of every process.  CMD's exit
 * status (or signal) is passed through.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"
#include "zcopy.h"

#define SHOW_PROCS   10
#define SHOW_REASONS 5

static void percent(uint64_t part, uint64_t whole, char *buf, size_t cap)
{
	if (whole == 0)
		snprintf(buf, cap, "%6s", "-");
	else
		snprintf(buf, cap, "%5.1f%%", 100.0 * (double)part / (double)whole);
}

static void row(const char *who, const struct zt_record *r, const char *exe)
{
	char moved[32], would[32], pct[16];

	zt_human_bytes(r->bytes_copied, moved, sizeof moved);
	zt_human_bytes(r->would_zero_copy_bytes, would, sizeof would);
	percent(r->would_zero_copy_bytes, r->bytes_copied, pct, sizeof pct);
	fprintf(stderr, "  %-9s %12s %14s %6s%s%s\n", who, moved, would, pct, *exe ? "  " : "", exe);
}

static int by_traffic(const void *a, const void *b)
{
	const struct zt_record *x = a, *y = b;
	if (x->bytes_copied != y->bytes_copied)
		return x->bytes_copied < y->bytes_copied ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Why no record came back, as far as can be told. */
static void no_records(int status, const char *program_why)
{
	if (program_why[0])
		fprintf(stderr, "  no process wrote a record: %s\n", program_why);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		fprintf(stderr, "  no process wrote a record: CMD was killed by SIGKILL, which "
				"cannot be caught (any other fatal signal leaves the record)\n");
	else if (WIFSIGNALED(status))
		fprintf(stderr, "  no process wrote a record: CMD was killed by %s in a way no "
				"record survives (a signal it had handled itself or blocked, or a "
				"stack overflow)\n",
			zt_signame(WTERMSIG(status)));
	else
		fprintf(stderr, "  no process wrote a record: CMD ended with _exit, makes raw "
				"system calls, or runs only programs zcopy cannot reach (static, "
				"setuid) or that ZCOPY_ONLY/ZCOPY_SKIP leave out\n");
}

/* What a user can do about a reason: the setting that would help, or why
 * nothing would.  NULL when there is nothing to say (warm-up is normal). */
static const char *advice(const char *reason)
{
	static const struct {
		const char *reason, *text;
	} tips[] = {
		{ZCOPY_FALLBACK_TOO_SMALL, "reads are smaller than ZCOPY_MIN_CHUNK (64K by default): "
					   "try ZCOPY_MIN_CHUNK=16K, or the program's read size "
					   "(4K at least)"},
		{ZCOPY_FALLBACK_ALIGNMENT, "buffers are not page-aligned with the file offset: "
					   "ZCOPY_GUARD=1 (zcopy run -g) moves them too, for programs "
					   "that do not block SIGSEGV in other threads"},
		{ZCOPY_FALLBACK_FD_LIMIT, "the soft RLIMIT_NOFILE is below 1024: raise it "
					  "(ulimit -n 1024) before starting the program"},
		{ZCOPY_FALLBACK_DEST_O_APPEND, "the destination is opened with O_APPEND "
					       "(>> in a shell): write with > where the program "
					       "allows it"},
		{ZCOPY_FALLBACK_SOURCE_NOT_FILE, "the source is a pipe, a terminal or a socket "
						 "zcopy cannot read by splice: zcopy moves data "
						 "from files and stream sockets only; let the "
						 "program read the file itself"},
		{ZCOPY_FALLBACK_SOCKET_NO_GUARD, "socket reads are deferred only in guard mode: "
						 "leave ZCOPY_GUARD at 1 (the default)"},
		{ZCOPY_FALLBACK_SOCKET_OPTIONS, "the socket sets SO_RCVLOWAT or SO_RCVTIMEO, or "
						"is not TCP or UNIX stream: a splice would not "
						"read it as read does; no setting helps"},
		{ZCOPY_FALLBACK_TRANSFORMED, "the program writes other bytes than it reads "
					     "(compresses, encodes, sorts): no setting helps "
					     "this stream"},
		{ZCOPY_FALLBACK_BACKOFF, "the program reads the data it copies (a checksum, an "
					 "edit): zcopy backs off; ZCOPY_SKIP=NAME leaves such a "
					 "program out"},
		{ZCOPY_FALLBACK_DIRTY_PAGES, "the program changes data between read and write: "
					     "ZCOPY_SKIP=NAME leaves such a program out"},
		{ZCOPY_FALLBACK_STACK_BUFFER, "the buffer is on a stack: zcopy never maps files "
					      "there; no setting helps"},
		{ZCOPY_FALLBACK_DEST_KIND, "the destination is a terminal or a device zcopy "
					   "cannot send to"},
	};
	for (size_t i = 0; i < sizeof tips / sizeof tips[0]; i++)
		if (strcmp(tips[i].reason, reason) == 0)
			return tips[i].text;
	return NULL;
}

struct shown_stream {
	long pid;
	const struct zt_stream *s;
};

static uint64_t stream_bytes(const struct zt_stream *s)
{
	return s->bytes_zero_copy + s->bytes_copied;
}

static int by_stream_bytes(const void *a, const void *b)
{
	const struct shown_stream *x = a, *y = b;
	uint64_t bx = stream_bytes(x->s), by = stream_bytes(y->s);
	if (bx != by)
		return bx < by ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* --streams: every stream of every record, largest first. */
static void streams_table(const struct zt_records *rs)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < rs->n; i++)
		n += rs->v[i].nstreams;
	if (n == 0) {
		fprintf(stderr, "  streams: none recorded (no write repeated a read of "
				"ZCOPY_MIN_CHUNK bytes or more)\n");
		return;
	}
	struct shown_stream *v = calloc(n, sizeof *v);
	if (!v) {
		zt_err(ENOMEM, "streams");
		return;
	}
	for (size_t i = 0; i < rs->n; i++)
		for (size_t j = 0; j < rs->v[i].nstreams; j++)
			v[k++] = (struct shown_stream){rs->v[i].pid, &rs->v[i].streams[j]};
	qsort(v, n, sizeof *v, by_stream_bytes);
	fprintf(stderr, "  streams, largest first:\n");
	fprintf(stderr, "  %-8s %12s %14s %14s  %-15s %-22s %s\n", "pid", "by kernel",
		"through memory", "zero-copy-able", "primitive", "main reason",
		"source -> destination");
	for (size_t i = 0; i < n; i++) {
		const struct zt_stream *s = v[i].s;
		char zc[32], cp[32], would[32];
		zt_human_bytes(s->bytes_zero_copy, zc, sizeof zc);
		zt_human_bytes(s->bytes_copied, cp, sizeof cp);
		zt_human_bytes(s->would_zero_copy_bytes, would, sizeof would);
		fprintf(stderr, "  %-8ld %12s %14s %14s  %-15s %-22s %s -> %s%s%s\n", v[i].pid, zc,
			cp, would, s->primitive[0] ? s->primitive : "-",
			s->fallback[0] ? s->fallback : "-", s->src[0] ? s->src : "?",
			s->dst_kind[0] ? s->dst_kind : "?", s->dst[0] ? " " : "", s->dst);
	}
	free(v);
}

static void report(struct zt_records *rs, int status, const char *program_why, int streams)
{
	struct zt_record total;
	char st[64], who[32];
	size_t i, shown = 0, idle = 0;

	zt_describe_status(status, st, sizeof st);
	fprintf(stderr, "zcopy observe: CMD %s; %zu process record%s\n", st, rs->n,
		rs->n == 1 ? "" : "s");
	if (rs->n == 0) {
		no_records(status, program_why);
		return;
	}
	memset(&total, 0, sizeof total);
	for (i = 0; i < rs->n; i++)
		if (zt_record_add(&total, &rs->v[i]) != 0) {
			zt_err(ENOMEM, "adding up the records");
			zt_record_free(&total);
			return;
		}
	qsort(rs->v, rs->n, sizeof *rs->v, by_traffic);
	fprintf(stderr, "  %-9s %12s %14s %6s  %s\n", "pid", "intercepted", "zero-copy-able",
		"share", "program");
	for (i = 0; i < rs->n; i++) {
		const struct zt_record *r = &rs->v[i];
		if (r->bytes_copied == 0 && r->would_zero_copy_bytes == 0) {
			idle++;
			continue;
		}
		if (shown == SHOW_PROCS)
			continue;
		snprintf(who, sizeof who, "%ld", r->pid);
		row(who, r, r->exe[0] ? r->exe : "?");
		shown++;
	}
	if (rs->n - idle > shown)
		fprintf(stderr, "  (%zu more processes with data not shown)\n", rs->n - idle - shown);
	if (idle)
		fprintf(stderr, "  (%zu process%s moved no data through intercepted calls)\n", idle,
			idle == 1 ? "" : "es");
	snprintf(who, sizeof who, "total");
	row(who, &total, "");

	zt_record_sort_reasons(&total);
	if (total.nreasons) {
		fprintf(stderr, "  not redirected, top reasons: %11s %12s\n", "times", "bytes");
		for (i = 0; i < total.nreasons && i < SHOW_REASONS; i++) {
			const struct zt_reason *z = &total.reasons[i];
			const char *desc = zt_reason_desc(z->name);
			char b[32];
			zt_human_bytes(z->bytes, b, sizeof b);
			fprintf(stderr, "    %-26s %11llu %12s  %s\n", z->name,
				(unsigned long long)z->count, b, desc ? desc : "");
		}
		int said = 0;
		for (i = 0; i < total.nreasons && i < SHOW_REASONS; i++) {
			const char *tip = advice(total.reasons[i].name);
			if (!tip || total.reasons[i].bytes == 0)
				continue;
			fprintf(stderr, "%s    %s: %s\n", said++ ? "" : "  advice:\n",
				total.reasons[i].name, tip);
		}
	} else if (total.bytes_copied > total.would_zero_copy_bytes) {
		fprintf(stderr, "  (no fallback reasons were recorded)\n");
	}
	zt_record_free(&total);
	if (streams)
		streams_table(rs);
}

/* -s FILE keeps the raw records of this run, appended like the library does;
 * -s - writes them on stderr, as `run -s -` sends its output there. */
static int keep_records(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = to ? open(to, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666) : dup(2);
	ssize_t n = 0;

	if (in < 0 || out < 0) {
		zt_err(errno, "cannot keep the stats records in %s", to);
		goto out;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n < 0)
		zt_err(errno, "cannot keep the stats records in %s", to);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return n < 0 || in < 0 || out < 0 ? -1 : 0;
}

int zt_cmd_observe(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"guard", no_argument, NULL, 'g'}, {"stats", required_argument, NULL, 's'},
		{"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'},
		{"streams", no_argument, NULL, 'S'}, {NULL, 0, NULL, 0}};
	const char *keep = NULL;
	char path[PATH_MAX], keep_abs[PATH_MAX], program_why[PATH_MAX + 128];
	struct zt_records rs;
	int guard = 0, verbose = 0, streams = 0, c, fd, err, status;
	pid_t pid;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:gs:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'g': guard = 1; break;
		case 'S': streams = 1; break;
		case 's': keep = optarg; break;
		case 'v': verbose += verbose < 3; break;
		case 'h': return zt_help();
		default: return zt_bad_option("observe", c, argv);
		}
	}
	if (optind >= argc)
		return zt_usage_error("observe", "%s", "missing CMD");
	if (keep && strcmp(keep, "-") != 0) {
		if ((c = zt_check_target("observe", "-s", keep)) != 0)
			return c;
		if (zt_absolute(keep, keep_abs, sizeof keep_abs) != 0)
			return ZT_EXIT_INTERNAL;
	}
	zt_signals_install();
	if (zt_preload() != 0)
		return ZT_EXIT_INTERNAL;
	fd = zt_mktemp("observe", path, sizeof path);
	if (fd < 0)
		return ZT_EXIT_INTERNAL;
	close(fd);
	if (setenv(ZCOPY_ENV_MODE, "observe", 1) || setenv(ZCOPY_ENV_STATS, path, 1) ||
	    (guard && setenv(ZCOPY_ENV_GUARD, "1", 1))) {
		zt_err(errno, "setenv");
		zt_cleanup();
		return ZT_EXIT_INTERNAL;
	}
	if (verbose) {
		char lvl[2] = {(char)('0' + verbose), '\0'};
		setenv(ZCOPY_ENV_LOG, lvl, 1);
	}
	if (zt_check_env() != 0) {
		zt_cleanup();
		return ZT_EXIT_INTERNAL;
	}
	if (zt_check_program(argv[optind], program_why, sizeof program_why))
		zt_err(0, "%s; it runs without zcopy", program_why);
	pid = zt_spawn(argv + optind, -1, -1, -1, &err);
	if (pid < 0) {
		zt_cleanup();
		if (!err)
			return ZT_EXIT_INTERNAL;
		zt_exec_report(argv[optind], err);
		return zt_exec_status(err);
	}
	if (zt_wait(pid, &status, NULL) != 0) {
		zt_cleanup();
		return ZT_EXIT_INTERNAL;
	}
	if (zt_records_load(path, &rs) >= 0) {
		report(&rs, status, program_why, streams);
		zt_records_free(&rs);
	}
	if (keep)
		keep_records(path, strcmp(keep, "-") ? keep_abs : NULL);
	zt_pass_status(status);
}
