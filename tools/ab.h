/*
 * ab.h - what `zcopy ab` measures (ab.c), the files it handles around each
 * run (ab_files.c: stdin, the user's --out files, reference copies, --keep),
 * and what it reports (ab_report.c).
 */
#ifndef ZT_AB_H
#define ZT_AB_H

#include <limits.h>
#include <sys/types.h>

#include "tool.h"

#define AB_MAX_DIFFS 20
#define AB_MAX_OUTS  16

/* What a run left in one output: stdout or an --out file. */
struct ab_file {
	int exists;
	uint64_t bytes;
	char sha256[65];
};

struct ab_run {
	char side; /* 'A' (ZCOPY_MODE=off) or 'B' (on) */
	int warmup;
	char label[32]; /* "A3", "warm-up B1" */
	int status;     /* wait status */
	double wall, user, sys;
	long maxrss_kib;
	struct ab_file out;
	struct ab_file *files; /* one per --out */
};

struct ab_diff {
	char run[32];
	char what[128];
	char expected[128]; /* as the reference run (the first A run) had it */
	char got[128];
	long long first_diff; /* offset of the first differing byte, -1 if none/unknown */
	char kept[PATH_MAX];  /* where --keep put the differing file, or "" */
};

/* One --out FILE: whether it existed before ab (then, with --force, it was
 * set aside as backup and every run starts from a copy of it). */
struct ab_out {
	const char *path;
	int existed;
	char backup[PATH_MAX];
	char ref[PATH_MAX + 32]; /* the reference run's version, for first differences */
};

struct ab {
	/* options */
	long runs, warmup;
	int guard, json, force, ignore_failure, show_output;
	const char *stdin_opt; /* --stdin as given, or NULL */
	const char *keep_dir, *prepare, *cleanup;
	struct ab_out outs[AB_MAX_OUTS];
	size_t nouts;
	char **argv;
	/* the run environment */
	char dir[PATH_MAX];        /* private temporary directory */
	char stdin_path[PATH_MAX + 32]; /* what every run reads as stdin */
	char out_path[PATH_MAX + 16], err_path[PATH_MAX + 16], stats_path[PATH_MAX + 16];
	char ref_out[PATH_MAX + 16], ref_err[PATH_MAX + 16];
	char *user_preload;        /* LD_PRELOAD as the user had it (for --prepare) */
	int progress;              /* a progress line on stderr (a terminal) */
	/* results, every run in the order run: warm-up pairs, then measured pairs */
	struct ab_run *all;
	size_t nall;
	struct ab_diff diffs[AB_MAX_DIFFS];
	size_t ndiffs, ndiffs_total;
	int a_disagree;             /* A runs differ among themselves: CMD is not deterministic */
	int all_failed;             /* every run exited non-zero or died of a signal */
	struct zt_record zstats;    /* libzcopy.so's records of the measured B runs, summed */
	size_t nrecords;
};

/* ab_files.c */
/* Decides where every run's stdin comes from, capturing a pipe once; 0 or -1. */
int ab_stdin_setup(struct ab *ab);
/* Refuses (2) an existing --out without --force; with it, sets each aside. */
int ab_outs_setup(struct ab *ab);
/* Before a run: each --out as it was before ab (absent, or a copy); 0 or -1. */
int ab_outs_reset(struct ab *ab, const char *label);
/* After the reference run: copies of its outputs, for first differences. */
int ab_keep_reference(struct ab *ab);
/* Offset of the first byte where two files differ (-1 if equal or unreadable). */
long long ab_first_difference(const char *x, const char *y);
/* --keep: copies file into the keep directory as name; fills kept. */
void ab_keep(struct ab *ab, const char *file, const char *name, char *kept, size_t cap);
/* Copies a file (new file at to, mode 0600 unless mode != 0); 0 or -1. */
int ab_copy(const char *from, const char *to, mode_t mode);

/* ab_report.c */
void ab_print_table(struct ab *ab, FILE *f);
void ab_print_json(struct ab *ab, FILE *f);
/* The exit status the verdict stands for. */
int ab_exit_code(const struct ab *ab);

#endif
