/*
 * harness.h - running programs with and without libzcopy, comparing what
 * they produced, and reading their stats records.  The one test library of
 * the Check suites in tests/integration, tests/corpus and tests/faults.
 *
 * Layout of one test: it_begin() makes a fresh directory for the test
 * (removed when the test's process exits); inputs live there; every run gets
 * its own subdirectory named by its tag ("none", "off", "observe", "on" for
 * the four standard runs) which is the program's working directory and holds
 * its stdout, stderr, the stats file and whatever it wrote.  So outputs are
 * named relative to the run and inputs as "../NAME".
 */
#ifndef ZT_HARNESS_H
#define ZT_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum it_mode { IT_NONE, IT_OFF, IT_OBSERVE, IT_ON };
extern const char *const it_mode_names[4];

/* Paths fixed at start-up (absolute): the library, the test programs. */
extern char it_lib[4096];
extern char it_progs[4096];

/* The suite of a test program, named for the summary line. */
Suite *it_suite(const char *name);

/* A suite's main(): finds the library and programs (ZCOPY_TEST_LIB,
 * ZCOPY_TEST_PROGS, else build/libzcopy.so and progs under the current
 * directory), makes the base temporary directory, runs every test of s
 * (each in its own process), removes the base again and prints one line:
 * "NAME: P passed, F failed, S skipped", each failure and each skip with
 * its reason before it.  Returns main's exit status. */
int it_main(Suite *s, const char *progs);

/* A test case of s whose tests start with setup (NULL: it_begin) and fail
 * after timeout seconds. */
TCase *it_tcase(Suite *s, const char *name, void (*setup)(void), int timeout);

/* Adds the tests of a NULL-ended list (IT_TESTS) to tc, in order. */
void it_add(TCase *tc, const TTest *const *tests);
#define IT_TESTS(...) ((const TTest *const[]){ __VA_ARGS__, NULL })
/* The rows of a table, for tcase_add_loop_test. */
#define IT_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Ends the calling test as skipped (not passed): what it needs is missing
 * here (why says what).  Counted by it_main. */
void it_skip(const char *why) __attribute__((noreturn));

/* Per test: a fresh directory (it_dir), made the working directory, and
 * removed when the test ends. */
void it_begin(void);
extern char it_dir[4096];

/* "dir/rel" into a static rotating buffer (a few may be live at once). */
const char *it_path(const char *rel);
/* Path of a test program: "<progs>/NAME". */
const char *it_prog(const char *name);

/* Deterministic pseudo-random file of size bytes. */
void it_make_file(const char *rel, size_t size, uint64_t seed);
off_t it_file_size(const char *rel);
/* Fails the test unless the two files (relative to it_dir) are identical. */
void it_same_file(const char *a, const char *b);
/* Reads a whole file (relative) into a malloc'd NUL-terminated string. */
char *it_slurp(const char *rel, size_t *len);

struct it_spec {
	const char *tag;                 /* run directory; NULL = mode name */
	enum it_mode mode;
	const char *const *argv;
	const char *const *env;          /* extra VAR=VALUE (all modes) */
	const char *in;                  /* stdin (relative to it_dir); NULL = /dev/null */
	const char *out;                 /* stdout path (absolute); NULL = <tag>/stdout */
	int out_fd;                      /* >= 0: stdout is this descriptor */
	const char *const *consumer;     /* stdout piped into this plain command,
					    whose stdout is <tag>/piped */
	int keep_env;                    /* 1: do not set ZCOPY_MODE/ZCOPY_STATS */
	int timeout;                     /* seconds; 0 = 60 */
	int in_dir;                      /* 1: working directory it_dir, not <tag> */
	int reap;                        /* 1: kill what the run left in its group */
};
struct it_result {
	int status;          /* wait status of the command */
	int consumer_status; /* wait status of the consumer, if any */
};

/* Runs one command as the spec says; a hang fails the test. */
struct it_result it_exec(const struct it_spec *s);

/* The standard comparison: runs argv without the shim, then with
 * ZCOPY_MODE=off, observe and on; fails unless every shim run has the same
 * exit status, stdout and stderr as the plain run and the same contents in
 * each file named in outputs (relative to the run directory; NULL-ended). */
void it_four(const char *const *argv, const char *const *env, const char *const *outputs);
/* Same for a spec (mode and tag are set for each run); also compares the
 * consumer's status.  Does not require the plain run to succeed. */
void it_four_spec(const struct it_spec *tmpl, const char *const *outputs);
/* Exit status of the plain run must be 0 (else comparisons mean nothing). */
void it_expect_plain_success(const char *what);
/* Describes a wait status ("exit 3", "signal 13 (Broken pipe)"). */
const char *it_describe(int status);
/* Wait status of an earlier run. */
int it_status(const char *tag);
/* Compares run tag against the plain run "none": status given, stdout,
 * stderr, outputs. */
void it_compare(const char *tag, const char *const *outputs);

/* Lines of text holding needle (and also, if not NULL). */
int it_count_lines(const char *text, const char *needle, const char *also);

/* Stats of run tag for processes whose exe ends with exe (NULL: every
 * process): the sum over all
 * of their records of the value at key ("bytes_zero_copy",
 * "transfers.splice", "fallbacks.dest_o_append" ...).  Fails the test if
 * there is no such record or the record lacks a top-level key; a missing
 * member of "transfers", "fallbacks" or "fallback_bytes" counts 0. */
long long it_stat(const char *tag, const char *exe, const char *key);
/* A string value (e.g. "mode") of exe's first record in run tag. */
const char *it_stat_str(const char *tag, const char *exe, const char *key);
/* Like it_stat, but a missing top-level key counts 0 (would_zero_copy_bytes
 * may be written only in observe mode). */
long long it_stat_opt(const char *tag, const char *exe, const char *key);
/* Number of records of exe in run tag. */
int it_stat_records(const char *tag, const char *exe);
/* The stats file text of run tag (for failure messages). */
const char *it_stats_text(const char *tag);

/* The checks every copy scenario makes for the off and observe runs: a
 * record with the right mode; nothing redirected; off counts no would-be. */
void it_expect_passive(const char *exe);

/* ---- one program run plain or under zcopy (the fault suites) ----
 * Runs the program argv[0] (a name in the programs directory) with argv in
 * it_dir, without the shim or with ZCOPY_MODE=on, both with
 * ZCOPY_MIN_CHUNK=65536; whatever it left running in its process group is
 * killed afterwards.  Returns the wait status; a run longer than timeout
 * seconds fails the test. */
int it_run(const char *tag, int shim, const char *const *argv, int timeout);
/* stdout of a run (malloc'd). */
char *it_out(const char *tag);
/* stdout of two runs, identical (with both shown on failure). */
void it_same_out(const char *a, const char *b);
/* Value after "name " in the run's stderr (e.g. "signals"); -1 if absent. */
long long it_err_count(const char *tag, const char *name);
/* Copies a file (both relative to it_dir). */
void it_copy_file(const char *from, const char *to);
/* The engine engaged in this run: something was deferred or redirected. */
void it_expect_engaged(const char *tag);
/* Stronger, for destinations a kernel transfer can always serve: some bytes
 * went by copy_file_range, sendfile or splice. */
void it_expect_redirected(const char *tag);

#define IT_ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define MiB (1024 * 1024)

#endif
