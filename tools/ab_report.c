/*
 * ab_report.c - the verdict and figures of `zcopy ab`, as a table for people
 * or as one JSON object for scripts (--json).  Both hold the same figures.
 *
 * The B/A ratio is the median of the per-pair ratios B_i/A_i, not the ratio
 * of the medians: pairs run next to each other, so a machine that slows down
 * during the run moves both members of a pair and leaves their ratio alone.
 * Its spread is the interquartile range of those ratios; a wide one is
 * called out.  User and system times come from the kernel's tick-based
 * accounting, so their ratios are only given when both sides used enough CPU
 * for the ticks to resolve them.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ab.h"
#include "zcopy.h"

enum metric { M_WALL, M_USER, M_SYS, M_RSS, M__COUNT };
static const char *const metric_json[M__COUNT] = {"wall_s", "user_s", "sys_s", "maxrss_kib"};
static const char *const metric_ratio[M__COUNT] = {"wall", "user", "sys", "maxrss"};
static const char *const metric_label[M__COUNT] = {"wall (s)", "user (s)", "sys (s)",
						   "maxrss (KiB)"};

struct summary {
	double median, min, max;
};

static double get(const struct ab_run *r, enum metric m)
{
	switch (m) {
	case M_WALL: return r->wall;
	case M_USER: return r->user;
	case M_SYS: return r->sys;
	default: return (double)r->maxrss_kib;
	}
}

static const struct ab_run *measured(const struct ab *ab, char side, long i)
{
	return &ab->all[2 * (ab->warmup + i) + (side == 'B')];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_of(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct summary summarize(const struct ab *ab, char side, enum metric m)
{
	double *v = malloc((size_t)ab->runs * sizeof *v);
	struct summary s = {0, 0, 0};
	long i;

	if (!v)
		return s;
	for (i = 0; i < ab->runs; i++)
		v[i] = get(measured(ab, side, i), m);
	s.median = median_of(v, (size_t)ab->runs);
	s.min = v[0];
	s.max = v[ab->runs - 1];
	free(v);
	return s;
}

/* Linear interpolation between order statistics of sorted v. */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)pos;
	return lo + 1 < n ? v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]) : v[lo];
}

/* CPU times below this (per run, median, either side) are too few kernel
 * ticks for a ratio: at HZ=250 a tick is 4 ms, so 0.2 s is 50 ticks (2 %). */
#define CPU_RESOLVED_S 0.2

struct ratio {
	double median, q1, q3;
	int ok;           /* a ratio could be formed */
	int unresolved;   /* user/sys too short for the clock */
};

static struct ratio pair_ratio(const struct ab *ab, enum metric m)
{
	double *v = malloc((size_t)ab->runs * sizeof *v);
	struct ratio r = {0, 0, 0, 0, 0};
	size_t n = 0;
	long i;

	if (!v)
		return r;
	if (m == M_USER || m == M_SYS) {
		struct summary a = summarize(ab, 'A', m), b = summarize(ab, 'B', m);
		if (a.median < CPU_RESOLVED_S || b.median < CPU_RESOLVED_S) {
			r.unresolved = 1;
			free(v);
			return r;
		}
	}
	for (i = 0; i < ab->runs; i++) {
		double a = get(measured(ab, 'A', i), m), b = get(measured(ab, 'B', i), m);
		if (a > 0)
			v[n++] = b / a;
	}
	if (n) {
		r.median = median_of(v, n); /* sorts v */
		r.q1 = quantile(v, n, 0.25);
		r.q3 = quantile(v, n, 0.75);
		r.ok = 1;
	}
	free(v);
	return r;
}

/* A spread wider than this share of the median is called out. */
#define WIDE_SPREAD 0.10

static int wide(const struct ratio *r)
{
	return r->ok && r->median > 0 && (r->q3 - r->q1) / r->median > WIDE_SPREAD;
}

int ab_exit_code(const struct ab *ab)
{
	if (ab->a_disagree)
		return ZT_EXIT_UNSTABLE;
	if (ab->ndiffs_total)
		return ZT_EXIT_DIFFER;
	if (ab->all_failed && !ab->ignore_failure)
		return ZT_EXIT_FAILED;
	return ZT_EXIT_OK;
}

/* Only the exit status was compared: no --out and nothing on stdout. */
static int status_only(const struct ab *ab)
{
	return ab->nouts == 0 && ab->all[0].out.bytes == 0;
}

static const char *verdict_word(const struct ab *ab)
{
	switch (ab_exit_code(ab)) {
	case ZT_EXIT_UNSTABLE: return "not_deterministic";
	case ZT_EXIT_DIFFER: return "differ";
	case ZT_EXIT_FAILED: return "failed_every_run";
	default: return "agree";
	}
}

/* The last lines of the reference run's stderr, indented. */
static void print_stderr_tail(const struct ab *ab, FILE *f)
{
	char buf[2048];
	int fd = open(ab->ref_err, O_RDONLY | O_CLOEXEC);
	off_t size;
	ssize_t n;
	char *p, *start;
	int lines = 0;

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof buf - 1,
		  size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* at most the last 5 lines */
	for (start = buf + n; start > buf; start--)
		if (start[-1] == '\n' && start < buf + n && ++lines > 5)
			break;
	fprintf(f, "  its stderr (run %s%s):\n", ab->all[0].label, start > buf ? ", last lines" : "");
	for (p = strtok(start, "\n"); p; p = strtok(NULL, "\n"))
		fprintf(f, "    %s\n", p);
}

/* The command as a shell would need it typed, for the report's first line. */
static void print_command(FILE *f, char **argv)
{
	for (; *argv; argv++) {
		const char *a = *argv, *p;
		int plain = *a != '\0';
		for (p = a; *p && plain; p++)
			plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789-_./=:,+%@", *p) != NULL;
		if (plain) {
			fputs(a, f);
		} else {
			fputc('\'', f);
			for (p = a; *p; p++)
				*p == '\'' ? fputs("'\\''", f) : fputc(*p, f);
			fputc('\'', f);
		}
		if (argv[1])
			fputc(' ', f);
	}
}

static void print_file(FILE *f, const struct ab_file *x)
{
	if (!x->exists)
		fputs("no file", f);
	else
		fprintf(f, "%llu bytes, sha256 %.16s", (unsigned long long)x->bytes, x->sha256);
}

static void print_zstats(const struct ab *ab, FILE *f)
{
	const struct zt_record *z = &ab->zstats;
	char a[32], b[32];
	size_t i;

	fprintf(f, "zcopy in the B runs (sum of %ld run%s, %zu process record%s):\n", ab->runs,
		ab->runs == 1 ? "" : "s", ab->nrecords, ab->nrecords == 1 ? "" : "s");
	if (!ab->nrecords) {
		fputs("  no records: CMD is not dynamically linked, is setuid, makes raw system "
		      "calls, or did not exit normally\n", f);
		return;
	}
	zt_human_bytes(z->bytes_zero_copy, a, sizeof a);
	zt_human_bytes(z->bytes_copied, b, sizeof b);
	fprintf(f, "  redirected: %s (bytes_zero_copy); through user memory: %s (bytes_copied)\n",
		a, b);
	fprintf(f, "  transfers: copy_file_range %llu, sendfile %llu, splice %llu\n",
		(unsigned long long)z->transfers[0], (unsigned long long)z->transfers[1],
		(unsigned long long)z->transfers[2]);
	if (!z->nreasons)
		return;
	fputs("  top fallback reasons:\n", f);
	for (i = 0; i < z->nreasons && i < 5; i++) {
		const char *desc = zt_reason_desc(z->reasons[i].name);
		zt_human_bytes(z->reasons[i].bytes, a, sizeof a);
		fprintf(f, "    %-24s %8llu times %12s  %s\n", z->reasons[i].name,
			(unsigned long long)z->reasons[i].count, a, desc ? desc : "");
	}
}

void ab_print_table(struct ab *ab, FILE *f)
{
	const struct ab_run *ref = &ab->all[0];
	char st[64];
	size_t i;
	int m, nwide = 0, nunres = 0;

	zt_record_sort_reasons(&ab->zstats);
	fputs("zcopy ab: ", f);
	print_command(f, ab->argv);
	fprintf(f, "\n  %ld run%s per side after %ld warm-up run%s; A: ZCOPY_MODE=off, "
		   "B: ZCOPY_MODE=on%s\n",
		ab->runs, ab->runs == 1 ? "" : "s", ab->warmup, ab->warmup == 1 ? "" : "s",
		ab->guard ? ", ZCOPY_GUARD=1" : "");
	zt_describe_status(ref->status, st, sizeof st);
	if (!ab->ndiffs_total && ab->all_failed) {
		fprintf(f, "verdict: CMD FAILED IN EVERY RUN (%s)%s\n", st,
			ab->ignore_failure ? "; outputs agree (--ignore-failure)" : "");
		print_stderr_tail(ab, f);
		if (!ab->ignore_failure)
			fputs("  a command that fails does no work zcopy could change; fix the "
			      "command, or pass --ignore-failure if failing is what it does\n", f);
	}
	if (!ab->ndiffs_total && (!ab->all_failed || ab->ignore_failure)) {
		fprintf(f, "verdict: outputs agree: CMD %s; stdout ", st);
		print_file(f, &ref->out);
		for (i = 0; i < ab->nouts; i++) {
			fprintf(f, "; %s: ", ab->outs[i].path);
			print_file(f, &ref->files[i]);
		}
		fputc('\n', f);
		if (status_only(ab))
			fputs("  only the exit status was compared: CMD wrote nothing on stdout and "
			      "no --out FILE was named; name the files CMD writes with --out FILE\n",
			      f);
	} else if (ab->ndiffs_total) {
		fprintf(f, "verdict: %s (%zu difference%s)\n",
			ab->a_disagree ? "NOT DETERMINISTIC WITHOUT ZCOPY" : "OUTPUTS DIFFER",
			ab->ndiffs_total, ab->ndiffs_total == 1 ? "" : "s");
		for (i = 0; i < ab->ndiffs; i++) {
			const struct ab_diff *d = &ab->diffs[i];
			fprintf(f, "  run %s: %s: %s in run %s, %s in run %s", d->run, d->what,
				d->expected, ref->label, d->got, d->run);
			if (d->first_diff >= 0)
				fprintf(f, "; first difference at byte %lld", d->first_diff);
			fputc('\n', f);
			if (d->kept[0])
				fprintf(f, "    kept: %s\n", d->kept);
		}
		if (ab->ndiffs_total > ab->ndiffs)
			fprintf(f, "  (%zu more)\n", ab->ndiffs_total - ab->ndiffs);
		if (ab->a_disagree)
			fputs("  the A runs (without zcopy) disagree among themselves: CMD's output "
			      "is not deterministic, so this comparison cannot judge zcopy\n", f);
		else if (!ab->keep_dir)
			fputs("  (--keep DIR keeps the differing files)\n", f);
	}
	fprintf(f, "\n%-13s %10s %10s %10s   %10s %10s %10s   %7s  %s\n", "", "A median", "min",
		"max", "B median", "min", "max", "B/A", "(IQR)");
	for (m = 0; m < M__COUNT; m++) {
		struct summary a = summarize(ab, 'A', (enum metric)m);
		struct summary b = summarize(ab, 'B', (enum metric)m);
		const char *fmt = m == M_RSS ? "%10.0f" : "%10.4f";
		struct ratio r = pair_ratio(ab, (enum metric)m);
		fprintf(f, "%-13s ", metric_label[m]);
		fprintf(f, fmt, a.median), fputc(' ', f);
		fprintf(f, fmt, a.min), fputc(' ', f);
		fprintf(f, fmt, a.max), fputs("   ", f);
		fprintf(f, fmt, b.median), fputc(' ', f);
		fprintf(f, fmt, b.min), fputc(' ', f);
		fprintf(f, fmt, b.max), fputs("   ", f);
		if (r.ok)
			fprintf(f, "%7.3f  (%.3f-%.3f)%s\n", r.median, r.q1, r.q3, wide(&r) ? " wide" : "");
		else
			fprintf(f, "%7s%s\n", "-", r.unresolved ? "  (too little CPU time)" : "");
		if (wide(&r))
			nwide++;
		if (r.unresolved)
			nunres++;
	}
	if (nwide)
		fprintf(f, "note: the ratios marked wide vary by more than %.0f%% between pairs; "
			   "run more pairs (-n) or on a quieter machine before trusting them\n",
			WIDE_SPREAD * 100);
	if (ab->runs < 5)
		fputs("note: with fewer than 5 pairs the spread is a rough guess\n", f);
	if (nunres)
		fprintf(f, "note: user/sys ratios need at least %.1f s of CPU per run on both sides: "
			   "the kernel counts CPU time in clock ticks (4 ms at HZ=250)\n",
			CPU_RESOLVED_S);
	fputc('\n', f);
	print_zstats(ab, f);
}

/* ---- JSON ---- */

static void json_file(FILE *f, const struct ab_file *x)
{
	if (!x->exists)
		fputs("{\"exists\":false}", f);
	else
		fprintf(f, "{\"exists\":true,\"bytes\":%llu,\"sha256\":\"%s\"}",
			(unsigned long long)x->bytes, x->sha256);
}

static void json_status(FILE *f, int status)
{
	if (WIFSIGNALED(status)) {
		fprintf(f, "{\"status\":null,\"signal\":%d,\"signal_name\":", WTERMSIG(status));
		zt_json_string(f, zt_signame(WTERMSIG(status)));
		fputc('}', f);
	} else {
		fprintf(f, "{\"status\":%d,\"signal\":null}",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
}

static void json_run(const struct ab *ab, FILE *f, const struct ab_run *r)
{
	size_t i;

	fputs("{\"run\":", f);
	zt_json_string(f, r->label);
	fprintf(f, ",\"side\":\"%c\",\"warmup\":%s,\"wall_s\":%.6f,\"user_s\":%.6f,"
		   "\"sys_s\":%.6f,\"maxrss_kib\":%ld,\"exit\":",
		r->side, r->warmup ? "true" : "false", r->wall, r->user, r->sys, r->maxrss_kib);
	json_status(f, r->status);
	fputs(",\"stdout\":", f);
	json_file(f, &r->out);
	fputs(",\"out\":[", f);
	for (i = 0; i < ab->nouts; i++) {
		if (i)
			fputc(',', f);
		json_file(f, &r->files[i]);
	}
	fputs("]}", f);
}

static void json_side(const struct ab *ab, FILE *f, char side)
{
	int m;

	fputc('{', f);
	for (m = 0; m < M__COUNT; m++) {
		struct summary s = summarize(ab, side, (enum metric)m);
		fprintf(f, "%s\"%s\":{\"median\":%.6f,\"min\":%.6f,\"max\":%.6f}", m ? "," : "",
			metric_json[m], s.median, s.min, s.max);
	}
	fputc('}', f);
}

static void json_reasons(FILE *f, const struct zt_record *z, int bytes)
{
	size_t i;

	fputc('{', f);
	for (i = 0; i < z->nreasons; i++) {
		if (i)
			fputc(',', f);
		zt_json_string(f, z->reasons[i].name);
		fprintf(f, ":%llu",
			(unsigned long long)(bytes ? z->reasons[i].bytes : z->reasons[i].count));
	}
	fputc('}', f);
}

void ab_print_json(struct ab *ab, FILE *f)
{
	const struct zt_record *z = &ab->zstats;
	size_t i;
	int m;

	zt_record_sort_reasons(&ab->zstats);
	fputs("{\"zcopy_version\":\"" ZCOPY_VERSION "\",\"command\":[", f);
	for (i = 0; ab->argv[i]; i++) {
		if (i)
			fputc(',', f);
		zt_json_string(f, ab->argv[i]);
	}
	fprintf(f, "],\"runs\":%ld,\"warmup\":%ld,\"guard\":%s,\"agree\":%s,\"verdict\":\"%s\","
		   "\"exit_code\":%d,\"failed_every_run\":%s,\"status_only\":%s,\"exit\":",
		ab->runs, ab->warmup, ab->guard ? "true" : "false", ab->ndiffs_total ? "false" : "true",
		verdict_word(ab), ab_exit_code(ab), ab->all_failed ? "true" : "false",
		status_only(ab) ? "true" : "false");
	json_status(f, ab->all[0].status);
	fputs(",\"stdout\":", f);
	json_file(f, &ab->all[0].out);
	fputs(",\"out\":[", f);
	for (i = 0; i < ab->nouts; i++) {
		fputs(i ? ",{\"path\":" : "{\"path\":", f);
		zt_json_string(f, ab->outs[i].path);
		fputs(",\"first_a\":", f);
		json_file(f, &ab->all[0].files[i]);
		fputc('}', f);
	}
	fprintf(f, "],\"differences_total\":%zu,\"a_runs_disagree\":%s,\"differences\":[",
		ab->ndiffs_total, ab->a_disagree ? "true" : "false");
	for (i = 0; i < ab->ndiffs; i++) {
		const struct ab_diff *d = &ab->diffs[i];
		fputs(i ? ",{\"run\":" : "{\"run\":", f);
		zt_json_string(f, d->run);
		fputs(",\"what\":", f);
		zt_json_string(f, d->what);
		fputs(",\"expected\":", f);
		zt_json_string(f, d->expected);
		fputs(",\"got\":", f);
		zt_json_string(f, d->got);
		if (d->first_diff >= 0)
			fprintf(f, ",\"first_difference_offset\":%lld", d->first_diff);
		else
			fputs(",\"first_difference_offset\":null", f);
		fputs(",\"kept\":", f);
		if (d->kept[0])
			zt_json_string(f, d->kept);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputs("],\"a\":", f);
	json_side(ab, f, 'A');
	fputs(",\"b\":", f);
	json_side(ab, f, 'B');
	fputs(",\"ratio_b_over_a\":{", f);
	for (m = 0; m < M__COUNT; m++) {
		struct ratio r = pair_ratio(ab, (enum metric)m);
		fprintf(f, "%s\"%s\":", m ? "," : "", metric_ratio[m]);
		if (r.ok)
			fprintf(f, "%.6f", r.median);
		else
			fputs("null", f);
	}
	fputs("},\"ratio_iqr\":{", f);
	for (m = 0; m < M__COUNT; m++) {
		struct ratio r = pair_ratio(ab, (enum metric)m);
		fprintf(f, "%s\"%s\":", m ? "," : "", metric_ratio[m]);
		if (r.ok)
			fprintf(f, "{\"q1\":%.6f,\"q3\":%.6f,\"wide\":%s}", r.q1, r.q3,
				wide(&r) ? "true" : "false");
		else if (r.unresolved)
			fputs("{\"unresolved\":\"too little CPU time for the clock\"}", f);
		else
			fputs("null", f);
	}
	fprintf(f, "},\"zcopy\":{\"records\":%zu,\"bytes_zero_copy\":%llu,\"bytes_copied\":%llu,"
		   "\"phantom_reads\":%llu,\"materialized_bytes\":%llu,"
		   "\"would_zero_copy_bytes\":%llu,\"transfers\":{",
		ab->nrecords, (unsigned long long)z->bytes_zero_copy,
		(unsigned long long)z->bytes_copied, (unsigned long long)z->phantom_reads,
		(unsigned long long)z->materialized_bytes,
		(unsigned long long)z->would_zero_copy_bytes);
	for (i = 0; i < 3; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", zt_transfer_keys[i],
			(unsigned long long)z->transfers[i]);
	fputs("},\"fallbacks\":", f);
	json_reasons(f, z, 0);
	fputs(",\"fallback_bytes\":", f);
	json_reasons(f, z, 1);
	fputs("},\"all_runs\":[", f);
	for (i = 0; i < ab->nall; i++) {
		if (i)
			fputc(',', f);
		json_run(ab, f, &ab->all[i]);
	}
	fputs("]}\n", f);
}
