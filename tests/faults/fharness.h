/*
 * fharness.h - what the fault-injection suites share: a fresh directory per
 * test, running a fault program with or without libzcopy (with a time
 * limit, so a hang fails the test instead of stalling the suite), reading
 * what a run printed and wrote, and the engine's stats record.
 *
 * A run is named by a tag ("plain", "zc", ...): its stdout and stderr go to
 * TAG.out and TAG.err in the test directory, which is also the program's
 * working directory, and a run with the shim writes its stats to TAG.stats.
 */
#ifndef FH_HARNESS_H
#define FH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define FH_CHUNK (128 * 1024)
#define FH_MIB (1024 * 1024)

/* From main(): locates build/libzcopy.so and the programs
 * (ZCOPY_TEST_LIB, ZCOPY_FAULT_PROGS, else build/ under the cwd) and makes
 * the base directory under $TMPDIR (or /tmp) that fh_global_cleanup()
 * removes. */
void fh_global_init(void);
void fh_global_cleanup(void);

/* Per test: a fresh directory (fh_dir) in the base, made the working
 * directory, and removed when the test's process exits. */
void fh_begin(void);
extern char fh_dir[4096];

/* Path of a fault program. */
const char *fh_prog(const char *name);

/* Runs argv[0] (a program name in the build directory) with argv, plain or
 * under libzcopy (ZCOPY_MODE=on, ZCOPY_MIN_CHUNK=65536, ZCOPY_STATS);
 * returns the wait status.  Fails the test if it runs longer than timeout
 * seconds (its whole process group is killed). */
int fh_run(const char *tag, int shim, const char *const *argv, int timeout);
#define FH_ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* "exit 3", "signal 13 (Broken pipe)". */
const char *fh_describe(int status);

/* Deterministic pseudo-random file. */
void fh_make_file(const char *rel, size_t size, uint64_t seed);
/* Whole file (relative to fh_dir) in malloc'd memory, NUL-terminated;
 * fails the test if it cannot be read. */
char *fh_slurp(const char *rel, size_t *len);
void fh_copy_file(const char *from, const char *to);
/* Fails unless the two files hold the same bytes. */
void fh_same_file(const char *a, const char *b);
/* stdout of a run. */
char *fh_out(const char *tag);
/* stdout of two runs, identical (with both shown on failure). */
void fh_same_out(const char *a, const char *b);
/* Value after "name " in the run's stderr (e.g. "signals"); -1 if absent. */
long long fh_err_count(const char *tag, const char *name);

/* Sum over every record of the run's stats file of the number at key
 * ("bytes_zero_copy", "splice" ...).  Fails the test if there is no record. */
long long fh_stat(const char *tag, const char *key);
/* The engine engaged in this run: something was deferred or redirected. */
void fh_expect_engaged(const char *tag);
/* Stronger, for destinations a kernel transfer can always serve: some bytes
 * went by copy_file_range, sendfile or splice. */
void fh_expect_redirected(const char *tag);

/* FNV-1a, as the fault programs compute it. */
uint64_t fh_fnv(uint64_t h, const void *p, size_t n);
#define FH_FNV_INIT 0xcbf29ce484222325ULL

#endif
