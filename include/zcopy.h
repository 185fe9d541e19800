/*
 * zcopy.h - public names shared by libzcopy.so, the zcopy command and tests.
 *
 * zcopy is used by preloading build/libzcopy.so; nothing here needs to be
 * linked.  This header fixes the names other tools rely on: the version, the
 * environment variables, and the keys of the per-process stats record.
 */
#ifndef ZCOPY_H
#define ZCOPY_H

#define ZCOPY_VERSION "0.1.0"

/* Environment variables (see README.md, "Environment"). */
#define ZCOPY_ENV_MODE      "ZCOPY_MODE"      /* off | observe | on (default on) */
#define ZCOPY_ENV_GUARD     "ZCOPY_GUARD"     /* 0 | 1 (default 0) */
#define ZCOPY_ENV_STATS     "ZCOPY_STATS"     /* PATH (%p = pid) | stderr */
#define ZCOPY_ENV_LOG       "ZCOPY_LOG"       /* 0..3 (default 0) */
#define ZCOPY_ENV_LOG_FILE  "ZCOPY_LOG_FILE"  /* PATH (%p = pid) */
#define ZCOPY_ENV_MIN_CHUNK "ZCOPY_MIN_CHUNK" /* bytes, optional k/K/m/M suffix */
#define ZCOPY_ENV_ONLY      "ZCOPY_ONLY"      /* programs to apply to (names, globs) */
#define ZCOPY_ENV_SKIP      "ZCOPY_SKIP"      /* programs to stay out of (names, globs) */

/* Keys of the JSON stats object written at exit (one line per process). */
#define ZCOPY_STAT_PID              "pid"
#define ZCOPY_STAT_EXE              "exe"
#define ZCOPY_STAT_MODE             "mode"
#define ZCOPY_STAT_BYTES_ZERO_COPY  "bytes_zero_copy"
#define ZCOPY_STAT_BYTES_COPIED     "bytes_copied"
#define ZCOPY_STAT_PHANTOM_READS    "phantom_reads"
#define ZCOPY_STAT_MATERIALIZED     "materialized_bytes"
#define ZCOPY_STAT_TRANSFERS        "transfers"
#define ZCOPY_STAT_FALLBACKS        "fallbacks"
#define ZCOPY_STAT_WOULD_ZERO_COPY  "would_zero_copy_bytes"

#endif
