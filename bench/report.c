/*
 * report.c - turns the measured runs into numbers people can check: medians,
 * min and max, throughput, the pairwise ratios (median of A_i/B_i, robust to
 * a machine whose speed drifts during the run), the crossover of the chunk
 * sweep, and writes docs/benchmarks.md and the sweep charts (hand-written
 * SVG).  Targets are the ones of the engine issue; a missed one says so.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h" /* ZC_DEFAULT_MIN_CHUNK: the default the sweep checks */
#include "harness.h"

/* Below the crossover zcopy must be "no slower than plain"; on a shared
 * 2-core machine run-to-run noise is a few percent, so 0.97 is the line. */
#define NOISE_FLOOR 0.97

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double median(const double *x, int n)
{
	double t[MAXRUNS];
	if (n <= 0)
		return 0;
	memcpy(t, x, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_d);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double minmax(const double *x, int n, int want_max)
{
	double m = n ? x[0] : 0;
	for (int i = 1; i < n; i++)
		if (want_max ? x[i] > m : x[i] < m)
			m = x[i];
	return m;
}

static double pair_ratio_of(const struct vres *num, const struct vres *den, int cpu)
{
	double r[MAXRUNS];
	int n;
	if (!num || !den || num->failed || den->failed)
		return 0;
	n = num->nruns < den->nruns ? num->nruns : den->nruns;
	for (int i = 0; i < n; i++)
		r[i] = cpu ? num->cpu[i] / (den->cpu[i] > 0 ? den->cpu[i] : 1e-6)
			   : num->wall[i] / den->wall[i];
	return median(r, n);
}

double pair_ratio(const struct vres *num, const struct vres *den)
{
	return pair_ratio_of(num, den, 0);
}

/* Interquartile range (nearest rank) of the pairwise ratios num_i / den_i:
 * how much the pairs disagree, i.e. how noisy the machine was. */
static void pair_iqr(const struct vres *num, const struct vres *den, double *q1, double *q3)
{
	double r[MAXRUNS];
	int n = num && den ? (num->nruns < den->nruns ? num->nruns : den->nruns) : 0;

	*q1 = *q3 = 0;
	if (n <= 0 || num->failed || den->failed)
		return;
	for (int i = 0; i < n; i++)
		r[i] = num->wall[i] / den->wall[i];
	qsort(r, (size_t)n, sizeof(double), cmp_d);
	*q1 = r[(n - 1) / 4];
	*q3 = r[(3 * (n - 1) + 3) / 4];
}

struct vres *find_kind(struct scen *s, enum vkind k)
{
	for (int i = 0; i < s->nv; i++)
		if (s->v[i].kind == k)
			return &s->v[i];
	return NULL;
}

static double gibps(const struct bench *b, const struct vres *v)
{
	double m = median(v->wall, v->nruns);
	return m > 0 && !v->failed ? (double)b->size / m / (double)(1ULL << 30) : 0;
}

static const char *consumer_of(const struct scen *s)
{
	switch (s->dest) {
	case D_PIPE:
		return "pipe read by build/bench/sink, which splices it to /dev/null";
	case D_TCP:
		return "loopback TCP connection read by build/bench/sink with read() in 1 MiB chunks";
	case D_NULL:
		return "/dev/null";
	default:
		return "a new file (unlinked and the file system synced before each run)";
	}
}

/* The stdio copier's target: its B/A at least this share of the read()/write()
 * copier's B/A at the same request size (R-B/R-A, measured in the same rounds). */
#define STDIO_TARGET 0.9

/* Targets of the engine issue: B/A at least ba, and B vs ideal at least bi. */
static int target(const char *id, double *ba, double *bi)
{
	*bi = 0;
	if (strcmp(id, "pipe") == 0)
		return *ba = 4, *bi = 0.8, 1;
	if (strcmp(id, "devnull") == 0)
		return *ba = 6, 1;
	if (strcmp(id, "tcp") == 0)
		return *ba = 1.5, 1;
	if (strcmp(id, "ext4") == 0)
		return *ba = 1.15, 1;
	if (strcmp(id, "xfs") == 0)
		return *ba = 10, 1;
	if (strncmp(id, "sock-tcp-", 9) == 0)
		return *ba = 1.5, 1;
	if (strncmp(id, "sock-ext4-", 10) == 0)
		return *ba = 1.2, 1;
	return 0;
}

void report_scen_text(FILE *f, const struct bench *b, struct scen *s)
{
	struct vres *a = find_kind(s, V_OFF), *on = find_kind(s, V_ON), *id = find_kind(s, V_IDEAL);

	fprintf(f, "\n### %s\n\n", s->title);
	if (*s->skipped) {
		fprintf(f, "%s\n", s->skipped);
		return;
	}
	if (s->sock_src)
		fprintf(f, "Source: a loopback TCP connection on the copier's standard input, fed "
			   "by build/bench/ideal (sendfile of a file on %s, started with the clock; "
			   "its CPU is not counted)", s->fs);
	else
		fprintf(f, "%s on %s", s->dest == D_FILE ? "Source and destination" : "Source",
			s->fs);
	fprintf(f, "; output to %s; chunk %zu KiB; %d runs per program.%s\n\n", consumer_of(s),
		s->chunk / 1024, a ? a->nruns : 0,
		s->sock_src ? " The ideal program splices the socket into a pipe of one chunk "
			      "and the pipe to the destination." : "");
	fprintf(f, "| program | median s | min s | max s | GiB/s | user+sys s | vs A (pairwise) |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < s->nv; i++) {
		struct vres *v = &s->v[i];
		if (v->failed) {
			fprintf(f, "| %s | failed: %s ||||||\n", v->label, v->failure);
			continue;
		}
		fprintf(f, "| %s | %.3f | %.3f | %.3f | %.2f | %.3f | %.2fx |\n", v->label,
			median(v->wall, v->nruns), minmax(v->wall, v->nruns, 0),
			minmax(v->wall, v->nruns, 1), gibps(b, v), median(v->cpu, v->nruns),
			a ? pair_ratio(a, v) : 0);
	}
	if (a && on && id) {
		double q1, q3, p1, p3;
		pair_iqr(a, on, &q1, &q3);
		pair_iqr(id, on, &p1, &p3);
		double chunks = (double)b->size / (double)s->chunk;
		fprintf(f, "\nB/A = **%.2fx** (median of A_i/B_i; interquartile range %.2f-%.2f); "
			   "B vs ideal = **%.2f** (median of I_i/B_i; IQR %.2f-%.2f). Per chunk, zcopy's "
			   "copier spends %.1f us of CPU more than the ideal program (%.1f us vs %.1f us).",
			pair_ratio(a, on), q1, q3, pair_ratio(id, on), p1, p3,
			(median(on->cpu, on->nruns) - median(id->cpu, id->nruns)) / chunks * 1e6,
			median(on->cpu, on->nruns) / chunks * 1e6, median(id->cpu, id->nruns) / chunks * 1e6);
		fprintf(f, " Copier CPU, B vs ideal: **%.2f** (median of I_i/B_i of user+sys).",
			pair_ratio_of(id, on, 1));
		if (on->calls > 0 && id->calls > 0)
			fprintf(f, " System calls per chunk (`strace -f -c`, one more run of each, "
				   "start-up included): B %.2f, ideal %.2f.", on->calls, id->calls);
	}
	struct vres *ra = find_kind(s, V_RWOFF), *rb = find_kind(s, V_RWON);
	if (a && on && id && ra && rb) {
		double rr = pair_ratio(ra, rb);
		fprintf(f, " The read()/write() copier at the same request size: R-B/R-A = **%.2fx** "
			   "(copier CPU %.2fx); the target, B/A within 10%% of it, is B/A >= %.2fx: %s. "
			   "The ideal program against A: %.2fx (median of A_i/I_i), what one kernel "
			   "transfer per chunk and no other call reaches against this plain loop.",
			rr, pair_ratio_of(ra, rb, 1), STDIO_TARGET * rr,
			on->failed || rb->failed ? "failed"
			: pair_ratio(a, on) >= STDIO_TARGET * rr ? "met" : "missed",
			pair_ratio(a, id));
	}
	static const enum vkind counted[] = {V_ON, V_ONDEF, V_RWON};
	for (size_t c = 0; c < sizeof(counted) / sizeof(counted[0]); c++) {
		struct vres *v = find_kind(s, counted[c]);
		if (v && v->have_zc)
			fprintf(f, " %s: bytes_zero_copy %llu of %llu (%.0f%%, smallest over its runs)"
				   "%s%s.", v->label, (unsigned long long)v->zc_min,
				(unsigned long long)b->size, 100.0 * (double)v->zc_min / (double)b->size,
				*v->fallbacks && strcmp(v->fallbacks, "{}") ? "; fallbacks " : "",
				*v->fallbacks && strcmp(v->fallbacks, "{}") ? v->fallbacks : "");
		else if (v && !v->failed)
			fprintf(f, " %s: no stats record was written.", v->label);
	}
	fprintf(f, " Output: %s.\n", s->dest == D_NULL ? "none to compare (exit status checked)"
			: "every program's output hashed once and identical to the source");
}

size_t sweep_crossover(const struct bench *b, int which)
{
	size_t cross = 0;
	/* Smallest chunk from which B stays faster than A at every larger size. */
	for (int i = NSWEEP - 1; i >= 0; i--) {
		struct scen *s = (struct scen *)&b->sweep_pts[which][i];
		struct vres *a = find_kind(s, V_OFF), *on = find_kind(s, V_ON);
		if (!a || !on || pair_ratio(a, on) <= 1.0)
			break;
		cross = s->chunk;
	}
	return cross;
}

/* "No slower than plain": met at or above the noise floor; a median below
 * it whose upper quartile still reaches 1.0 is called out as within noise. */
static const char *verdict_noslower(double med, double q3)
{
	if (med >= NOISE_FLOOR)
		return "met";
	return q3 >= 1.0 ? "**missed** by the median, within run-to-run noise (upper quartile >= 1.00)"
			 : "**missed**";
}

/* Worst pairwise B/A, with the default ZCOPY_MIN_CHUNK, over the sweep points
 * below that default (where zcopy must stay out of the way); 0 if none. */
static size_t below_default(const struct bench *b, int w, double *worst)
{
	size_t at = 0;
	for (int i = 0; i < NSWEEP; i++) {
		struct scen *s = (struct scen *)&b->sweep_pts[w][i];
		double r = pair_ratio(find_kind(s, V_OFF), find_kind(s, V_ONDEF));
		if (s->chunk < ZC_DEFAULT_MIN_CHUNK && (!at || r < *worst)) {
			*worst = r;
			at = s->chunk;
		}
	}
	return at;
}

static void sweep_table(FILE *f, const struct bench *b, int w)
{
	size_t cross = sweep_crossover(b, w);
	double worst = 0;
	size_t worst_at = below_default(b, w, &worst);

	fprintf(f, "\n### Chunk-size sweep, %s\n\n", w == 0 ? "file -> pipe" : "file -> file (ext4)");
	fprintf(f, "A and B run with ZCOPY_MIN_CHUNK=4096 so zcopy engages at every size; the "
		   "column \"B default\" runs with the default ZCOPY_MIN_CHUNK (%d KiB) to check "
		   "that below it zcopy costs nothing. GiB/s from the median of %d runs; the "
		   "last column is the ideal program's copier CPU over zcopy's (median of the "
		   "pairs).\n\n",
		ZC_DEFAULT_MIN_CHUNK / 1024, b->runs);
	fprintf(f, "| chunk | A GiB/s | B GiB/s | B default GiB/s | ideal GiB/s | B/A | "
		   "B default/A | B vs ideal | B vs ideal, copier CPU |\n"
		   "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < NSWEEP; i++) {
		struct scen *s = (struct scen *)&b->sweep_pts[w][i];
		struct vres *a = find_kind(s, V_OFF), *on = find_kind(s, V_ON);
		struct vres *def = find_kind(s, V_ONDEF), *id = find_kind(s, V_IDEAL);
		fprintf(f, "| %zu KiB | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2f | %.2f |\n",
			s->chunk / 1024, gibps(b, a), gibps(b, on), gibps(b, def), gibps(b, id),
			pair_ratio(a, on), pair_ratio(a, def), pair_ratio(id, on),
			pair_ratio_of(id, on, 1));
		for (int k = 0; k < s->nv; k++)
			if (s->v[k].failed)
				fprintf(f, "\n%s failed at %zu KiB: %s\n", s->v[k].label,
					s->chunk / 1024, s->v[k].failure);
	}
	if (cross)
		fprintf(f, "\n**Crossover: %zu KiB** - from this chunk size up, zcopy (B) is faster "
			   "than plain (A) at every size measured.", cross / 1024);
	else
		fprintf(f, "\n**Crossover: none** - zcopy was not faster than plain from any chunk "
			   "size up to 1 MiB in this run.");
	fprintf(f, " The library's default ZCOPY_MIN_CHUNK is %d KiB (shim/config.h)%s\n",
		ZC_DEFAULT_MIN_CHUNK / 1024,
		cross == ZC_DEFAULT_MIN_CHUNK ? ", which is the crossover."
		: cross && cross < ZC_DEFAULT_MIN_CHUNK
			? "; it is above the crossover, so it leaves some speed unused on this machine."
		: cross ? "; it is below the crossover measured here."
			: ".");
	if (worst_at) {
		double q1, q3;
		struct scen *s = (struct scen *)&b->sweep_pts[w][0];
		while (s->chunk != worst_at)
			s++;
		pair_iqr(find_kind(s, V_OFF), find_kind(s, V_ONDEF), &q1, &q3);
		fprintf(f, "\nBelow the default ZCOPY_MIN_CHUNK, with the default setting: worst B/A "
			   "%.3fx (at %zu KiB, IQR %.2f-%.2f) - target \"no slower than plain\": %s "
			   "(noise floor %.2f).\n", worst, worst_at / 1024, q1, q3,
			verdict_noslower(worst, q3), NOISE_FLOOR);
	}
	fprintf(f, "\n![throughput vs chunk size](%s)\n",
		w == 0 ? "bench-sweep.svg" : "bench-sweep-file.svg");
}

static void summary(FILE *f, const struct bench *b)
{
	fprintf(f, "| scenario | B/A | B/A IQR | B vs ideal | B/A, copier CPU | B vs ideal, copier CPU "
		   "| calls per chunk, B (ideal) | target | verdict |\n"
		   "|---|---:|---:|---:|---:|---:|---:|---|---|\n");
	for (int i = 0; i < b->nscen; i++) {
		struct scen *s = (struct scen *)&b->scen[i];
		struct vres *a = find_kind(s, V_OFF), *on = find_kind(s, V_ON), *id = find_kind(s, V_IDEAL);
		double ba, bi, tba, tbi, q1, q3;
		int has = target(s->id, &tba, &tbi);
		char tgt[64] = "-";
		if (*s->skipped) {
			fprintf(f, "| %s | - | - | - | - | - | - | - | %s |\n", s->title, s->skipped);
			continue;
		}
		ba = pair_ratio(a, on);
		bi = pair_ratio(id, on);
		pair_iqr(a, on, &q1, &q3);
		struct vres *ra = find_kind(s, V_RWOFF), *rb = find_kind(s, V_RWON);
		if (!has && ra && rb && !rb->failed) {
			/* stdio rows: within 10% of the read()/write() copier's B/A */
			has = 1;
			tba = STDIO_TARGET * pair_ratio(ra, rb);
			tbi = 0;
			fmt(tgt, sizeof(tgt), ">= %.2fx (0.9 of read/write's %.2fx)", tba,
			    pair_ratio(ra, rb));
		} else if (has && tbi > 0)
			fmt(tgt, sizeof(tgt), ">= %.2fx and >= %.1f of ideal", tba, tbi);
		else if (has)
			fmt(tgt, sizeof(tgt), ">= %.2fx", tba);
		char calls[48] = "-";
		if (on->calls > 0)
			fmt(calls, sizeof(calls), id && id->calls > 0 ? "%.2f (%.2f)" : "%.2f", on->calls,
			    id ? id->calls : 0);
		fprintf(f, "| %s | %.2fx | %.2f-%.2f | %.2f | %.2fx | %.2f | %s | %s | %s |\n", s->title,
			ba, q1, q3, bi, pair_ratio_of(a, on, 1), pair_ratio_of(id, on, 1), calls, tgt,
			!has ? "(reported only)"
			: on->failed ? "failed"
			: ba >= tba && bi >= tbi ? "met" : "**missed**");
	}
	for (int w = 0; w < b->nsweep; w++) {
		double worst = 0, q1, q3;
		size_t at = below_default(b, w, &worst);
		if (at) {
			struct scen *s = (struct scen *)&b->sweep_pts[w][0];
			while (s->chunk != at)
				s++;
			pair_iqr(find_kind(s, V_OFF), find_kind(s, V_ONDEF), &q1, &q3);
			fprintf(f, "| %s, chunks below the default ZCOPY_MIN_CHUNK (worst: %zu KiB) | "
				   "%.3fx | %.2f-%.2f | - | %.2fx | - | - | no slower than plain (>= %.2fx) | %s |\n",
				s->dest == D_PIPE ? "file -> pipe" : "file -> file", at / 1024, worst,
				q1, q3, pair_ratio_of(find_kind(s, V_OFF), find_kind(s, V_ONDEF), 1),
				NOISE_FLOOR, verdict_noslower(worst, q3));
		}
	}
}

int report_write(const struct bench *b, const char *md_path)
{
	char cpu[256], kern[256];
	long ncpu;
	FILE *f = fopen(md_path, "w");

	if (!f) {
		perror(md_path);
		return -1;
	}
	machine_facts(cpu, sizeof(cpu), kern, sizeof(kern), &ncpu);
	fprintf(f, "# zcopy benchmarks\n\n"
		   "Produced by `%s` (bench/harness.c); rerun it to regenerate this file "
		   "and the charts. The numbers below come from a shared 2-core machine on which "
		   "other builds and tests were running at the same time, so absolute times are "
		   "noisy: read the ratios, which are computed pair by pair from interleaved runs.\n\n",
		b->command);
	fprintf(f, "## Machine and parameters\n\n"
		   "- CPU: %s, %ld online cores\n- Kernel: %s\n"
		   "- Work directory file system: %s; ext4 scenarios: %s; XFS: %s\n"
		   "- Files: %llu MiB of pseudo-random bytes; chunk %zu KiB for the scenarios\n"
		   "- Runs: %d timed runs per program, interleaved, each round starting one program later than the one before (A B I, B I A, I A B, ...), "
		   "after one verification run and one warm-up run of each\n"
		   "- Started %s; the whole run took %.0f s; load average (1, 5, 15 min) %s at "
		   "the start and %s at the end (%ld cores: above %ld means other work competed "
		   "for the CPUs)\n\n",
		cpu, ncpu, kern, b->work_fs, b->ext4_note, b->xfs_note,
		(unsigned long long)(b->size >> 20), b->chunk / 1024, b->runs, b->started, b->elapsed,
		b->load_start, b->load_end, ncpu, ncpu);
	fprintf(f, "## How it is measured\n\n"
		   "- **A** is `build/bench/copy`, a plain read()/write() loop with a page-aligned "
		   "buffer, run with build/libzcopy.so preloaded and `ZCOPY_MODE=off`; **B** is the "
		   "same binary with `ZCOPY_MODE=on`; \"plain, no preload\" is the same binary with "
		   "nothing preloaded. **I** (`build/bench/ideal`) is the ideal program: same chunk "
		   "size, one splice (to a pipe), sendfile (to /dev/null or a socket) or "
		   "copy_file_range (file to file, sendfile after EXDEV) per chunk, explicit source "
		   "offsets. Peers are existing tools with their own zero-copy path: pv (splice "
		   "to a pipe), busybox cat (sendfile), coreutils cp and cat (copy_file_range, "
		   "which XFS turns into a reflink of the whole file in one call). The harness "
		   "runs private copies of the library and the programs, taken at its start.\n"
		   "- Time is wall-clock (CLOCK_MONOTONIC) from the fork of the copier until both "
		   "it and its consumer have exited; user+sys is the copier's, from wait4. The "
		   "consumer is started before the clock and is the same for every program.\n"
		   "- Warm page cache: the source is read once before the runs. Cold: "
		   "`posix_fadvise(POSIX_FADV_DONTNEED)` on the source (after sync) before each run.\n"
		   "- Ratios are pairwise: B/A is the median over runs i of A_i/B_i, B vs ideal the "
		   "median of I_i/B_i (1.00 = as fast as the ideal program).\n"
		   "- Every program's output is hashed once per scenario and compared with the "
		   "source; every timed run checks the byte count. bytes_zero_copy comes from "
		   "zcopy's own stats record (ZCOPY_STATS) of each B run.\n\n");
	fprintf(f, "## Summary (warm page cache unless noted)\n\n"
		   "Verdicts use the wall-clock ratio B/A (median of the pairs), as the targets do. "
		   "\"B/A IQR\" is the spread of the pairs; \"B/A, copier CPU\" is the same pairwise "
		   "ratio of the copier's user+sys time, which other load on the machine disturbs "
		   "much less than wall time (it leaves out the consumer and time spent waiting), "
		   "and \"B vs ideal, copier CPU\" the ideal program's user+sys over zcopy's "
		   "(1.00 = as cheap as the ideal program). \"Calls per chunk\" counts every system "
		   "call of the copier, start-up included, over one more untimed run under "
		   "`strace -f -c` (B, and the ideal program in brackets).\n\n");
	summary(f, b);
	fprintf(f, "\nThe programs that guard mode exists for (a perl sysread loop, python "
		   "os.read and shutil.copyfileobj copiers, pv -C, nginx with sendfile off), "
		   "each plain against zcopy at default settings, are measured by the same "
		   "`make bench` after these scenarios: [bench-guard.md](bench-guard.md).\n");
	fprintf(f, "\n## Scenarios\n");
	for (int i = 0; i < b->nscen; i++)
		report_scen_text(f, b, (struct scen *)&b->scen[i]);
	if (b->nsweep)
		fprintf(f, "\n## Chunk-size sweep and the default ZCOPY_MIN_CHUNK\n");
	for (int w = 0; w < b->nsweep; w++)
		sweep_table(f, b, w);
	{
		/* Hand-written analysis of missed targets, kept beside the harness so
		 * a rerun keeps it. */
		char path[MAXPATH + 32], line[1024];
		FILE *n;
		fmt(path, sizeof(path), "%s/../bench/analysis.md", b->docs);
		n = fopen(path, "r");
		if (n) {
			fprintf(f, "\n");
			while (fgets(line, sizeof(line), n))
				fputs(line, f);
			fclose(n);
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- the sweep chart ---------------------------------------------------- */

#define W 900
#define H 560
#define X0 90
#define X1 860
#define Y0 70
#define Y1 480

/* A round grid step giving at most 8 intervals up to v. */
static double tick_step(double v)
{
	static const double m[] = {1, 2, 2.5, 5};
	for (double p = 0.01;; p *= 10)
		for (int i = 0; i < 4; i++)
			if (v / (m[i] * p) <= 8)
				return m[i] * p;
}

int report_svg(const struct bench *b, int w, const char *path)
{
	static const struct { enum vkind k; const char *name, *color, *dash; } lines[] = {
		{V_OFF, "plain (A)", "#6b6b6b", ""},
		{V_ON, "zcopy (B)", "#1f5fbf", ""},
		{V_IDEAL, "ideal (I)", "#d9730d", "6,4"},
	};
	double y[3][NSWEEP], ymax = 0, step;
	int nt;
	size_t cross = sweep_crossover(b, w);
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return -1;
	}
	for (int l = 0; l < 3; l++)
		for (int i = 0; i < NSWEEP; i++) {
			struct vres *v = find_kind((struct scen *)&b->sweep_pts[w][i], lines[l].k);
			y[l][i] = v ? gibps(b, v) : 0;
			if (y[l][i] > ymax)
				ymax = y[l][i];
		}
	step = tick_step(ymax > 0 ? ymax : 1);
	nt = (int)(ymax / step) + 1;
	ymax = step * nt;
#define PX(i) (X0 + (double)(X1 - X0) * (i) / (NSWEEP - 1))
#define PY(v) (Y1 - (double)(Y1 - Y0) * (v) / ymax)
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
		   "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
		   "<text x=\"%d\" y=\"32\" text-anchor=\"middle\" font-size=\"17\">"
		   "zcopy chunk-size sweep: %s, %llu MiB, median of %d runs</text>\n",
		W, H, W, H, W, H, W / 2, w == 0 ? "file -> pipe" : "file -> file (ext4)",
		(unsigned long long)(b->size >> 20), b->runs);
	for (int t = 0; t <= nt; t++) { /* horizontal grid and y labels */
		double v = step * t;
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n"
			   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
			X0, PY(v), X1, PY(v), X0 - 8, PY(v) + 4, v);
	}
	for (int i = 0; i < NSWEEP; i++) {
		size_t c = (size_t)4096 << i;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e3e3\"/>\n"
			   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%zu%s</text>\n",
			PX(i), Y0, PX(i), Y1, PX(i), Y1 + 20, c >= 1 << 20 ? c >> 20 : c >> 10,
			c >= 1 << 20 ? "M" : "K");
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		   "stroke=\"#333333\"/>\n"
		   "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">chunk size (bytes per read, "
		   "log2 scale)</text>\n"
		   "<text transform=\"translate(28,%d) rotate(-90)\" text-anchor=\"middle\">"
		   "throughput (GiB/s)</text>\n",
		X0, Y0, X1 - X0, Y1 - Y0, (X0 + X1) / 2, Y1 + 48, (Y0 + Y1) / 2);
	for (int i = 0; cross && i < NSWEEP; i++)
		if (((size_t)4096 << i) == cross)
			fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#2a9d2a\" "
				   "stroke-dasharray=\"3,3\"/>\n<text x=\"%.1f\" y=\"%d\" fill=\"#2a9d2a\" "
				   "text-anchor=\"%s\">crossover %zu KiB</text>\n",
				PX(i), Y0, PX(i), Y1, PX(i) + (i > NSWEEP / 2 ? -5 : 5), Y1 - 8,
				i > NSWEEP / 2 ? "end" : "start", cross / 1024);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"130\" height=\"70\" fill=\"#ffffff\" "
		   "stroke=\"#bbbbbb\"/>\n", X0 + 8, Y0 + 8);
	for (int l = 0; l < 3; l++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\"%s%s%s points=\"",
			lines[l].color, *lines[l].dash ? " stroke-dasharray=\"" : "", lines[l].dash,
			*lines[l].dash ? "\"" : "");
		for (int i = 0; i < NSWEEP; i++)
			fprintf(f, "%s%.1f,%.1f", i ? " " : "", PX(i), PY(y[l][i]));
		fprintf(f, "\"/>\n");
		for (int i = 0; i < NSWEEP; i++)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", PX(i),
				PY(y[l][i]), lines[l].color);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			   "stroke-width=\"2.5\"%s%s%s/>\n<text x=\"%d\" y=\"%d\">%s</text>\n",
			X0 + 16, Y0 + 22 + 20 * l, X0 + 46, Y0 + 22 + 20 * l, lines[l].color,
			*lines[l].dash ? " stroke-dasharray=\"" : "", lines[l].dash,
			*lines[l].dash ? "\"" : "", X0 + 54, Y0 + 26 + 20 * l, lines[l].name);
	}
	fprintf(f, "</svg>\n");
#undef PX
#undef PY
	return fclose(f) == 0 ? 0 : -1;
}
