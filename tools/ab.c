/*
 * ab.c - `zcopy ab`: runs CMD alternately without (A, ZCOPY_MODE=off) and with
 * (B, ZCOPY_MODE=on) zcopy, both with the library preloaded so the only
 * difference is the mode; checks after every run that stdout, the exit status
 * and each --out file match the first A run; and hands the measurements to
 * ab_report.c.
 *
 * Runs are interleaved A B A B so that a machine whose speed drifts affects
 * both sides alike, and the ratio is taken pair by pair for the same reason.
 * Everything is measured by the kernel (wait4) except wall time (MONOTONIC).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ab.h"
#include "zcopy.h"

static int parse_count(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Hashes from offset 0 whatever fd holds; pread leaves CMD's offset alone. */
static int hash_fd(int fd, struct ab_file *f)
{
	static char buf[1 << 20];
	struct zt_sha256 c;
	off_t off = 0;
	ssize_t n;

	zt_sha256_init(&c);
	for (;;) {
		if (zt_stop_signal())
			zt_die_of(zt_stop_signal());
		n = pread(fd, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		zt_sha256_update(&c, buf, (size_t)n);
		off += n;
	}
	f->exists = 1;
	f->bytes = (uint64_t)off;
	zt_sha256_hex(&c, f->sha256);
	return 0;
}

static int hash_path(const char *path, struct ab_file *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	memset(f, 0, sizeof *f);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	rc = hash_fd(fd, f);
	close(fd);
	return rc;
}

static int same_file(const struct ab_file *x, const struct ab_file *y)
{
	return x->exists == y->exists &&
	       (!x->exists || (x->bytes == y->bytes && strcmp(x->sha256, y->sha256) == 0));
}

static void describe_file(const struct ab_file *f, char *buf, size_t cap)
{
	if (!f->exists)
		snprintf(buf, cap, "no file");
	else
		snprintf(buf, cap, "%llu bytes (sha256 %.16s)", (unsigned long long)f->bytes,
			 f->sha256);
}

static void add_difference(struct ab *ab, const struct ab_run *r, const char *what,
			   const char *ref, const char *got)
{
	struct ab_diff *d;

	ab->ndiffs_total++;
	if (r->side == 'A')
		ab->a_disagree = 1;
	if (ab->ndiffs == AB_MAX_DIFFS)
		return;
	d = &ab->diffs[ab->ndiffs++];
	snprintf(d->run, sizeof d->run, "%s", r->label);
	snprintf(d->what, sizeof d->what, "%s", what);
	snprintf(d->expected, sizeof d->expected, "%s", ref);
	snprintf(d->got, sizeof d->got, "%s", got);
}

/* Every run is compared with the first A run (warm-up included: a warm-up run
 * that writes something else is a disagreement too). */
static void compare(struct ab *ab, const struct ab_run *ref, const struct ab_run *r)
{
	char x[128], y[128], what[PATH_MAX + 16];
	size_t i;

	if (r->status != ref->status) {
		zt_describe_status(ref->status, x, sizeof x);
		zt_describe_status(r->status, y, sizeof y);
		add_difference(ab, r, "exit status", x, y);
	}
	if (!same_file(&r->out, &ref->out)) {
		describe_file(&ref->out, x, sizeof x);
		describe_file(&r->out, y, sizeof y);
		add_difference(ab, r, "stdout", x, y);
	}
	for (i = 0; i < ab->nouts; i++) {
		if (same_file(&r->files[i], &ref->files[i]))
			continue;
		describe_file(&ref->files[i], x, sizeof x);
		describe_file(&r->files[i], y, sizeof y);
		snprintf(what, sizeof what, "--out %s", ab->outs[i]);
		add_difference(ab, r, what, x, y);
	}
}

static double seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static int one_run(struct ab *ab, struct ab_run *r, int out_fd, const char *out_path,
		   const char *stats)
{
	struct timespec t0, t1;
	struct rusage ru;
	int in_fd, err, status;
	size_t i;
	pid_t pid;

	if (setenv(ZCOPY_ENV_MODE, r->side == 'A' ? "off" : "on", 1) != 0) {
		zt_err(errno, "setenv");
		return -1;
	}
	if (ftruncate(out_fd, 0) != 0 || lseek(out_fd, 0, SEEK_SET) != 0 ||
	    truncate(stats, 0) != 0) {
		zt_err(errno, "cannot reset the temporary files");
		return -1;
	}
	for (i = 0; i < ab->nouts; i++)
		if (unlink(ab->outs[i]) != 0 && errno != ENOENT) {
			zt_err(errno, "cannot remove --out %s before run %s", ab->outs[i],
			       r->label);
			return -1;
		}
	in_fd = open(ab->stdin_path, O_RDONLY | O_CLOEXEC);
	if (in_fd < 0) {
		zt_err(errno, "cannot open %s", ab->stdin_path);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = zt_spawn(ab->argv, in_fd, out_fd, &err);
	close(in_fd);
	if (pid < 0) {
		if (!err)
			return -1;
		zt_exec_report(ab->argv[0], err);
		zt_cleanup();
		exit(zt_exec_status(err));
	}
	if (zt_wait(pid, &status, &ru) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (zt_stop_signal())
		zt_die_of(zt_stop_signal());

	r->status = status;
	r->wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	r->user = seconds(&ru.ru_utime);
	r->sys = seconds(&ru.ru_stime);
	r->maxrss_kib = ru.ru_maxrss;
	if (hash_path(out_path, &r->out) != 0) {
		zt_err(errno, "cannot read the captured stdout");
		return -1;
	}
	for (i = 0; i < ab->nouts; i++)
		if (hash_path(ab->outs[i], &r->files[i]) != 0) {
			zt_err(errno, "cannot read --out %s after run %s", ab->outs[i], r->label);
			return -1;
		}
	if (r->side == 'B' && !r->warmup) {
		struct zt_records rs;
		size_t k;
		if (zt_records_load(stats, &rs) < 0)
			return -1;
		for (k = 0; k < rs.n; k++)
			if (zt_record_add(&ab->zstats, &rs.v[k]) != 0) {
				zt_records_free(&rs);
				zt_err(ENOMEM, "adding up the stats");
				return -1;
			}
		ab->nrecords += rs.n;
		zt_records_free(&rs);
	}
	return 0;
}

static int run_all(struct ab *ab)
{
	char dir[PATH_MAX], out[PATH_MAX + 16], stats[PATH_MAX + 16];
	long total = 2 * (ab->warmup + ab->runs), i;
	int out_fd, fd;

	if (zt_mktempdir("ab", dir, sizeof dir) != 0)
		return -1;
	snprintf(out, sizeof out, "%s/stdout", dir);
	snprintf(stats, sizeof stats, "%s/stats", dir);
	/* CMD's stdout is write-only, as a shell's `>` would make it. */
	out_fd = zt_mktemp_at(out, O_WRONLY);
	fd = out_fd < 0 ? -1 : zt_mktemp_at(stats, O_WRONLY);
	if (fd < 0)
		return -1;
	close(fd);
	if (setenv(ZCOPY_ENV_STATS, stats, 1) != 0 ||
	    (ab->guard && setenv(ZCOPY_ENV_GUARD, "1", 1) != 0)) {
		zt_err(errno, "setenv");
		return -1;
	}
	ab->all = calloc((size_t)total, sizeof *ab->all);
	if (!ab->all) {
		zt_err(ENOMEM, "zcopy ab");
		return -1;
	}
	for (i = 0; i < total; i++) {
		struct ab_run *r = &ab->all[i];
		long pair = i / 2;
		r->side = i % 2 ? 'B' : 'A';
		r->warmup = pair < ab->warmup;
		snprintf(r->label, sizeof r->label, "%s%c%ld", r->warmup ? "warm-up " : "", r->side,
			 (r->warmup ? pair : pair - ab->warmup) + 1);
		r->files = calloc(ab->nouts ? ab->nouts : 1, sizeof *r->files);
		if (!r->files || one_run(ab, r, out_fd, out, stats) != 0)
			return -1;
		ab->nall++;
		if (i > 0)
			compare(ab, &ab->all[0], r);
	}
	close(out_fd);
	return 0;
}

static void ab_free(struct ab *ab)
{
	size_t i;

	for (i = 0; ab->all && i < (size_t)(2 * (ab->warmup + ab->runs)); i++)
		free(ab->all[i].files);
	free(ab->all);
	free(ab->outs);
	zt_record_free(&ab->zstats);
}

static int ab_main(struct ab *ab, int argc, char **argv);

int zt_cmd_ab(int argc, char **argv)
{
	struct ab ab;
	int rc;

	memset(&ab, 0, sizeof ab);
	ab.outs = calloc((size_t)argc, sizeof *ab.outs);
	if (!ab.outs) {
		zt_err(ENOMEM, "zcopy ab");
		return ZT_EXIT_INTERNAL;
	}
	rc = ab_main(&ab, argc, argv);
	ab_free(&ab);
	return rc;
}

static int ab_main(struct ab *ab, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"runs", required_argument, NULL, 'n'}, {"warmup", required_argument, NULL, 'w'},
		{"guard", no_argument, NULL, 'g'},      {"out", required_argument, NULL, 'o'},
		{"stdin", required_argument, NULL, 'i'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
	int c, rc;

	ab->runs = 5;
	ab->warmup = 1;
	ab->stdin_path = "/dev/null";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:n:w:go:i:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_count(optarg, 1, 100000, &ab->runs) != 0)
				return zt_usage_error("ab", "bad number of runs '%s'", optarg);
			break;
		case 'w':
			if (parse_count(optarg, 0, 100000, &ab->warmup) != 0)
				return zt_usage_error("ab", "bad number of warm-up runs '%s'",
						      optarg);
			break;
		case 'g': ab->guard = 1; break;
		case 'o': ab->outs[ab->nouts++] = optarg; break;
		case 'i': ab->stdin_path = optarg; break;
		case 'j': ab->json = 1; break;
		case 'h': return zt_help();
		default: return zt_bad_option("ab", c, argv);
		}
	}
	if (optind >= argc)
		return zt_usage_error("ab", "%s", "missing CMD");
	ab->argv = argv + optind;
	if (access(ab->stdin_path, R_OK) != 0) {
		zt_err(errno, "--stdin %s", ab->stdin_path);
		return ZT_EXIT_USAGE;
	}
	zt_signals_install();
	if (zt_preload() != 0)
		return ZT_EXIT_INTERNAL;
	if (run_all(ab) != 0) {
		zt_cleanup();
		return ZT_EXIT_INTERNAL;
	}
	zt_cleanup();
	if (ab->json)
		ab_print_json(ab, stdout);
	else
		ab_print_table(ab, stdout);
	rc = ab->ndiffs_total ? ZT_EXIT_DIFFER : ZT_EXIT_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		zt_err(errno, "write error on standard output");
		rc = ZT_EXIT_INTERNAL;
	}
	return rc;
}
