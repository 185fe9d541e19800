/*
 * detect.h - is this (source fd, buffer) a streaming copy?  Pure logic.
 *
 * The detector sees the calls, never the bytes: a read of len bytes from fd
 * into buf, and writes of ranges of memory.  A write whose bytes all lie in
 * the range the latest read of a stream filled is a read->write pair.  After
 * ZC_ENGAGE_PAIRS consecutive pairs the stream is engaged: its next reads may
 * be deferred.  When the program touches deferred data before writing it (a
 * checksum, an edit), the stream backs off: it is disengaged and its next
 * 2^level reads are not even considered, level growing with each touch, so a
 * program that inspects its data pays almost nothing.
 *
 * No system calls, no locks: callers serialise access.
 */
#ifndef ZC_DETECT_H
#define ZC_DETECT_H

#include <stddef.h>
#include <stdint.h>

#define ZC_STREAMS 16       /* streams tracked at once (least recently used is replaced) */
#define ZC_ENGAGE_PAIRS 2   /* consecutive read->write pairs before engaging */
#define ZC_BACKOFF_MAX 12   /* longest back-off: 2^12 reads */
#define ZC_CALM_ROUNDS 64   /* clean pairs after which the back-off level decays by one */

struct zc_stream {
	int fd;               /* source fd; -1 = free slot */
	uintptr_t buf;        /* buffer of the latest read */
	size_t len;           /* bytes the latest read returned */
	uint64_t last_use;    /* detector clock at last read, for LRU */
	uint32_t pairs;       /* consecutive read->write pairs */
	uint32_t skip;        /* reads left to ignore (back-off) */
	uint32_t calm;        /* clean pairs since the last touch */
	uint8_t level;        /* back-off level */
	uint8_t engaged;      /* reads may be deferred */
	uint8_t paired;       /* latest read already counted as a pair */
	uint8_t deferred;     /* latest read was deferred (phantom) */
	uint8_t buf_bad;      /* engine's verdict: the buffer memory cannot be deferred into */
	size_t buf_ok_len;    /* engine's verdict: bytes from buf known to be deferrable memory */
	int8_t why;           /* engine's reason (ZC_FB_*) the latest read was not deferred, -1 none */
	int8_t refused;       /* engine's reason (ZC_FB_*) a deferral of this stream was last
				 refused for (alignment, buffer, destination), -1 none */
	uint8_t orphan;       /* its buffer was freed: the next read of fd into a buffer
				 no stream has takes it over (zc_det_release_range) */
	uint8_t adopted;      /* the buffer was taken over since the engine last looked */
	int64_t next_off;     /* engine's: file offset right after the latest deferred
				 read, -1 unknown (an adopted stream must continue there) */
	uint8_t dest_kind;    /* write side's: the kind (fdinfo.h) of the destination
				 its reads were last written to, 0 unknown */
	uint8_t via_stdio;    /* engine's: its bytes left through glibc's own write(2)
				 (an fwrite's start): they must stay mapped */
};

struct zc_detector {
	struct zc_stream s[ZC_STREAMS];
	uint64_t clock;
};

/* What the detector says about a read that is about to happen. */
enum zc_read_verdict {
	ZC_READ_PLAIN,   /* not engaged (yet): do the plain read */
	ZC_READ_BACKOFF, /* in back-off: plain read */
	ZC_READ_DEFER,   /* engaged: defer if the buffer and file allow */
};

void zc_det_init(struct zc_detector *d);
/* Before a read of fd into buf: may it be deferred?  Consumes back-off. */
enum zc_read_verdict zc_det_before_read(struct zc_detector *d, int fd, uintptr_t buf);
/* After a read returned len > 0 bytes (deferred says whether it was). */
void zc_det_after_read(struct zc_detector *d, int fd, uintptr_t buf, size_t len, int deferred);
/* A write of [buf, buf+n): returns the stream whose latest read holds all of
 * it (and counts the pair), or NULL. */
struct zc_stream *zc_det_on_write(struct zc_detector *d, uintptr_t buf, size_t n);
/* The stream of (fd, buf), or NULL. */
struct zc_stream *zc_det_lookup(struct zc_detector *d, int fd, uintptr_t buf);
/* A write of [buf, buf+n) to a destination that takes only plain writes
 * (O_APPEND, datagrams, ...): the read was used, but the stream must not
 * engage for it.  Returns the stream or NULL. */
struct zc_stream *zc_det_on_refused_write(struct zc_detector *d, uintptr_t buf, size_t n);
/* Same look-up as zc_det_on_write without counting anything. */
struct zc_stream *zc_det_find(struct zc_detector *d, uintptr_t buf, size_t n);
/* The program touched the stream's deferred data: disengage and back off. */
void zc_det_touched(struct zc_detector *d, struct zc_stream *s);
/* The source fd was closed or replaced. */
void zc_det_forget_fd(struct zc_detector *d, int fd);
/* Memory [lo, hi) was remapped or reprotected: streams with buffers there end. */
void zc_det_forget_range(struct zc_detector *d, uintptr_t lo, uintptr_t hi);
/* Memory [lo, hi) was freed: streams with buffers there lose their buffer
 * but not their state.  A program that allocates a new buffer for every read
 * (python, node, perl) reads the same fd into the next one; that read takes
 * the stream over (its first deferral is checked for offset continuity by
 * the engine: adopted, next_off). */
void zc_det_release_range(struct zc_detector *d, uintptr_t lo, uintptr_t hi);

#endif
