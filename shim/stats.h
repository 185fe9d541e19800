/*
 * stats.h - per-process counters and the record written at exit.
 *
 * Counters are plain 64-bit integers updated with relaxed atomics from any
 * thread.  At exit one JSON object is appended, on one line and with one
 * write(2) on an O_APPEND descriptor, to ZCOPY_STATS (so many processes can
 * share one file), or a one-line human summary goes to stderr.
 */
#ifndef ZC_STATS_H
#define ZC_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Reasons a read->write pair (or part of one) went through user memory.
 * X(enum suffix, JSON key, description) - the one list of reasons. */
#define ZC_FALLBACK_LIST(X)                                                               \
	X(TOO_SMALL, "too_small", "smaller than ZCOPY_MIN_CHUNK, or a pipe write of at most PIPE_BUF") \
	X(ALIGNMENT, "alignment", "buffer alignment does not match the file offset")      \
	X(STACK, "stack_buffer", "buffer is on a stack")                                  \
	X(BUFFER_KIND, "buffer_kind", "buffer is not private anonymous memory")           \
	X(SRC_NOT_FILE, "source_not_file", "source is not a regular file or block device") \
	X(SRC_DIRECT, "source_o_direct", "source opened with O_DIRECT")                   \
	X(DEST_KIND, "dest_kind", "destination is a tty or an unsupported kind")          \
	X(DEST_APPEND, "dest_o_append", "destination opened with O_APPEND")               \
	X(DEST_DATAGRAM, "dest_datagram", "destination is a datagram or seqpacket socket") \
	X(DEST_DIRECT, "dest_o_direct", "destination opened with O_DIRECT")               \
	X(SEND_FLAGS, "send_flags", "send/sendto with flags or an address")               \
	X(WARMUP, "warmup", "stream not yet engaged (first read->write pairs)")           \
	X(BACKOFF, "backoff", "stream backed off after the program touched its data")     \
	X(PARTIAL_PAGES, "partial_pages", "bytes in partial pages at the ends of a buffer") \
	X(DIRTY_PAGES, "dirty_pages", "pages the program modified before writing them")   \
	X(SOURCE_CHANGED, "source_changed", "source fd no longer names the file read")    \
	X(PRIMITIVE, "primitive_unsupported", "kernel refused the transfer; plain write") \
	X(MAP_FAILED, "map_failed", "the file could not be mapped over the buffer")       \
	X(TOO_MANY, "too_many_phantoms", "phantom table full")                            \
	X(FD_LIMIT, "fd_limit", "RLIMIT_NOFILE below 1024: zcopy holds no descriptor to pin the source") \
	X(NO_PIN, "no_pin", "the source could not be pinned (kcmp unavailable, or no descriptor free)") \
	X(STDIO, "stdio", "fread/fwrite data glibc moved itself (its buffer, or a stream zcopy does not replay)") \
	X(TRANSFORMED, "transformed", "the bytes written are not the bytes read (the program changes or computes them)") \
	X(SOCK_OPTIONS, "socket_options", "a socket read splice cannot reproduce (not TCP or UNIX stream, SO_RCVLOWAT, SO_RCVTIMEO, a TCP ULP)") \
	X(SOCK_NO_GUARD, "socket_no_guard", "socket reads are deferred only with guards (ZCOPY_GUARD=1) on a thread that does not block SIGSEGV") \
	X(SOCK_NO_PIPE, "socket_no_pipe", "no pipe of zcopy's free or large enough for the socket read") \
	X(SOCK_DEST, "socket_dest", "socket bytes written elsewhere than to a file or block device, or not from the first byte read")


#define ZC_FB_ENUM(name, key, desc) ZC_FB_##name,
enum zc_fallback { ZC_FALLBACK_LIST(ZC_FB_ENUM) ZC_FB__COUNT };
#undef ZC_FB_ENUM

extern const char *const zc_fallback_keys[ZC_FB__COUNT];
extern const char *const zc_fallback_descs[ZC_FB__COUNT];

enum zc_transfer { ZC_T_COPY_FILE_RANGE, ZC_T_SENDFILE, ZC_T_SPLICE, ZC_T__COUNT };
extern const char *const zc_transfer_keys[ZC_T__COUNT];

struct zc_stats {
	uint64_t bytes_zero_copy;
	uint64_t bytes_copied;
	uint64_t phantom_reads;
	uint64_t materialized_bytes;
	uint64_t would_zero_copy_bytes;
	uint64_t would_guard_bytes; /* observe, ZCOPY_GUARD=0: what guards would have moved */
	uint64_t pipe_reads;        /* file reads deferred as one splice into a pipe of zcopy's */
	uint64_t transfers[ZC_T__COUNT];
	uint64_t fallbacks[ZC_FB__COUNT];      /* events (pairs or calls) */
	uint64_t fallback_bytes[ZC_FB__COUNT]; /* bytes that went plain for that reason */
};

/* The counters: zc_stats until the live page exists (live.h), then the
 * page's.  The first count makes the page. */
extern struct zc_stats zc_stats;
extern struct zc_stats *zc_stats_cur;
extern int zc_live_tried;
struct zc_stats *zc_live_start(void);

static inline struct zc_stats *zc_counters(void)
{
	struct zc_stats *p = __atomic_load_n(&zc_stats_cur, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!__atomic_load_n(&zc_live_tried, __ATOMIC_RELAXED), 0))
		p = zc_live_start();
	return p;
}

/* The flow (streams.h) the calling thread's write belongs to, if any: what
 * the write counts is also added to it. */
struct zc_flow;
extern __thread struct zc_flow *zc_flow_cur __attribute__((tls_model("initial-exec")));
void zc_flow_add(size_t off, uint64_t n);
void zc_flow_fallback(enum zc_fallback why, uint64_t bytes);

static inline void zc_add(size_t off, uint64_t n)
{
	__atomic_fetch_add((uint64_t *)((char *)zc_counters() + off), n, __ATOMIC_RELAXED);
	if (__builtin_expect(zc_flow_cur != 0, 0))
		zc_flow_add(off, n);
}

#define ZC_ADD(field, n) zc_add(__builtin_offsetof(struct zc_stats, field), (uint64_t)(n))
static inline void zc_fallback(enum zc_fallback why, uint64_t bytes)
{
	struct zc_stats *c = zc_counters();
	__atomic_fetch_add(&c->fallbacks[why], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->fallback_bytes[why], bytes, __ATOMIC_RELAXED);
	if (__builtin_expect(zc_flow_cur != 0, 0))
		zc_flow_fallback(why, bytes);
}

/* The index of the largest of n counters, or -1 when all are 0: a
 * stream's main primitive and main reason, for the record and the log. */
int zc_stats_largest(const uint64_t *v, int n);

/* zc_stats alone, read counter by counter (live.c copies it into the page). */
void zc_stats_snapshot_static(struct zc_stats *d);

/* Formats the JSON record (no trailing newline is added by this function);
 * returns its length, or 0 if cap is too small. */
size_t zc_stats_json(const struct zc_stats *s, char *buf, size_t cap, long pid, const char *exe,
		     const char *mode, int guard);
/* The same with the largest streams (streams.h), at most ZC_STATS_STREAMS,
 * as "streams": [...]. */
#define ZC_STATS_STREAMS 8
size_t zc_stats_json_flows(const struct zc_stats *s, const struct zc_flow *flows, int nflows,
			   char *buf, size_t cap, long pid, const char *exe, const char *mode,
			   int guard);
/* Formats the one-line human summary (with trailing newline). */
size_t zc_stats_human(const struct zc_stats *s, char *buf, size_t cap, long pid,
		      const char *exe, const char *mode);

/* At start-up: with ZCOPY_STATS=stderr, notes which file fd 2 is (the
 * summary goes there at exit only if fd 2 is still that file; no copy is
 * held); with a path, resolves it against the current directory. */
void zc_stats_open(void);
/* Writes the record for this process as ZCOPY_STATS says (called at exit). */
void zc_stats_emit(void);
/* Zeroes the counters (a forked child starts its own record). */
/* fd 2 is about to be closed or replaced: with ZCOPY_STATS=stderr the
 * summary is written now (at most once per process), while it can be. */
void zc_stats_stderr_closing(void);
void zc_stats_reset(void);

#endif
