/*
 * streams.c - the flows (see streams.h).
 *
 * The table is changed only under the engine lock (the write side holds it
 * when it picks a write's flow, and fd events hold it when they end one);
 * the counters of a flow are added with relaxed atomics by the thread whose
 * current flow it is, which may be after the lock was released, so a flow
 * that makes room for a new one is only reused once no write is adding to
 * it: a slot is taken over only when no thread's current flow is it
 * (`busy`, counted per begin and end).  Paths are read once per flow, from
 * /proc/self/fd, when it starts.
 */
#include "streams.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fdinfo.h"
#include "log.h"
#include "real.h"

__thread struct zc_flow *zc_flow_cur __attribute__((tls_model("initial-exec")));
static __thread int last_read_fd __attribute__((tls_model("initial-exec"))) = -1;
static __thread int last_read_set __attribute__((tls_model("initial-exec")));

static struct zc_flow flows[ZC_FLOWS];

static uint64_t moved(const struct zc_flow *f)
{
	return __atomic_load_n(&f->st.bytes_zero_copy, __ATOMIC_RELAXED) +
	       __atomic_load_n(&f->st.bytes_copied, __ATOMIC_RELAXED) +
	       __atomic_load_n(&f->st.would_zero_copy_bytes, __ATOMIC_RELAXED);
}

static void path_of(int fd, char *out, size_t cap)
{
	char link[32];
	int saved = errno;
	zc_fmt(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = REAL(readlink)(link, out, cap - 1);
	out[n > 0 ? n : 0] = '\0';
	errno = saved;
}

/* The flow's main primitive and main reason, for the log. */
static const char *main_transfer(const struct zc_stats *s)
{
	int best = zc_stats_largest(s->transfers, ZC_T__COUNT);
	return best < 0 ? "none" : zc_transfer_keys[best];
}

static const char *main_reason(const struct zc_stats *s)
{
	int best = zc_stats_largest(s->fallback_bytes, ZC_FB__COUNT);
	return best < 0 ? "none" : zc_fallback_keys[best];
}

static void log_end(struct zc_flow *f)
{
	if (zc_log_level < 2 || !moved(f))
		return;
	struct zc_stats s = f->st;
	zc_log(2, "stream ends: %s -> %s%s%s: %llu bytes by transfer (%s), %llu through memory "
		  "(mainly %s); %llu would go by transfer",
	       f->src, zc_kind_name((enum zc_kind)f->dst_kind), f->dst[0] ? " " : "", f->dst,
	       (unsigned long long)s.bytes_zero_copy, main_transfer(&s),
	       (unsigned long long)s.bytes_copied, main_reason(&s),
	       (unsigned long long)s.would_zero_copy_bytes);
}

/*
 * The "ends" lines of flows whose fds were closed.  Never logged from the
 * close itself: closefrom and close_range reach zcopy after zcopy's own fds
 * in the range were closed and before the program's call, so a line logged
 * there would reopen the log file inside the range the call then closes.
 */
static int ends_unlogged; /* some flow has end_unlogged set (lock held) */

static void log_ended(void)
{
	if (!ends_unlogged)
		return; /* (every write's start asks) */
	ends_unlogged = 0;
	for (int i = 0; i < ZC_FLOWS; i++)
		if (flows[i].end_unlogged) {
			flows[i].end_unlogged = 0;
			log_end(&flows[i]);
		}
}

/* A slot for a new flow: a free one, else the smallest ended one, else the
 * smallest; never one a write is adding to. */
static struct zc_flow *make_room(void)
{
	struct zc_flow *best = NULL;
	int best_open = 1;
	for (int i = 0; i < ZC_FLOWS; i++) {
		struct zc_flow *f = &flows[i];
		if (!f->used)
			return f;
		if (__atomic_load_n(&f->busy, __ATOMIC_ACQUIRE) || f->end_unlogged)
			continue; /* a write is adding to it; its end is not told yet */
		int open = f->src_fd >= 0 || f->dst_fd >= 0;
		if (!best || (best_open && !open) ||
		    (open == best_open && moved(f) < moved(best))) {
			best = f;
			best_open = open;
		}
	}
	if (!best)
		return NULL;
	if (best_open)
		log_end(best);
	return best;
}

static struct zc_flow *find(int src_fd, int dst_fd)
{
	for (int i = 0; i < ZC_FLOWS; i++)
		if (flows[i].used && flows[i].src_fd == src_fd && flows[i].dst_fd == dst_fd)
			return &flows[i];
	return NULL;
}

void zc_flow_end(void)
{
	struct zc_flow *f = zc_flow_cur;
	if (f) {
		zc_flow_cur = NULL;
		__atomic_fetch_sub(&f->busy, 1, __ATOMIC_ACQ_REL);
	}
}

void zc_flow_begin_write(int src_fd, int dst_fd, int dst_kind, size_t n, int first)
{
	int transformed = 0;
	zc_flow_end();
	log_ended();
	if (src_fd < 0) {
		/* Not the bytes of a read: after a large read of this thread,
		 * the program changed or computed them (a compressor, an
		 * encoder, sort). */
		if (!last_read_set || last_read_fd < 0 || last_read_fd == dst_fd)
			return;
		src_fd = last_read_fd;
		transformed = 1;
	}
	struct zc_flow *f = find(src_fd, dst_fd);
	if (!f) {
		f = make_room();
		if (!f)
			return;
		memset(f, 0, sizeof *f);
		f->used = 1;
		f->src_fd = src_fd;
		f->dst_fd = dst_fd;
		f->dst_kind = (uint8_t)dst_kind;
		path_of(src_fd, f->src, sizeof f->src);
		if (dst_kind == ZC_K_FILE || dst_kind == ZC_K_BLOCK || dst_kind == ZC_K_CHAR ||
		    dst_kind == ZC_K_TTY)
			path_of(dst_fd, f->dst, sizeof f->dst);
		zc_log(2, "stream starts: %s (fd %d) -> %s%s%s (fd %d)", f->src, src_fd,
		       zc_kind_name((enum zc_kind)dst_kind), f->dst[0] ? " " : "", f->dst, dst_fd);
	}
	__atomic_fetch_add(&f->busy, 1, __ATOMIC_ACQ_REL);
	zc_flow_cur = f;
	if (transformed && first)
		zc_fallback(ZC_FB_TRANSFORMED, n);
}

void zc_flow_read(int fd)
{
	last_read_fd = fd;
	last_read_set = 1;
}

void zc_flow_fds_closed(unsigned lo, unsigned hi)
{
	if (last_read_fd >= 0 && (unsigned)last_read_fd >= lo && (unsigned)last_read_fd <= hi)
		last_read_fd = -1;
	for (int i = 0; i < ZC_FLOWS; i++) {
		struct zc_flow *f = &flows[i];
		int src = f->src_fd >= 0 && (unsigned)f->src_fd >= lo && (unsigned)f->src_fd <= hi;
		int dst = f->dst_fd >= 0 && (unsigned)f->dst_fd >= lo && (unsigned)f->dst_fd <= hi;
		if (!f->used || (!src && !dst))
			continue;
		if (f->src_fd >= 0 && f->dst_fd >= 0) {
			f->end_unlogged = 1; /* see log_ended */
			ends_unlogged = 1;
		}
		if (src)
			f->src_fd = -1;
		if (dst)
			f->dst_fd = -1;
	}
}

void zc_flow_add(size_t off, uint64_t n)
{
	struct zc_flow *f = zc_flow_cur;
	if (f && off + sizeof(uint64_t) <= sizeof f->st)
		__atomic_fetch_add((uint64_t *)((char *)&f->st + off), n, __ATOMIC_RELAXED);
}

void zc_flow_fallback(enum zc_fallback why, uint64_t bytes)
{
	struct zc_flow *f = zc_flow_cur;
	if (!f || (unsigned)why >= ZC_FB__COUNT)
		return;
	__atomic_fetch_add(&f->st.fallbacks[why], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&f->st.fallback_bytes[why], bytes, __ATOMIC_RELAXED);
	uint32_t bit = 1u << why;
	if (zc_log_level >= 2 && !(__atomic_fetch_or(&f->logged, bit, __ATOMIC_RELAXED) & bit))
		zc_log(2, "stream %s -> %s%s%s: %s (%s)", f->src,
		       zc_kind_name((enum zc_kind)f->dst_kind), f->dst[0] ? " " : "", f->dst,
		       why == ZC_FB_BACKOFF || why == ZC_FB_DIRTY_PAGES ? "backs off" : "goes through memory",
		       zc_fallback_descs[why]);
}

int zc_flows_snapshot(struct zc_flow *out, int max)
{
	static struct zc_flow all[ZC_FLOWS]; /* at exit, or a test: no second caller */
	int n = 0;
	for (int i = 0; i < ZC_FLOWS; i++) {
		if (!flows[i].used || !moved(&flows[i]))
			continue;
		all[n] = flows[i];
		for (int j = n++; j > 0 && moved(&all[j]) > moved(&all[j - 1]); j--) {
			struct zc_flow t = all[j];
			all[j] = all[j - 1];
			all[j - 1] = t;
		}
	}
	n = n < max ? n : max;
	memcpy(out, all, (size_t)n * sizeof *out);
	return n;
}

void zc_flows_log_open(void)
{
	log_ended();
	for (int i = 0; i < ZC_FLOWS; i++)
		if (flows[i].used && flows[i].src_fd >= 0 && flows[i].dst_fd >= 0)
			log_end(&flows[i]);
}

void zc_flows_after_fork_child(void)
{
	memset(flows, 0, sizeof flows);
	zc_flow_cur = NULL;
}
