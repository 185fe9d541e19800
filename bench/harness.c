/*
 * harness.c - the benchmark driver behind `make bench` and `make bench-quick`.
 *
 * For every scenario (file->pipe, file->/dev/null, file->TCP loopback,
 * file->file on ext4, file->file on reflink XFS, and cold-cache variants) it
 * runs the same copy loop plain (no preload), with the shim preloaded but
 * off (A), with the shim on (B), the ideal program (I) and the peers that
 * apply, interleaved after one verification run (outputs hashed and
 * compared with the source) and one warm-up run of each.  Each round starts
 * one program later than the round before (A B I, B I A, I A B, ...): in a
 * fixed order a program always runs right after the same other one and
 * inherits what it leaves behind (dirty pages, a sibling core still busy);
 * bench/overhead.c's fixed order put one variant 20% above the others where
 * rotated rounds show them level.  Then a
 * chunk-size sweep finds the crossover that picks ZCOPY_MIN_CHUNK, and
 * report.c writes docs/benchmarks.md and the SVG chart.  After each
 * scenario's timed runs, B and the ideal program run once more each under
 * `strace -f -c`, untimed: their system calls per chunk, start-up included,
 * go next to the ratios.
 *
 * Quick mode (bench-quick, part of `make test`) runs every scenario and
 * sweep point once on small files, checks the outputs and makes no timing
 * claims; it exits non-zero when any output differs.
 *
 * usage: harness [--quick] --lib LIB --bin DIR --docs DIR
 *        harness --report SAVED --docs DIR   (rewrite the docs from a saved run)
 * env:   BENCH_SIZE (512M), BENCH_RUNS (7), BENCH_CHUNK (128K), BENCH_DIR
 *        (parent of the work directory, default /tmp), BENCH_COLD, BENCH_SWEEP,
 *        BENCH_SWEEP_FILE, BENCH_PEERS (1 = on, 0 = off), BENCH_ONLY (an id
 *        prefix such as "sock-": only those scenarios run, no sweep, and the
 *        report goes to benchmarks-only.md in the --bin directory, never to
 *        the docs), BENCH_CALLS (1; 0: no strace runs)
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1; /* finish the run in progress, then clean up */
}

/* Peers with their own zero-copy path; the harness checks which exist. */
static const struct peer peers[] = {
	{"pv -q (splice)", "pv", {"-q", "@src", NULL}, 0, 1u << D_PIPE},
	{"busybox cat (sendfile)", "busybox", {"cat", "@src", NULL}, 1,
	 1u << D_PIPE | 1u << D_NULL | 1u << D_TCP | 1u << D_FILE},
	{"cp (copy_file_range, reflink)", "cp", {"@src", "@dst", NULL}, 0, 1u << D_FILE},
	{"cat, coreutils (copy_file_range)", "cat", {"@src", NULL}, 1, 1u << D_FILE},
};

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : def;
}

static void add_variant(struct bench *b, struct scen *s, const char *label, enum vkind k,
			const struct peer *p)
{
	struct vres *v = &s->v[s->nv];
	memset(v, 0, sizeof(*v));
	fmt(v->label, sizeof(v->label), "%s", label);
	v->kind = k;
	v->peer = p;
	if (p) {
		if (find_in_path(p->prog, v->path, sizeof(v->path)) < 0)
			return; /* not installed: no column */
	} else {
		fmt(v->path, sizeof(v->path), "%s/%s", b->bin, k == V_IDEAL ? "ideal" : "copy");
	}
	s->nv++;
}

static struct scen *add_scen(struct bench *b, const char *id, const char *title, enum dest d,
			     const char *dir, const char *src, int cold)
{
	struct scen *s = &b->scen[b->nscen++];
	memset(s, 0, sizeof(*s));
	fmt(s->id, sizeof(s->id), "%s", id);
	fmt(s->title, sizeof(s->title), "%s%s", title, cold ? ", cold page cache" : "");
	s->dest = d;
	s->cold = cold;
	s->chunk = b->chunk;
	fmt(s->dir, sizeof(s->dir), "%s", dir);
	fmt(s->src, sizeof(s->src), "%s", src);
	fmt(s->dst, sizeof(s->dst), "%s/out.dat", dir);
	mount_type(dir, s->fs, sizeof(s->fs));
	add_variant(b, s, "plain, no preload", V_RAW, NULL);
	add_variant(b, s, "A: plain (zcopy off)", V_OFF, NULL);
	add_variant(b, s, "B: zcopy on", V_ON, NULL);
	add_variant(b, s, "I: ideal", V_IDEAL, NULL);
	for (size_t i = 0; b->peers && i < sizeof(peers) / sizeof(peers[0]); i++)
		if (peers[i].dests & (1u << d) && s->nv < MAXV)
			add_variant(b, s, peers[i].label, V_PEER, &peers[i]);
	return s;
}

static void plan(struct bench *b)
{
	static const char *sweep_ids[2] = {"sweep-pipe", "sweep-file"};
	struct scen *s;

	add_scen(b, "pipe", "file -> pipe", D_PIPE, b->work, b->src, 0);
	add_scen(b, "devnull", "file -> /dev/null", D_NULL, b->work, b->src, 0);
	add_scen(b, "tcp", "file -> TCP loopback", D_TCP, b->work, b->src, 0);
	add_scen(b, "ext4", "file -> file, ext4", D_FILE, b->ext4_dir, b->ext4_src, 0);
	s = add_scen(b, "xfs", "file -> file, XFS with reflink", D_FILE,
		     *b->xfs_dir ? b->xfs_dir : b->work, b->xfs_src, 0);
	if (!*b->xfs_dir)
		fmt(s->skipped, sizeof(s->skipped), "%s", b->xfs_note);
	/* The stdio copier (fread/fwrite, glibc's default buffers), by request
	 * size, against the same ideal program. */
	static const size_t stdio_chunks[] = { 64 << 10, 128 << 10, 1 << 20 };
	for (size_t i = 0; i < sizeof(stdio_chunks) / sizeof(stdio_chunks[0]); i++) {
		char id[16], title[80];
		size_t c = stdio_chunks[i];
		for (int f = 0; f < 2; f++) {
			fmt(id, sizeof(id), "stdio-%s-%zu%s", f ? "ext4" : "pipe",
			    c >= (1 << 20) ? c >> 20 : c >> 10, c >= (1 << 20) ? "m" : "k");
			fmt(title, sizeof(title), "fread/fwrite, file -> %s, requests of %zu KiB",
			    f ? "file, ext4" : "pipe", c >> 10);
			s = add_scen(b, id, title, f ? D_FILE : D_PIPE, f ? b->ext4_dir : b->work,
				     f ? b->ext4_src : b->src, 0);
			s->chunk = c;
			for (int k = 0; k < s->nv; k++)
				if (s->v[k].kind == V_PEER)
					s->nv = k; /* peers copy with their own loops */
			/* The target is relative to the read()/write() copier at
			 * the same request size, so it runs in the same rounds. */
			add_variant(b, s, "R-A: read/write copier, zcopy off", V_RWOFF, NULL);
			add_variant(b, s, "R-B: read/write copier, zcopy on", V_RWON, NULL);
		}
	}
	/* Stream sockets as sources: a receiver storing what arrives on a
	 * loopback TCP connection (socket -> file) and a relay forwarding it to
	 * another (socket -> socket), by read size. */
	static const size_t sock_chunks[] = { 128 << 10, 1 << 20 };
	for (size_t i = 0; i < sizeof(sock_chunks) / sizeof(sock_chunks[0]); i++) {
		char id[16], title[96];
		size_t c = sock_chunks[i];
		for (int f = 0; f < 2; f++) {
			fmt(id, sizeof(id), "sock-%s-%zu%s", f ? "ext4" : "tcp",
			    c >= (1 << 20) ? c >> 20 : c >> 10, c >= (1 << 20) ? "m" : "k");
			fmt(title, sizeof(title), "TCP loopback -> %s, reads of %zu KiB",
			    f ? "file, ext4" : "TCP loopback", c >> 10);
			s = add_scen(b, id, title, f ? D_FILE : D_TCP, f ? b->ext4_dir : b->work,
				     f ? b->ext4_src : b->src, 0);
			s->chunk = c;
			s->sock_src = 1;
			for (int k = 0; k < s->nv; k++)
				if (s->v[k].kind == V_PEER)
					s->nv = k; /* the peers read files, not sockets */
		}
	}
	if (b->cold && !b->quick) {
		add_scen(b, "pipe-cold", "file -> pipe", D_PIPE, b->work, b->src, 1);
		add_scen(b, "devnull-cold", "file -> /dev/null", D_NULL, b->work, b->src, 1);
		add_scen(b, "ext4-cold", "file -> file, ext4", D_FILE, b->ext4_dir, b->ext4_src, 1);
	}

	b->nsweep = b->sweep ? (b->sweep_file ? 2 : 1) : 0;
	for (int w = 0; w < b->nsweep; w++)
		for (int i = 0; i < NSWEEP; i++) {
			s = &b->sweep_pts[w][i];
			memset(s, 0, sizeof(*s));
			fmt(s->id, sizeof(s->id), "%s", sweep_ids[w]);
			s->dest = w == 0 ? D_PIPE : D_FILE;
			s->sweep = 1;
			s->chunk = (size_t)4096 << i;
			fmt(s->title, sizeof(s->title), "%s, chunk %zu KiB",
				 w == 0 ? "file -> pipe" : "file -> file", s->chunk / 1024);
			fmt(s->dir, sizeof(s->dir), "%s", w == 0 ? b->work : b->ext4_dir);
			fmt(s->src, sizeof(s->src), "%s", w == 0 ? b->src : b->ext4_src);
			fmt(s->dst, sizeof(s->dst), "%s/out.dat", s->dir);
			mount_type(s->dir, s->fs, sizeof(s->fs));
			add_variant(b, s, "A: plain (zcopy off)", V_OFF, NULL);
			add_variant(b, s, "B: zcopy on, ZCOPY_MIN_CHUNK=4096", V_ON, NULL);
			add_variant(b, s, "B: zcopy on, default ZCOPY_MIN_CHUNK", V_ONDEF, NULL);
			add_variant(b, s, "I: ideal", V_IDEAL, NULL);
		}
}

/* A failure of our own programs is fatal in quick mode; a peer's is not. */
static int count_failures(const struct scen *s, int *peer_fail)
{
	int bad = 0;
	for (int i = 0; i < s->nv; i++)
		if (s->v[i].failed) {
			if (s->v[i].kind == V_PEER)
				++*peer_fail;
			else
				bad++;
		}
	return bad;
}

static void run_scen(struct bench *b, struct scen *s)
{
	if (*s->skipped || stopping)
		return;
	if (*b->only && strncmp(s->id, b->only, strlen(b->only)) != 0) {
		fmt(s->skipped, sizeof(s->skipped), "not run (BENCH_ONLY=%s)", b->only);
		return;
	}
	/* Verification: every program once, outputs hashed; untimed. */
	for (int i = 0; i < s->nv && !stopping; i++)
		run_one(b, s, &s->v[i], 1, 0);
	if (b->quick)
		return;
	for (int i = 0; i < s->nv && !stopping; i++) /* warm-up */
		run_one(b, s, &s->v[i], 0, 0);
	for (int r = 0; r < b->runs && !stopping; r++) /* rotated: see the top */
		for (int k = 0; k < s->nv && !stopping; k++)
			run_one(b, s, &s->v[(k + r) % s->nv], 0, 1);
	/* zcopy's calls per chunk next to the ideal program's (not per sweep
	 * point: the sweep's chunk sizes are about speed alone). */
	for (int i = 0; i < s->nv && !stopping && !s->sweep; i++)
		if (s->v[i].kind == V_ON || s->v[i].kind == V_IDEAL)
			run_count(b, s, &s->v[i]);
}

static void quick_line(const struct bench *b, const struct scen *s)
{
	int failed = 0;

	printf("bench-quick: %-40s", s->title);
	if (*s->skipped) {
		printf(" %s\n", s->skipped);
		return;
	}
	for (int i = 0; i < s->nv; i++) {
		const struct vres *v = &s->v[i];
		if (v->failed)
			printf("\n    FAILED %s: %s", v->label, v->failure);
		failed += v->failed;
	}
	if (failed) {
		printf("\n");
		return;
	}
	for (int i = 0; i < s->nv; i++)
		if (s->v[i].have_zc) {
			printf(" zcopy moved %llu of %llu bytes in the kernel;",
			       (unsigned long long)s->v[i].zc_min, (unsigned long long)b->size);
			break;
		}
	printf(" %s\n", s->dest == D_NULL ? "exit status checked (no output to compare)"
					  : "outputs identical to the source");
}

static void sweep_line(const struct bench *b, struct scen *s)
{
	struct vres *a = find_kind(s, V_OFF), *on = find_kind(s, V_ON);
	struct vres *def = find_kind(s, V_ONDEF), *id = find_kind(s, V_IDEAL);

	(void)b;
	printf("sweep %-34s B/A %.2fx  B default/A %.2fx  B vs ideal %.2f\n", s->title,
	       pair_ratio(a, on), pair_ratio(a, def), pair_ratio(id, on));
	for (int i = 0; i < s->nv; i++)
		if (s->v[i].failed)
			printf("    FAILED %s: %s\n", s->v[i].label, s->v[i].failure);
}

/* Writes docs/benchmarks.md and the charts from b, or from the run saved at
 * path (its own docs directory is replaced by the one given now). */
static int write_docs(struct bench *b, const char *path)
{
	char md[MAXPATH + 32], svg[MAXPATH + 32], docs[MAXPATH];

	if (path) {
		FILE *f = fopen(path, "rb");
		fmt(docs, sizeof(docs), "%s", b->docs);
		if (!f || fread(b, sizeof(*b), 1, f) != 1) {
			fprintf(stderr, "bench: cannot read the saved run %s\n", path);
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
		fmt(b->docs, sizeof(b->docs), "%s", docs);
		for (int i = 0; i < b->nscen; i++)
			for (int k = 0; k < b->scen[i].nv; k++)
				b->scen[i].v[k].peer = NULL; /* pointers of the process that ran it */
	}
	fmt(md, sizeof(md), "%s/%s", b->docs, *b->only ? "benchmarks-only.md" : "benchmarks.md");
	if (report_write(b, md) < 0)
		return 1;
	for (int w = 0; w < b->nsweep; w++) {
		fmt(svg, sizeof(svg), "%s/%s.svg", b->docs, w == 0 ? "bench-sweep" : "bench-sweep-file");
		if (report_svg(b, w, svg) < 0)
			return 1;
	}
	printf("bench: wrote %s (run of %s, %.0f s)\n", md, b->started, b->elapsed);
	return 0;
}

/* The command line that reproduces this run: its BENCH_* settings, then make. */
static void record_command(struct bench *b)
{
	extern char **environ;
	size_t len = 0;

	for (char **e = environ; *e; e++)
		if (strncmp(*e, "BENCH_", 6) == 0 && len + strlen(*e) + 16 < sizeof(b->command))
			len += (size_t)fmt(b->command + len, sizeof(b->command) - len, "%s ", *e);
	fmt(b->command + len, sizeof(b->command) - len, "make bench");
}

static int setup_dirs(struct bench *b, const char *parent)
{
	fmt(b->work, sizeof(b->work), "%s/zcopy-bench.XXXXXX", parent);
	mkdir(parent, 0755);
	if (!mkdtemp(b->work)) {
		fprintf(stderr, "bench: cannot create a work directory in %s: %s\n", parent,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	char saved[MAXPATH] = "";
	const char *parent, *sz;
	int bad = 0, peer_fail = 0;
	time_t t = time(NULL);
	struct timespec t0, t1;

	if (!b)
		return 1;
	for (int i = 1; i < argc; i++) {
		char *dst = NULL;
		if (strcmp(argv[i], "--quick") == 0)
			b->quick = 1;
		else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
			dst = b->lib;
		else if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc)
			dst = b->bin;
		else if (strcmp(argv[i], "--docs") == 0 && i + 1 < argc)
			dst = b->docs;
		else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
			dst = saved;
		else {
			fprintf(stderr, "usage: harness [--quick] --lib LIB --bin DIR --docs DIR\n"
					"       harness --report SAVED --docs DIR\n");
			return 2;
		}
		if (dst && strlen(argv[i + 1]) >= MAXPATH / 2) {
			fprintf(stderr, "bench: %s: path too long\n", argv[i + 1]);
			return 2;
		}
		if (dst)
			fmt(dst, MAXPATH, "%s", argv[++i]);
	}
	if (*saved && *b->docs)
		return write_docs(b, saved);
	if (!*b->lib || !*b->bin || !*b->docs || access(b->lib, R_OK) < 0) {
		fprintf(stderr, "bench: --lib %s is missing (build it with make first)\n", b->lib);
		return 2;
	}
	sz = getenv("BENCH_SIZE");
	b->size = sz && *sz ? parse_size(sz) : b->quick ? 8ULL << 20 : 512ULL << 20;
	b->chunk = getenv("BENCH_CHUNK") ? (size_t)parse_size(getenv("BENCH_CHUNK")) : 128 * 1024;
	b->runs = env_int("BENCH_RUNS", 7);
	b->cold = env_int("BENCH_COLD", 1);
	b->sweep = env_int("BENCH_SWEEP", 1);
	b->sweep_file = env_int("BENCH_SWEEP_FILE", 1);
	b->peers = env_int("BENCH_PEERS", 1);
	if (getenv("BENCH_ONLY") && *getenv("BENCH_ONLY")) {
		/* A partial run must not replace the full report in the docs. */
		fmt(b->only, sizeof(b->only), "%.15s", getenv("BENCH_ONLY"));
		b->sweep = 0;
		fmt(b->docs, sizeof(b->docs), "%s", b->bin);
	}
	b->timeout = b->quick ? 30 : 300;
	/* System calls per chunk are counted with strace where it is
	 * installed (tests/deps.sh installs it); BENCH_CALLS=0 skips it. */
	if (b->quick || !env_int("BENCH_CALLS", 1) ||
	    find_in_path("strace", b->strace, sizeof(b->strace)) < 0)
		b->strace[0] = 0;
	if (!b->size || !b->chunk || b->runs < 1 || b->runs > MAXRUNS) {
		fprintf(stderr, "bench: bad BENCH_SIZE, BENCH_CHUNK or BENCH_RUNS (1..%d)\n", MAXRUNS);
		return 2;
	}
	strftime(b->started, sizeof(b->started), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	record_command(b);
	/* Data and mounts live under /tmp (or BENCH_DIR), not in build/, so a
	 * concurrent `make clean` cannot pull them away mid-run. */
	parent = getenv("BENCH_DIR") && *getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
	if (strlen(parent) >= MAXPATH / 2 - 16) {
		fprintf(stderr, "bench: BENCH_DIR is too long\n");
		return 2;
	}
	if (setup_dirs(b, parent) < 0)
		return 1;
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	signal(SIGHUP, on_stop);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	read_loadavg(b->load_start, sizeof(b->load_start));

	fmt(b->out, sizeof(b->out), "%s", b->bin);
	if (setup_snapshot(b) < 0) {
		fprintf(stderr, "bench: cannot copy %s and the programs of %s into %s\n", b->lib,
			b->bin, b->work);
		setup_cleanup(b);
		return 1;
	}
	if (setup_source(b) < 0) {
		fprintf(stderr, "bench: cannot write the %llu-byte source in %s: %s\n",
			(unsigned long long)b->size, b->work, strerror(errno));
		setup_cleanup(b);
		return 1;
	}
	setup_filesystems(b);
	run_init(b);
	plan(b);
	if (!b->quick)
		printf("bench: %llu MiB files, chunk %zu KiB, %d interleaved runs; work dir %s (%s)\n",
		       (unsigned long long)(b->size >> 20), b->chunk / 1024, b->runs, b->work,
		       b->work_fs);

	for (int i = 0; i < b->nscen; i++) {
		struct scen *s = &b->scen[i];
		run_scen(b, s);
		bad += count_failures(s, &peer_fail);
		if (b->quick)
			quick_line(b, s);
		else
			report_scen_text(stdout, b, s);
		fflush(stdout);
	}
	for (int w = 0; w < b->nsweep; w++)
		for (int i = 0; i < NSWEEP; i++) {
			struct scen *s = &b->sweep_pts[w][i];
			run_scen(b, s);
			bad += count_failures(s, &peer_fail);
			if (b->quick)
				quick_line(b, s);
			else
				sweep_line(b, s);
			fflush(stdout);
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	read_loadavg(b->load_end, sizeof(b->load_end));
	b->elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	run_done();
	setup_cleanup(b);

	if (stopping) {
		fprintf(stderr, "bench: interrupted; nothing written\n");
		return 130;
	}
	if (b->quick) {
		if (peer_fail)
			printf("bench-quick: %d peer run(s) failed (not zcopy's programs; see above)\n",
			       peer_fail);
		if (bad) {
			printf("bench-quick: FAILED: %d program run(s) failed or gave different bytes\n",
			       bad);
			return 1;
		}
		printf("bench-quick: all outputs identical\n");
		return 0;
	}
	if (!*b->only) {
		/* Keep the measurements, so the docs can be rewritten without a rerun. */
		char path[MAXPATH + 32];
		FILE *f;
		fmt(path, sizeof(path), "%s/last-run.bin", b->out);
		f = fopen(path, "wb");
		if (!f || fwrite(b, sizeof(*b), 1, f) != 1 || fclose(f) != 0)
			fprintf(stderr, "bench: cannot save %s (docs are written anyway)\n", path);
	}
	if (write_docs(b, NULL) != 0)
		return 1;
	return bad ? 1 : 0;
}
