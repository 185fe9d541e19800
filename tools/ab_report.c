/*
 * ab_report.c - the verdict and figures of `zcopy ab`, as a table for people
 * or as one JSON object for scripts (--json).  Both hold the same figures.
 *
 * The B/A ratio is the median of the per-pair ratios B_i/A_i, not the ratio
 * of the medians: pairs run next to each other, so a machine that slows down
 * during the run moves both members of a pair and leaves their ratio alone.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

/* 0 and the median per-pair ratio, or -1 when no pair has a non-zero A
 * (sys time of a tiny command is often 0). */
static int pair_ratio(const struct ab *ab, enum metric m, double *out)
{
	double *v = malloc((size_t)ab->runs * sizeof *v);
	size_t n = 0;
	long i;

	if (!v)
		return -1;
	for (i = 0; i < ab->runs; i++) {
		double a = get(measured(ab, 'A', i), m), b = get(measured(ab, 'B', i), m);
		if (a > 0)
			v[n++] = b / a;
	}
	if (n)
		*out = median_of(v, n);
	free(v);
	return n ? 0 : -1;
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
	int m;

	zt_record_sort_reasons(&ab->zstats);
	fputs("zcopy ab: ", f);
	print_command(f, ab->argv);
	fprintf(f, "\n  %ld run%s per side after %ld warm-up run%s; A: ZCOPY_MODE=off, "
		   "B: ZCOPY_MODE=on%s\n",
		ab->runs, ab->runs == 1 ? "" : "s", ab->warmup, ab->warmup == 1 ? "" : "s",
		ab->guard ? ", ZCOPY_GUARD=1" : "");
	zt_describe_status(ref->status, st, sizeof st);
	if (!ab->ndiffs_total) {
		fprintf(f, "verdict: outputs agree: CMD %s; stdout ", st);
		print_file(f, &ref->out);
		for (i = 0; i < ab->nouts; i++) {
			fprintf(f, "; %s: ", ab->outs[i]);
			print_file(f, &ref->files[i]);
		}
		fputc('\n', f);
	} else {
		fprintf(f, "verdict: OUTPUTS DIFFER (%zu difference%s)\n", ab->ndiffs_total,
			ab->ndiffs_total == 1 ? "" : "s");
		for (i = 0; i < ab->ndiffs; i++)
			fprintf(f, "  run %s: %s: %s in run %s, %s in run %s\n", ab->diffs[i].run,
				ab->diffs[i].what, ab->diffs[i].expected, ref->label,
				ab->diffs[i].got, ab->diffs[i].run);
		if (ab->ndiffs_total > ab->ndiffs)
			fprintf(f, "  (%zu more)\n", ab->ndiffs_total - ab->ndiffs);
		if (ab->a_disagree)
			fputs("  the A runs (without zcopy) disagree among themselves: CMD's output "
			      "is not deterministic, so this comparison cannot judge zcopy\n", f);
	}
	fprintf(f, "\n%-13s %10s %10s %10s   %10s %10s %10s   %7s\n", "", "A median", "min",
		"max", "B median", "min", "max", "B/A");
	for (m = 0; m < M__COUNT; m++) {
		struct summary a = summarize(ab, 'A', (enum metric)m);
		struct summary b = summarize(ab, 'B', (enum metric)m);
		const char *fmt = m == M_RSS ? "%10.0f" : "%10.4f";
		double r;
		fprintf(f, "%-13s ", metric_label[m]);
		fprintf(f, fmt, a.median), fputc(' ', f);
		fprintf(f, fmt, a.min), fputc(' ', f);
		fprintf(f, fmt, a.max), fputs("   ", f);
		fprintf(f, fmt, b.median), fputc(' ', f);
		fprintf(f, fmt, b.min), fputc(' ', f);
		fprintf(f, fmt, b.max), fputs("   ", f);
		if (pair_ratio(ab, (enum metric)m, &r) == 0)
			fprintf(f, "%7.3f\n", r);
		else
			fprintf(f, "%7s\n", "-");
	}
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
	fprintf(f, "],\"runs\":%ld,\"warmup\":%ld,\"guard\":%s,\"agree\":%s,\"exit\":", ab->runs,
		ab->warmup, ab->guard ? "true" : "false", ab->ndiffs_total ? "false" : "true");
	json_status(f, ab->all[0].status);
	fputs(",\"stdout\":", f);
	json_file(f, &ab->all[0].out);
	fputs(",\"out\":[", f);
	for (i = 0; i < ab->nouts; i++) {
		fputs(i ? ",{\"path\":" : "{\"path\":", f);
		zt_json_string(f, ab->outs[i]);
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
		fputc('}', f);
	}
	fputs("],\"a\":", f);
	json_side(ab, f, 'A');
	fputs(",\"b\":", f);
	json_side(ab, f, 'B');
	fputs(",\"ratio_b_over_a\":{", f);
	for (m = 0; m < M__COUNT; m++) {
		double r;
		fprintf(f, "%s\"%s\":", m ? "," : "", metric_ratio[m]);
		if (pair_ratio(ab, (enum metric)m, &r) == 0)
			fprintf(f, "%.6f", r);
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
