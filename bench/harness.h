/*
 * harness.h - what the benchmark harness's parts share: the scenario and
 * variant descriptions, the per-run results, and the functions of run.c
 * (running one child and measuring it), setup.c (files, file systems,
 * machine facts) and report.c (tables, docs/benchmarks.md, the SVG chart).
 */
#ifndef ZC_BENCH_HARNESS_H
#define ZC_BENCH_HARNESS_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#define MAXV 8      /* programs compared in one scenario */
#define MAXRUNS 64  /* timed runs per program */
#define MAXSCEN 20
#define NSWEEP 9    /* 4 KiB .. 1 MiB */
#define MAXPATH 512

/* Where the copier's output goes. */
enum dest { D_PIPE, D_NULL, D_TCP, D_FILE };

/* Which program a column is. */
enum vkind {
	V_RAW,    /* copy, nothing preloaded */
	V_OFF,    /* copy, shim preloaded with ZCOPY_MODE=off: the A side */
	V_ON,     /* copy, shim preloaded with ZCOPY_MODE=on: the B side */
	V_ONDEF,  /* as V_ON but never with a ZCOPY_MIN_CHUNK override (sweep) */
	V_IDEAL,  /* ideal: the kernel primitive called directly */
	V_PEER,   /* an existing tool with its own zero-copy path */
	V_RWOFF,  /* stdio scenarios: copy's read()/write() loop, ZCOPY_MODE=off */
	V_RWON    /* stdio scenarios: copy's read()/write() loop, ZCOPY_MODE=on */
};

/* An existing tool; "@src" and "@dst" in argv are replaced per run. */
struct peer {
	const char *label;
	const char *prog;          /* looked up in PATH */
	const char *args[6];       /* argv[1..], NULL-terminated */
	int to_stdout;             /* file scenarios: output by redirecting stdout */
	unsigned dests;            /* bit mask of enum dest where it applies */
};

/* struct bench holds no pointers to its own data (peer is only used while
 * running), so a finished run can be saved and reported again (--report). */
struct vres {
	char label[64];
	enum vkind kind;
	const struct peer *peer;
	char path[MAXPATH];        /* resolved program */
	int nruns;
	double wall[MAXRUNS];      /* seconds, fork of the copier .. consumer done */
	double cpu[MAXRUNS];       /* copier user+sys seconds (wait4 rusage) */
	int failed;
	char failure[200];
	int verified;              /* 1 identical, -1 differs, 0 not comparable */
	int have_zc;
	uint64_t zc_min;           /* bytes_zero_copy: smallest over the B runs */
	double calls;              /* system calls per chunk, start-up included, over
				      one more run under strace -f -c; 0: not counted */
	char fallbacks[240];       /* the "fallbacks" object of the last B run */
};

struct scen {
	char id[16];
	char title[160];
	enum dest dest;
	int cold;                  /* source dropped from the page cache before each run */
	int sweep;                 /* a sweep point: ZCOPY_MIN_CHUNK=4096 for A and B */
	int sock_src;              /* source: a loopback TCP connection on the copier's
				      stdin, fed with src by the ideal program (sendfile) */
	size_t chunk;
	char dir[MAXPATH];         /* holds src and dst */
	char src[MAXPATH];
	char dst[MAXPATH];
	char fs[32];               /* file system of dir */
	char skipped[240];         /* non-empty: not run, and why */
	int nv;
	struct vres v[MAXV];
};

struct bench {
	int quick;
	int runs;
	uint64_t size;
	size_t chunk;
	int cold, sweep, sweep_file, peers;
	unsigned timeout;          /* seconds per run */
	char lib[MAXPATH], bin[MAXPATH], work[MAXPATH], docs[MAXPATH];
	char out[MAXPATH];         /* the build directory given as --bin */
	char only[16];             /* BENCH_ONLY: run the scenarios whose id starts so */
	char command[512];         /* "BENCH_RUNS=5 make bench": what produced the run */
	char src[MAXPATH];         /* source file in the work dir */
	uint64_t src_hash;
	char work_fs[32];
	char ext4_dir[MAXPATH];    /* ext4 for file->file (work dir or an image) */
	char ext4_src[MAXPATH];    /* the source on that ext4 */
	char ext4_note[240];
	char xfs_dir[MAXPATH];     /* mounted XFS with reflink, "" if none */
	char xfs_note[240];
	char xfs_src[MAXPATH];
	char strace[MAXPATH];      /* strace, which counts system calls; "" if none */
	int nscen;
	struct scen scen[MAXSCEN];
	int nsweep;                /* 0, 1 (pipe) or 2 (pipe and file) */
	struct scen sweep_pts[2][NSWEEP];
	double elapsed;
	char started[64];
	char load_start[64], load_end[64]; /* /proc/loadavg: how busy the machine was */
};

/* snprintf that never warns about truncation: main() keeps every base path
 * under MAXPATH / 2, so the paths built from them always fit. */
__attribute__((format(printf, 3, 4))) int fmt(char *out, size_t cap, const char *f, ...);

/* run.c */
void run_init(struct bench *b);
/* Runs one program of one scenario once; verify: hash the output and compare
 * it with the source (untimed).  Records the time unless timed == 0.
 * Returns 0, or -1 (and sets v->failed) when the run failed or differed. */
int run_one(struct bench *b, struct scen *s, struct vres *v, int verify, int timed);
/* One more run of v under strace -f -c (b->strace): sets v->calls, the
 * copier's system calls per chunk, start-up included.  Untimed; a run that
 * fails there leaves v as it was.  Returns 0 or -1. */
int run_count(struct bench *b, struct scen *s, struct vres *v);
void run_done(void);

/* setup.c */
int setup_snapshot(struct bench *b);
int setup_source(struct bench *b);
void setup_filesystems(struct bench *b);
void setup_cleanup(struct bench *b);
const char *fs_name(const char *path);
/* The type /proc/self/mounts gives for the mount holding path. */
void mount_type(const char *path, char *out, size_t cap);
int find_in_path(const char *prog, char *out, size_t cap);
int hash_file(const char *path, uint64_t *size, uint64_t *hash);
void read_loadavg(char *out, size_t cap);
void machine_facts(char *cpu, size_t ccap, char *kern, size_t kcap, long *ncpu);

/* report.c */
double median(const double *x, int n);
/* Pairwise median of num_i / den_i over the runs both have; 0 if none. */
double pair_ratio(const struct vres *num, const struct vres *den);
struct vres *find_kind(struct scen *s, enum vkind k);
void report_scen_text(FILE *f, const struct bench *b, struct scen *s);
size_t sweep_crossover(const struct bench *b, int which);
int report_write(const struct bench *b, const char *md_path);
int report_svg(const struct bench *b, int which, const char *path);

#endif
