/*
 * zcopy.h - public names shared by libzcopy.so, the zcopy command and tests.
 *
 * zcopy is used by preloading build/libzcopy.so; nothing here needs to be
 * linked.  This header fixes the names other tools rely on: the version, the
 * environment variables, and every key of the per-process stats record
 * (tests/unit/test_header.c checks it against what the library writes).
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
/* Read by the zcopy command only: the library file it preloads. */
#define ZCOPY_ENV_LIBRARY   "ZCOPY_LIBRARY"   /* absolute PATH of libzcopy.so */

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
#define ZCOPY_STAT_GUARD            "guard"          /* ZCOPY_GUARD in force: 0 or 1 */
#define ZCOPY_STAT_FALLBACK_BYTES   "fallback_bytes" /* object: reason -> bytes */
/* In observe mode with ZCOPY_GUARD=0: the bytes guards would have moved;
 * written only when not 0. */
#define ZCOPY_STAT_WOULD_GUARD      "would_guard_bytes"
#define ZCOPY_STAT_PIPE_READS       "file_pipe_reads" /* file reads deferred as one splice into zcopy's pipe */
#define ZCOPY_STAT_STREAMS          "streams"        /* array: the largest streams */

/* Keys of each object of "streams": one source feeding one destination. */
#define ZCOPY_STREAM_SRC            "src"            /* the source's path */
#define ZCOPY_STREAM_DST_KIND       "dst_kind"       /* file, pipe, stream-socket, ... */
#define ZCOPY_STREAM_DST            "dst"            /* path; "" for pipes and sockets */
#define ZCOPY_STREAM_ZERO_COPY      "bytes_zero_copy" /* by kernel transfer */
#define ZCOPY_STREAM_COPIED         "bytes_copied"   /* through user memory */
#define ZCOPY_STREAM_WOULD          "would_zero_copy_bytes" /* observe mode */
#define ZCOPY_STREAM_PRIMITIVE      "primitive"      /* most used transfer, or "" */
#define ZCOPY_STREAM_FALLBACK       "fallback"       /* reason for most bytes, or "" */

/* Every top-level key above, in the order the library writes them, for an
 * array initializer.  The counters are non-negative integers; "exe" and
 * "mode" are strings; "transfers", "fallbacks" and "fallback_bytes" are
 * objects of name -> integer; "streams" is an array of the objects below. */
#define ZCOPY_STAT_KEYS                                                                  \
	ZCOPY_STAT_PID, ZCOPY_STAT_EXE, ZCOPY_STAT_MODE, ZCOPY_STAT_GUARD,                \
	ZCOPY_STAT_BYTES_ZERO_COPY, ZCOPY_STAT_BYTES_COPIED, ZCOPY_STAT_PHANTOM_READS,    \
	ZCOPY_STAT_MATERIALIZED, ZCOPY_STAT_WOULD_ZERO_COPY, ZCOPY_STAT_WOULD_GUARD,      \
	ZCOPY_STAT_PIPE_READS, ZCOPY_STAT_TRANSFERS, ZCOPY_STAT_FALLBACKS, ZCOPY_STAT_FALLBACK_BYTES,      \
	ZCOPY_STAT_STREAMS
/* Keys of the "transfers" object: calls of each kernel primitive. */
#define ZCOPY_TRANSFER_COPY_FILE_RANGE "copy_file_range"
#define ZCOPY_TRANSFER_SENDFILE        "sendfile"
#define ZCOPY_TRANSFER_SPLICE          "splice"
#define ZCOPY_TRANSFER_KEYS                                                              \
	ZCOPY_TRANSFER_COPY_FILE_RANGE, ZCOPY_TRANSFER_SENDFILE, ZCOPY_TRANSFER_SPLICE

/* Keys of the "fallbacks" and "fallback_bytes" objects: why bytes went
 * through user memory (descriptions in README.md, "Statistics").  A reason
 * that never happened is absent from the record (read it as 0). */
#define ZCOPY_FALLBACK_TOO_SMALL      "too_small"
#define ZCOPY_FALLBACK_ALIGNMENT      "alignment"
#define ZCOPY_FALLBACK_STACK_BUFFER   "stack_buffer"
#define ZCOPY_FALLBACK_BUFFER_KIND    "buffer_kind"
#define ZCOPY_FALLBACK_SOURCE_NOT_FILE "source_not_file"
#define ZCOPY_FALLBACK_SOURCE_O_DIRECT "source_o_direct"
#define ZCOPY_FALLBACK_DEST_KIND      "dest_kind"
#define ZCOPY_FALLBACK_DEST_O_APPEND  "dest_o_append"
#define ZCOPY_FALLBACK_DEST_DATAGRAM  "dest_datagram"
#define ZCOPY_FALLBACK_DEST_O_DIRECT  "dest_o_direct"
#define ZCOPY_FALLBACK_SEND_FLAGS     "send_flags"
#define ZCOPY_FALLBACK_WARMUP         "warmup"
#define ZCOPY_FALLBACK_BACKOFF        "backoff"
#define ZCOPY_FALLBACK_PARTIAL_PAGES  "partial_pages"
#define ZCOPY_FALLBACK_DIRTY_PAGES    "dirty_pages"
#define ZCOPY_FALLBACK_SOURCE_CHANGED "source_changed"
#define ZCOPY_FALLBACK_PRIMITIVE_UNSUPPORTED "primitive_unsupported"
#define ZCOPY_FALLBACK_MAP_FAILED     "map_failed"
#define ZCOPY_FALLBACK_TOO_MANY_PHANTOMS "too_many_phantoms"
#define ZCOPY_FALLBACK_FD_LIMIT       "fd_limit"
#define ZCOPY_FALLBACK_NO_PIN         "no_pin"
#define ZCOPY_FALLBACK_STDIO          "stdio"
#define ZCOPY_FALLBACK_TRANSFORMED    "transformed"
#define ZCOPY_FALLBACK_SOCKET_OPTIONS "socket_options"
#define ZCOPY_FALLBACK_SOCKET_NO_GUARD "socket_no_guard"
#define ZCOPY_FALLBACK_SOCKET_NO_PIPE "socket_no_pipe"
#define ZCOPY_FALLBACK_SOCKET_DEST    "socket_dest"

/* Every reason above, in the library's order, for an array initializer:
 * static const char *const reasons[] = { ZCOPY_FALLBACK_REASONS }; */
#define ZCOPY_FALLBACK_REASONS                                                            \
	ZCOPY_FALLBACK_TOO_SMALL, ZCOPY_FALLBACK_ALIGNMENT, ZCOPY_FALLBACK_STACK_BUFFER,  \
	ZCOPY_FALLBACK_BUFFER_KIND, ZCOPY_FALLBACK_SOURCE_NOT_FILE,                       \
	ZCOPY_FALLBACK_SOURCE_O_DIRECT, ZCOPY_FALLBACK_DEST_KIND,                         \
	ZCOPY_FALLBACK_DEST_O_APPEND, ZCOPY_FALLBACK_DEST_DATAGRAM,                       \
	ZCOPY_FALLBACK_DEST_O_DIRECT, ZCOPY_FALLBACK_SEND_FLAGS, ZCOPY_FALLBACK_WARMUP,   \
	ZCOPY_FALLBACK_BACKOFF, ZCOPY_FALLBACK_PARTIAL_PAGES, ZCOPY_FALLBACK_DIRTY_PAGES, \
	ZCOPY_FALLBACK_SOURCE_CHANGED, ZCOPY_FALLBACK_PRIMITIVE_UNSUPPORTED,              \
	ZCOPY_FALLBACK_MAP_FAILED, ZCOPY_FALLBACK_TOO_MANY_PHANTOMS, ZCOPY_FALLBACK_FD_LIMIT,  \
	ZCOPY_FALLBACK_NO_PIN, ZCOPY_FALLBACK_STDIO, ZCOPY_FALLBACK_TRANSFORMED,          \
	ZCOPY_FALLBACK_SOCKET_OPTIONS, ZCOPY_FALLBACK_SOCKET_NO_GUARD,                    \
	ZCOPY_FALLBACK_SOCKET_NO_PIPE, ZCOPY_FALLBACK_SOCKET_DEST

#endif
