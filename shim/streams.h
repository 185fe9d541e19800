/*
 * streams.h - per-stream detail: which file went where, and how (streams.c).
 *
 * A flow is one source fd feeding one destination fd, as the write side
 * sees it: a write that repeats a read of a stream (or, for a program that
 * writes other bytes than it read, the latest large read of its thread).
 * While a write is being handled its flow is this thread's current one, and
 * every counter the write moves (stats.h) is also added to the flow's own
 * copy of the counters.  A bounded table keeps the flows; the record at exit
 * lists the largest.  With ZCOPY_LOG >= 2 a flow's start, each new reason it
 * goes through memory for (its backing off), and its end (at the next write
 * or at exit, never from the close itself) are logged with both paths.
 */
#ifndef ZC_STREAMS_H
#define ZC_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define ZC_FLOWS 16       /* flows kept at once; the smallest makes room */
#define ZC_FLOW_PATH 256  /* bytes of a path kept (longer ones are cut) */

struct zc_flow {
	int src_fd, dst_fd; /* the program's numbers; -1 once it closed one */
	uint8_t used;
	uint8_t dst_kind;   /* enum zc_kind */
	uint8_t end_unlogged; /* ended by a close; its "ends" line comes later */
	uint32_t logged;    /* reasons already logged (bit per ZC_FB_*) */
	int busy;           /* writes adding to it now: not to be reused */
	char src[ZC_FLOW_PATH];
	char dst[ZC_FLOW_PATH]; /* empty for pipes and sockets: no path */
	struct zc_stats st;
};


/* The start of an engine write of n bytes to dst_fd (kind dst_kind) that
 * pairs with a read of src_fd (-1: pairs with none).  Makes the flow this
 * thread's current one; an unpaired write after a large read of this thread
 * is counted as "transformed".  Engine lock held. */
void zc_flow_begin_write(int src_fd, int dst_fd, int dst_kind, size_t n, int first);
/* The write is over (its plain call included).  errno untouched. */
void zc_flow_end(void);
/* This thread made a read of at least ZCOPY_MIN_CHUNK bytes from fd. */
void zc_flow_read(int fd);
/* The program closed or replaced fds lo..hi: their flows end (the last
 * read of another thread may still name one: harmless, its next large read
 * names another).  Engine lock held. */
void zc_flow_fds_closed(unsigned lo, unsigned hi);
/* Copies the flows that moved any byte into out (at most max), largest
 * first; returns how many. */
int zc_flows_snapshot(struct zc_flow *out, int max);
/* At exit: the flows still open end too (ZCOPY_LOG >= 2). */
void zc_flows_log_open(void);
/* A forked child starts with no flow. */
void zc_flows_after_fork_child(void);

#endif
