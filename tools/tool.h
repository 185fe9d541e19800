/*
 * tool.h - what the parts of the zcopy command share: the commands, the
 * child-process helpers (child.c), the stats-record reader (records.c) and the
 * hash (sha256.c).
 *
 * Exit codes of the command itself (documented in docs/zcopy.1):
 * 0 success / outputs agree, 1 internal error, 2 usage error, 3 `ab`: the
 * output with zcopy differs, 4 `ab`: CMD failed in every run, 5 `ab`: CMD's
 * output differs between runs without zcopy (not deterministic), 126 CMD not
 * executable, 127 CMD not found.  `run` and `observe` otherwise pass CMD's
 * own status through.
 */
#ifndef ZT_TOOL_H
#define ZT_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#define ZT_EXIT_OK       0
#define ZT_EXIT_INTERNAL 1
#define ZT_EXIT_USAGE    2
#define ZT_EXIT_DIFFER   3
#define ZT_EXIT_FAILED   4
#define ZT_EXIT_UNSTABLE 5
#define ZT_EXIT_NOEXEC   126
#define ZT_EXIT_NOTFOUND 127

/* ---- zcopy.c: shared set-up of the preloaded environment ---- */

/* Prints "zcopy: " + message (+ ": strerror(errno)" when err != 0) on stderr. */
void zt_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts the library first in LD_PRELOAD, keeping what is there; 0 or -1 (reported). */
int zt_preload(void);
/* Turns a user-given path into an absolute one (CMD may change directory). */
int zt_absolute(const char *path, char *out, size_t cap);
/* Exit code a shell would give for an exec that failed with err. */
int zt_exec_status(int err);
void zt_exec_report(const char *cmd, int err);
/* Prints "zcopy CMD: " + message and the usage on stderr; returns 2. */
int zt_usage_error(const char *cmd, const char *fmt, const char *arg);
/* Reports a getopt failure of subcommand cmd and the usage; returns 2. */
int zt_bad_option(const char *cmd, int c, char **argv);
/* Help of every command, on stdout; returns 0 or 1 (write error). */
int zt_help(void);

/* ---- envhelp.c: `zcopy help env`, from the library's settings table ---- */
void zt_print_env_help(void);

/* ---- checks.c: what is looked at before CMD starts ---- */

/* Says on stderr what is wrong with the ZCOPY_* variables (call it after the
 * command set its own), and leaves in the environment the values that would
 * be in force, so the library in CMD does not say it again.  0 or -1. */
int zt_check_env(void);
/* 0 if a stats file can be written at path, else the usage error (2),
 * reported as "zcopy CMD: OPT PATH: ...". */
int zt_check_target(const char *cmd, const char *opt, const char *path);
/* 1 and why (for a message) if CMD will run without zcopy whatever
 * LD_PRELOAD says: static, or setuid/setgid/capabilities; else 0. */
int zt_check_program(const char *name, char *why, size_t cap);
/* zt_check_program's finding as a warning on stderr. */
void zt_warn_program(const char *name);

int zt_cmd_run(int argc, char **argv);
int zt_cmd_observe(int argc, char **argv);
int zt_cmd_ab(int argc, char **argv);
int zt_cmd_stat(int argc, char **argv);
int zt_cmd_stats(int argc, char **argv);

/* ---- child.c: running CMD, signals, temporary files ---- */

/* Catches SIGINT/SIGTERM/SIGHUP/SIGQUIT: they are forwarded to the running
 * child when another process sent them (the terminal sends its own copy to
 * the child already), and remembered so the caller can clean up and die of
 * the same signal. */
void zt_signals_install(void);
/* The signal that asked zcopy to stop, or 0. */
int zt_stop_signal(void);
/* Removes the temporary files and dies of sig, as CMD did, so whoever waits
 * for zcopy sees that death (exit 128+sig should raising it not end zcopy). */
void zt_die_of(int sig) __attribute__((noreturn));

/* Temporary files and directories removed by zt_cleanup (and on zt_die_of). */
int zt_mktemp(const char *stem, char *path, size_t cap); /* returns an open fd or -1 */
int zt_mktempdir(const char *stem, char *path, size_t cap);
/* Creates (O_EXCL) and registers path, e.g. inside a temporary directory. */
int zt_mktemp_at(const char *path, int flags);
void zt_cleanup(void);

/* Registers a file of the user's that was renamed to backup: zt_cleanup
 * (and zt_die_of) renames it back to path. */
int zt_restore_later(const char *backup, const char *path);

/* Starts argv with stdin/stdout/stderr redirected (-1 keeps zcopy's own).  Returns the
 * pid, or -1: with *exec_err set to the errno of a failed exec (CMD not found
 * ...), or with *exec_err 0 when zcopy itself failed (reported). */
pid_t zt_spawn(char *const argv[], int in_fd, int out_fd, int err_fd, int *exec_err);
/* Waits for pid (retrying on EINTR); 0 or -1. */
int zt_wait(pid_t pid, int *status, struct rusage *ru);
/* Dies the way status says (exit code or signal) after cleaning up. */
void zt_pass_status(int status) __attribute__((noreturn));
/* "exited with status 3" / "killed by signal 15 (SIGTERM)" */
void zt_describe_status(int status, char *buf, size_t cap);
const char *zt_signame(int sig);

/* ---- records.c: the stats records libzcopy.so appends to ZCOPY_STATS ---- */

struct zt_reason {
	char name[48];
	uint64_t count;
	uint64_t bytes;
};

/* One entry of a record's "streams": a source feeding a destination. */
struct zt_stream {
	char src[512];
	char dst_kind[24];
	char dst[512]; /* "" for pipes and sockets */
	uint64_t bytes_zero_copy, bytes_copied, would_zero_copy_bytes;
	char primitive[24]; /* most used transfer, or "" */
	char fallback[48];  /* reason for most bytes through memory, or "" */
};

struct zt_record {
	long pid;
	char exe[512];
	char mode[16];
	uint64_t bytes_zero_copy, bytes_copied, phantom_reads, materialized_bytes;
	uint64_t would_zero_copy_bytes, would_guard_bytes, pipe_reads;
	uint64_t guard;
	uint64_t transfers[3]; /* copy_file_range, sendfile, splice */
	struct zt_reason *reasons;
	size_t nreasons;
	struct zt_stream *streams; /* the largest streams, largest first (not added up) */
	size_t nstreams;
	unsigned have;         /* top-level keys present: bit i for zt_record_keys[i] */
};

/* Every top-level key of the record, in the library's order. */
extern const char *const zt_record_keys[];

extern const char *const zt_transfer_keys[3];

/* Parses one line; 0, or -1 with *why set (the record is then left empty). */
int zt_record_parse(const char *line, size_t len, struct zt_record *r, const char **why,
		    size_t *where);
void zt_record_free(struct zt_record *r);
/* Adds src's counters and reasons into dst. */
int zt_record_add(struct zt_record *dst, const struct zt_record *src);
/* Sorts reasons by bytes, then count, largest first. */
void zt_record_sort_reasons(struct zt_record *r);
/* The value at key in r: a top-level key ("bytes_zero_copy", "guard", "pid")
 * or a member of a table ("transfers.splice", "fallbacks.warmup",
 * "fallback_bytes.warmup").  Returns 1 if the record holds the key, 0 if it
 * does not (*v is then 0: a table leaves out what never happened), -1 if the
 * key is not in the record's schema (include/zcopy.h). */
int zt_record_get(const struct zt_record *r, const char *key, uint64_t *v);
/* Human description of a fallback reason, or NULL if unknown to this build. */
const char *zt_reason_desc(const char *name);

/* Reads every record of a stats file.  Malformed lines are skipped with a
 * warning on stderr; returns the number of records read, or -1. */
struct zt_records {
	struct zt_record *v;
	size_t n;
};
long zt_records_load(const char *path, struct zt_records *out);
void zt_records_free(struct zt_records *rs);

/* "64.0 MiB", "10 B" */
void zt_human_bytes(uint64_t n, char *buf, size_t cap);
/* Writes s as a JSON string literal. */
void zt_json_string(FILE *f, const char *s);

/* ---- sha256.c ---- */
struct zt_sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t fill;
};
void zt_sha256_init(struct zt_sha256 *c);
void zt_sha256_update(struct zt_sha256 *c, const void *data, size_t n);
void zt_sha256_hex(struct zt_sha256 *c, char out[65]);

#endif
