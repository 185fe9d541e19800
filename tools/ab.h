/*
 * ab.h - what `zcopy ab` measures (ab.c) and reports (ab_report.c).
 */
#ifndef ZT_AB_H
#define ZT_AB_H

#include "tool.h"

#define AB_MAX_DIFFS 20

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
	char expected[128]; /* as the first A run had it */
	char got[128];
};

struct ab {
	/* options */
	long runs, warmup;
	int guard, json;
	const char *stdin_path;
	const char **outs;
	size_t nouts;
	char **argv;
	/* results, every run in the order run: warm-up pairs, then measured pairs */
	struct ab_run *all;
	size_t nall;
	struct ab_diff diffs[AB_MAX_DIFFS];
	size_t ndiffs, ndiffs_total;
	int a_disagree;             /* A runs differ among themselves: CMD is not deterministic */
	struct zt_record zstats;    /* libzcopy.so's records of the measured B runs, summed */
	size_t nrecords;
};

void ab_print_table(struct ab *ab, FILE *f);
void ab_print_json(struct ab *ab, FILE *f);

#endif
