/*
 * ab.c - `zcopy ab`: runs CMD alternately without (A, ZCOPY_MODE=off) and with
 * (B, ZCOPY_MODE=on) zcopy, both with the library preloaded so the only
 * difference is the mode; checks after every run that stdout, the exit status
 * and each --out file match the first A run (the reference); and hands the
 * measurements to ab_report.c.  CMD's stderr goes to a private file (shown
 * when CMD failed) unless --show-output; --prepare/--cleanup run around every
 * run, untimed.
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

static struct ab_diff *add_difference(struct ab *ab, const struct ab_run *r, const char *what,
				      const char *ref, const char *got)
{
	struct ab_diff *d;

	ab->ndiffs_total++;
	if (r->side == 'A')
		ab->a_disagree = 1;
	if (ab->ndiffs == AB_MAX_DIFFS)
		return NULL;
	d = &ab->diffs[ab->ndiffs++];
	snprintf(d->run, sizeof d->run, "%s", r->label);
	snprintf(d->what, sizeof d->what, "%s", what);
	snprintf(d->expected, sizeof d->expected, "%s", ref);
	snprintf(d->got, sizeof d->got, "%s", got);
	d->first_diff = -1;
	d->kept[0] = '\0';
	return d;
}

/* "B1" for a file name ("warm-up B1" -> "warmup-B1"). */
static void file_label(const struct ab_run *r, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%c%s", r->warmup ? "warmup-" : "", r->side,
		 strchr(r->label, r->side) + 1);
}

static void last_part(const char *path, char *buf, size_t cap)
{
	const char *slash = strrchr(path, '/');
	snprintf(buf, cap, "%s", slash ? slash + 1 : path);
}

/* A differing file: where the bytes first differ, and with --keep both
 * versions (the reference once, this run's). */
static void examine(struct ab *ab, struct ab_diff *d, const struct ab_run *ref,
		    const struct ab_run *r, const char *ref_file, const char *file,
		    const char *suffix)
{
	char a[64], b[64], name[PATH_MAX], ignored[PATH_MAX];

	if (!d)
		return;
	d->first_diff = ab_first_difference(ref_file, file);
	file_label(ref, a, sizeof a);
	file_label(r, b, sizeof b);
	snprintf(name, sizeof name, "%s.%s", a, suffix);
	ab_keep(ab, ref_file, name, ignored, sizeof ignored);
	snprintf(name, sizeof name, "%s.%s", b, suffix);
	ab_keep(ab, file, name, d->kept, sizeof d->kept);
}

/* Every run is compared with the first A run (warm-up included: a warm-up run
 * that writes something else is a disagreement too). */
static void compare(struct ab *ab, const struct ab_run *ref, const struct ab_run *r)
{
	char x[128], y[128], what[PATH_MAX + 16], suffix[PATH_MAX];
	size_t i;

	if (r->status != ref->status) {
		zt_describe_status(ref->status, x, sizeof x);
		zt_describe_status(r->status, y, sizeof y);
		add_difference(ab, r, "exit status", x, y);
	}
	if (!same_file(&r->out, &ref->out)) {
		describe_file(&ref->out, x, sizeof x);
		describe_file(&r->out, y, sizeof y);
		examine(ab, add_difference(ab, r, "stdout", x, y), ref, r, ab->ref_out,
			ab->out_path, "stdout");
	}
	for (i = 0; i < ab->nouts; i++) {
		if (same_file(&r->files[i], &ref->files[i]))
			continue;
		describe_file(&ref->files[i], x, sizeof x);
		describe_file(&r->files[i], y, sizeof y);
		snprintf(what, sizeof what, "--out %s", ab->outs[i].path);
		snprintf(suffix, sizeof suffix, "out%zu.", i + 1);
		last_part(ab->outs[i].path, suffix + strlen(suffix), sizeof suffix - strlen(suffix));
		examine(ab, add_difference(ab, r, what, x, y), ref, r, ab->outs[i].ref,
			ab->outs[i].path, suffix);
	}
}

static double seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* --prepare / --cleanup: sh -c TEXT, untimed, without zcopy (LD_PRELOAD as
 * the user had it, no stats), its output on stderr.  0, or -1 (reported). */
static int hook(struct ab *ab, const char *opt, const char *text, const char *label)
{
	char *argv[] = {"sh", "-c", (char *)text, NULL};
	char st[64];
	int err, status, rc;
	pid_t pid;

	if (!text)
		return 0;
	rc = ab->user_preload ? setenv("LD_PRELOAD", ab->user_preload, 1) : unsetenv("LD_PRELOAD");
	if (rc != 0 || unsetenv(ZCOPY_ENV_STATS) != 0) {
		zt_err(errno, "setenv");
		return -1;
	}
	pid = zt_spawn(argv, -1, 2, -1, &err);
	if (pid < 0 && err)
		zt_exec_report("sh", err);
	rc = pid < 0 ? -1 : zt_wait(pid, &status, NULL);
	if (zt_stop_signal())
		zt_die_of(zt_stop_signal());
	if (zt_preload() != 0 || setenv(ZCOPY_ENV_STATS, ab->stats_path, 1) != 0)
		return -1;
	if (rc != 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		zt_describe_status(status, st, sizeof st);
		zt_err(0, "%s %s: %s (run %s); stopping", opt, text, st, label);
		return -1;
	}
	return 0;
}

static int one_run(struct ab *ab, struct ab_run *r, int out_fd)
{
	struct timespec t0, t1;
	struct rusage ru;
	int in_fd, err_fd, err, status;
	size_t i;
	pid_t pid;

	if (hook(ab, "--prepare", ab->prepare, r->label) != 0)
		return -1;
	if (setenv(ZCOPY_ENV_MODE, r->side == 'A' ? "off" : "on", 1) != 0) {
		zt_err(errno, "setenv");
		return -1;
	}
	if (ftruncate(out_fd, 0) != 0 || lseek(out_fd, 0, SEEK_SET) != 0 ||
	    truncate(ab->stats_path, 0) != 0 || (!ab->show_output && truncate(ab->err_path, 0) != 0)) {
		zt_err(errno, "cannot reset the temporary files");
		return -1;
	}
	if (ab_outs_reset(ab, r->label) != 0)
		return -1;
	in_fd = open(ab->stdin_path, O_RDONLY | O_CLOEXEC);
	if (in_fd < 0) {
		zt_err(errno, "cannot open %s", ab->stdin_path);
		return -1;
	}
	err_fd = ab->show_output ? -1 : open(ab->err_path, O_WRONLY | O_CLOEXEC);
	if (!ab->show_output && err_fd < 0) {
		zt_err(errno, "cannot open %s", ab->err_path);
		close(in_fd);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = zt_spawn(ab->argv, in_fd, out_fd, err_fd, &err);
	close(in_fd);
	if (err_fd >= 0)
		close(err_fd);
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
	if (hash_path(ab->out_path, &r->out) != 0) {
		zt_err(errno, "cannot read the captured stdout");
		return -1;
	}
	for (i = 0; i < ab->nouts; i++)
		if (hash_path(ab->outs[i].path, &r->files[i]) != 0) {
			zt_err(errno, "cannot read --out %s after run %s", ab->outs[i].path,
			       r->label);
			return -1;
		}
	if (r->side == 'B' && !r->warmup) {
		struct zt_records rs;
		size_t k;
		if (zt_records_load(ab->stats_path, &rs) < 0)
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
	return hook(ab, "--cleanup", ab->cleanup, r->label);
}

static void progress(const struct ab *ab, long i, long total, const char *label)
{
	if (!ab->progress)
		return;
	if (i < total)
		fprintf(stderr, "\rzcopy ab: run %ld of %ld (%s)\033[K", i + 1, total, label);
	else
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

static int run_all(struct ab *ab)
{
	long total = 2 * (ab->warmup + ab->runs), i;
	int out_fd, fd;

	if (zt_mktempdir("ab", ab->dir, sizeof ab->dir) != 0)
		return -1;
	snprintf(ab->out_path, sizeof ab->out_path, "%s/stdout", ab->dir);
	snprintf(ab->err_path, sizeof ab->err_path, "%s/stderr", ab->dir);
	snprintf(ab->ref_err, sizeof ab->ref_err, "%s/ref.stderr", ab->dir);
	snprintf(ab->stats_path, sizeof ab->stats_path, "%s/stats", ab->dir);
	/* CMD's stdout is write-only, as a shell's `>` would make it. */
	out_fd = zt_mktemp_at(ab->out_path, O_WRONLY);
	fd = out_fd < 0 ? -1 : zt_mktemp_at(ab->stats_path, O_WRONLY);
	if (fd < 0)
		return -1;
	close(fd);
	fd = zt_mktemp_at(ab->err_path, O_WRONLY);
	if (fd < 0)
		return -1;
	close(fd);
	if (ab_stdin_setup(ab) != 0)
		return -1;
	if (setenv(ZCOPY_ENV_STATS, ab->stats_path, 1) != 0 ||
	    (ab->guard && setenv(ZCOPY_ENV_GUARD, "1", 1) != 0)) {
		zt_err(errno, "setenv");
		return -1;
	}
	ab->all = calloc((size_t)total, sizeof *ab->all);
	if (!ab->all) {
		zt_err(ENOMEM, "zcopy ab");
		return -1;
	}
	ab->all_failed = 1;
	for (i = 0; i < total; i++) {
		struct ab_run *r = &ab->all[i];
		long pair = i / 2;
		r->side = i % 2 ? 'B' : 'A';
		r->warmup = pair < ab->warmup;
		snprintf(r->label, sizeof r->label, "%s%c%ld", r->warmup ? "warm-up " : "", r->side,
			 (r->warmup ? pair : pair - ab->warmup) + 1);
		r->files = calloc(ab->nouts ? ab->nouts : 1, sizeof *r->files);
		progress(ab, i, total, r->label);
		if (!r->files || one_run(ab, r, out_fd) != 0) {
			progress(ab, total, total, "");
			return -1;
		}
		ab->nall++;
		if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
			ab->all_failed = 0;
		if (i == 0) {
			if (ab_keep_reference(ab) != 0)
				return -1;
			if (!ab->show_output) {
				fd = zt_mktemp_at(ab->ref_err, O_WRONLY);
				if (fd < 0)
					return -1;
				close(fd);
				unlink(ab->ref_err);
				if (ab_copy(ab->err_path, ab->ref_err, 0) != 0)
					return -1;
			}
		} else {
			compare(ab, &ab->all[0], r);
		}
	}
	progress(ab, total, total, "");
	close(out_fd);
	return 0;
}

static void ab_free(struct ab *ab)
{
	size_t i;

	for (i = 0; ab->all && i < (size_t)(2 * (ab->warmup + ab->runs)); i++)
		free(ab->all[i].files);
	free(ab->all);
	free(ab->user_preload);
	zt_record_free(&ab->zstats);
}

static int ab_main(struct ab *ab, int argc, char **argv);

int zt_cmd_ab(int argc, char **argv)
{
	struct ab ab;
	int rc;

	memset(&ab, 0, sizeof ab);
	rc = ab_main(&ab, argc, argv);
	ab_free(&ab);
	return rc;
}

enum { OPT_FORCE = 256, OPT_IGNORE_FAILURE, OPT_SHOW_OUTPUT, OPT_KEEP, OPT_PREPARE, OPT_CLEANUP };

static int keep_dir_ready(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		zt_err(errno, "--keep %s", dir);
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
		zt_err(0, "--keep %s: not a directory ab can write in", dir);
		return -1;
	}
	return 0;
}

static int ab_main(struct ab *ab, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"runs", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'},
		{"guard", no_argument, NULL, 'g'},
		{"out", required_argument, NULL, 'o'},
		{"stdin", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"force", no_argument, NULL, OPT_FORCE},
		{"ignore-failure", no_argument, NULL, OPT_IGNORE_FAILURE},
		{"show-output", no_argument, NULL, OPT_SHOW_OUTPUT},
		{"keep", required_argument, NULL, OPT_KEEP},
		{"prepare", required_argument, NULL, OPT_PREPARE},
		{"cleanup", required_argument, NULL, OPT_CLEANUP},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *old_preload = getenv("LD_PRELOAD");
	char why[PATH_MAX + 128];
	int c, rc;

	ab->runs = 5;
	ab->warmup = 1;
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
		case 'o':
			if (ab->nouts == AB_MAX_OUTS)
				return zt_usage_error("ab", "more than %s --out files", "16");
			ab->outs[ab->nouts++].path = optarg;
			break;
		case 'i': ab->stdin_opt = optarg; break;
		case 'j': ab->json = 1; break;
		case OPT_FORCE: ab->force = 1; break;
		case OPT_IGNORE_FAILURE: ab->ignore_failure = 1; break;
		case OPT_SHOW_OUTPUT: ab->show_output = 1; break;
		case OPT_KEEP: ab->keep_dir = optarg; break;
		case OPT_PREPARE: ab->prepare = optarg; break;
		case OPT_CLEANUP: ab->cleanup = optarg; break;
		case 'h': return zt_help();
		default: return zt_bad_option("ab", c, argv);
		}
	}
	if (optind >= argc)
		return zt_usage_error("ab", "%s", "missing CMD");
	ab->argv = argv + optind;
	if (ab->stdin_opt && strcmp(ab->stdin_opt, "-") != 0 && access(ab->stdin_opt, R_OK) != 0) {
		zt_err(errno, "--stdin %s", ab->stdin_opt);
		return ZT_EXIT_USAGE;
	}
	if (ab->keep_dir && keep_dir_ready(ab->keep_dir) != 0)
		return ZT_EXIT_USAGE;
	if (old_preload && !(ab->user_preload = strdup(old_preload))) {
		zt_err(ENOMEM, "zcopy ab");
		return ZT_EXIT_INTERNAL;
	}
	ab->progress = !ab->show_output && isatty(2);
	zt_signals_install();
	if (zt_preload() != 0)
		return ZT_EXIT_INTERNAL;
	/* The variables as the runs will have them: mode and stats are ab's. */
	if (setenv(ZCOPY_ENV_MODE, "off", 1) != 0 || unsetenv(ZCOPY_ENV_STATS) != 0 ||
	    zt_check_env() != 0)
		return ZT_EXIT_INTERNAL;
	if (zt_check_program(ab->argv[0], why, sizeof why))
		zt_err(0, "%s; A and B will both run without zcopy", why);
	rc = ab_outs_setup(ab);
	if (rc != 0) {
		zt_cleanup();
		return rc;
	}
	if (run_all(ab) != 0) {
		zt_cleanup();
		return ZT_EXIT_INTERNAL;
	}
	if (ab->json)
		ab_print_json(ab, stdout);
	else
		ab_print_table(ab, stdout);
	zt_cleanup();
	rc = ab_exit_code(ab);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		zt_err(errno, "write error on standard output");
		rc = ZT_EXIT_INTERNAL;
	}
	return rc;
}
