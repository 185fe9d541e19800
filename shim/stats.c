/*
 * stats.c - the per-process counters and the record written at exit (see
 * stats.h for the contract).
 *
 * Formatting is pure (counters, pid and exe are parameters) so it is tested
 * without preloading; zc_stats_emit() gathers those from the process.  The
 * record leaves in one write(2) on an O_APPEND descriptor: processes sharing
 * one stats file get whole lines.  No malloc and no stdio: emission runs in
 * exit handlers, possibly after the program tore down its own state.
 */
#include "stats.h"

#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "live.h"
#include "log.h"
#include "ownfd.h"
#include "streams.h"
#include "fdinfo.h"
#include "real.h"
#include "zcopy.h"

struct zc_stats zc_stats;
struct zc_stats *zc_stats_cur = &zc_stats;
_Static_assert(sizeof(struct zc_stats) % sizeof(uint64_t) == 0, "counters only");

#define ZC_FB_KEY(name, key, desc) key,
#define ZC_FB_DESC(name, key, desc) desc,
const char *const zc_fallback_keys[ZC_FB__COUNT] = { ZC_FALLBACK_LIST(ZC_FB_KEY) };
const char *const zc_fallback_descs[ZC_FB__COUNT] = { ZC_FALLBACK_LIST(ZC_FB_DESC) };
#undef ZC_FB_KEY
#undef ZC_FB_DESC

const char *const zc_transfer_keys[ZC_T__COUNT] = {
	[ZC_T_COPY_FILE_RANGE] = "copy_file_range",
	[ZC_T_SENDFILE] = "sendfile",
	[ZC_T_SPLICE] = "splice",
};

/* ---- a bounded string builder -------------------------------------------- */

struct sb {
	char *buf;
	size_t cap, len;
	int full; /* something did not fit: the result is discarded */
};

static void sb_raw(struct sb *b, const char *s, size_t n)
{
	if (b->full || n >= b->cap - b->len) { /* keep room for the NUL */
		b->full = 1;
		return;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_raw(b, s, strlen(s));
}

static void sb_u64(struct sb *b, uint64_t v)
{
	char tmp[24];
	size_t n = sizeof tmp;
	do
		tmp[--n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	sb_raw(b, tmp + n, sizeof tmp - n);
}

static void sb_i64(struct sb *b, long long v)
{
	if (v < 0) {
		sb_raw(b, "-", 1);
		sb_u64(b, 0ULL - (unsigned long long)v);
	} else {
		sb_u64(b, (uint64_t)v);
	}
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	unsigned cp = c & (0x3fu >> (n - 1));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string.  Paths are bytes, not text: a byte that is not part of
 * valid UTF-8 is written as the code point of the same value, so the record
 * stays valid JSON whatever the executable is called. */
static void sb_json_str(struct sb *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	/* the characters with a short escape, and the letter after the '\\' */
	static const char named[] = "\"\\\n\r\t", letter[] = "\"\\nrt";
	const unsigned char *p = (const unsigned char *)s;

	sb_raw(b, "\"", 1);
	while (*p) {
		unsigned c = *p;
		const char *k = strchr(named, (int)c);
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
		size_t n;

		if (k) {
			char two[2] = { '\\', letter[k - named] };
			sb_raw(b, two, sizeof two);
			n = 1;
		} else if (c < 0x20 || c == 0x7f || (n = utf8_len(p)) == 0) {
			sb_raw(b, esc, sizeof esc);
			n = 1;
		} else {
			sb_raw(b, (const char *)p, n);
		}
		p += n;
	}
	sb_raw(b, "\"", 1);
}

static void sb_key(struct sb *b, const char *key, int *first)
{
	if (!*first)
		sb_raw(b, ",", 1);
	*first = 0;
	sb_json_str(b, key);
	sb_raw(b, ":", 1);
}

static void sb_key_u64(struct sb *b, const char *key, uint64_t v, int *first)
{
	sb_key(b, key, first);
	sb_u64(b, v);
}

static size_t sb_finish(struct sb *b)
{
	if (b->cap == 0)
		return 0;
	if (b->full) {
		b->buf[0] = '\0';
		return 0;
	}
	b->buf[b->len] = '\0';
	return b->len;
}

/* ---- the JSON record ------------------------------------------------------ */

/* reason -> value, only for reasons that happened: an absent key reads as 0. */
static void sb_reasons(struct sb *b, const char *key, const uint64_t *v, int *first)
{
	int inner = 1;
	sb_key(b, key, first);
	sb_raw(b, "{", 1);
	for (int i = 0; i < ZC_FB__COUNT; i++)
		if (v[i])
			sb_key_u64(b, zc_fallback_keys[i], v[i], &inner);
	sb_raw(b, "}", 1);
}

int zc_stats_largest(const uint64_t *v, int n)
{
	int best = -1;
	for (int i = 0; i < n; i++)
		if (v[i] && (best < 0 || v[i] > v[best]))
			best = i;
	return best;
}

static void sb_flow(struct sb *b, const struct zc_flow *f)
{
	int first = 1;
	int t = zc_stats_largest(f->st.transfers, ZC_T__COUNT);
	int r = zc_stats_largest(f->st.fallback_bytes, ZC_FB__COUNT);
	sb_raw(b, "{", 1);
	sb_key(b, ZCOPY_STREAM_SRC, &first);
	sb_json_str(b, f->src);
	sb_key(b, ZCOPY_STREAM_DST_KIND, &first);
	sb_json_str(b, zc_kind_name((enum zc_kind)f->dst_kind));
	sb_key(b, ZCOPY_STREAM_DST, &first);
	sb_json_str(b, f->dst);
	sb_key_u64(b, ZCOPY_STREAM_ZERO_COPY, f->st.bytes_zero_copy, &first);
	sb_key_u64(b, ZCOPY_STREAM_COPIED, f->st.bytes_copied, &first);
	sb_key_u64(b, ZCOPY_STREAM_WOULD, f->st.would_zero_copy_bytes, &first);
	sb_key(b, ZCOPY_STREAM_PRIMITIVE, &first);
	sb_json_str(b, t < 0 ? "" : zc_transfer_keys[t]);
	sb_key(b, ZCOPY_STREAM_FALLBACK, &first);
	sb_json_str(b, r < 0 ? "" : zc_fallback_keys[r]);
	sb_raw(b, "}", 1);
}

size_t zc_stats_json(const struct zc_stats *s, char *buf, size_t cap, long pid, const char *exe,
		     const char *mode, int guard)
{
	return zc_stats_json_flows(s, NULL, 0, buf, cap, pid, exe, mode, guard);
}

size_t zc_stats_json_flows(const struct zc_stats *s, const struct zc_flow *flows, int nflows,
			   char *buf, size_t cap, long pid, const char *exe, const char *mode,
			   int guard)
{
	struct sb b = { buf, cap, 0, cap == 0 };
	int first = 1, inner = 1;

	sb_raw(&b, "{", 1);
	sb_key(&b, ZCOPY_STAT_PID, &first);
	sb_i64(&b, pid);
	sb_key(&b, ZCOPY_STAT_EXE, &first);
	sb_json_str(&b, exe ? exe : "");
	sb_key(&b, ZCOPY_STAT_MODE, &first);
	sb_json_str(&b, mode ? mode : "");
	sb_key_u64(&b, ZCOPY_STAT_GUARD, guard ? 1 : 0, &first);
	sb_key_u64(&b, ZCOPY_STAT_BYTES_ZERO_COPY, s->bytes_zero_copy, &first);
	sb_key_u64(&b, ZCOPY_STAT_BYTES_COPIED, s->bytes_copied, &first);
	sb_key_u64(&b, ZCOPY_STAT_PHANTOM_READS, s->phantom_reads, &first);
	sb_key_u64(&b, ZCOPY_STAT_MATERIALIZED, s->materialized_bytes, &first);
	sb_key_u64(&b, ZCOPY_STAT_WOULD_ZERO_COPY, s->would_zero_copy_bytes, &first);
	if (s->would_guard_bytes) /* observe mode without guards only */
		sb_key_u64(&b, ZCOPY_STAT_WOULD_GUARD, s->would_guard_bytes, &first);
	sb_key_u64(&b, ZCOPY_STAT_PIPE_READS, s->pipe_reads, &first);
	sb_key(&b, ZCOPY_STAT_TRANSFERS, &first);
	sb_raw(&b, "{", 1);
	for (int i = 0; i < ZC_T__COUNT; i++)
		sb_key_u64(&b, zc_transfer_keys[i], s->transfers[i], &inner);
	sb_raw(&b, "}", 1);
	sb_reasons(&b, ZCOPY_STAT_FALLBACKS, s->fallbacks, &first);
	sb_reasons(&b, ZCOPY_STAT_FALLBACK_BYTES, s->fallback_bytes, &first);
	if (nflows > 0) {
		sb_key(&b, ZCOPY_STAT_STREAMS, &first);
		sb_raw(&b, "[", 1);
		for (int i = 0; i < nflows; i++) {
			if (i)
				sb_raw(&b, ",", 1);
			sb_flow(&b, &flows[i]);
		}
		sb_raw(&b, "]", 1);
	}
	sb_raw(&b, "}", 1);
	return sb_finish(&b);
}

/* ---- the human summary ---------------------------------------------------- */

/* "512 B", "128.0 KiB", "64.0 MiB": one decimal, rounded to nearest. */
static void sb_size(struct sb *b, uint64_t v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	int u = -1;
	uint64_t scale = 1;

	while (u + 1 < (int)(sizeof units / sizeof units[0]) && v / scale >= 1024)
		scale *= 1024, u++;
	if (u < 0) {
		sb_u64(b, v);
		sb_str(b, " B");
		return;
	}
	uint64_t whole = v / scale;
	/* tenths from the remainder alone, so v * 10 cannot overflow */
	uint64_t tenths = ((v % scale) / (scale / 1024) * 10 + 512) / 1024;
	if (tenths == 10)
		whole++, tenths = 0;
	if (whole == 1024 && u + 1 < (int)(sizeof units / sizeof units[0]))
		whole = 1, u++;
	sb_u64(b, whole);
	sb_raw(b, ".", 1);
	sb_u64(b, tenths);
	sb_raw(b, " ", 1);
	sb_str(b, units[u]);
}

/* Text for a terminal: a control byte in a path would break the one line. */
static void sb_plain(struct sb *b, const char *s)
{
	for (; *s; s++) {
		char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
		sb_raw(b, &c, 1);
	}
}

/* For the summary: title, then KEY=N for each non-zero count of v[0..n). */
static void sb_counts(struct sb *b, const char *title, const char *const *keys,
		      const uint64_t *v, int n)
{
	const char *sep = title;
	for (int i = 0; i < n; i++) {
		if (!v[i])
			continue;
		sb_str(b, sep);
		sb_str(b, keys[i]);
		sb_raw(b, "=", 1);
		sb_u64(b, v[i]);
		sep = " ";
	}
}

size_t zc_stats_human(const struct zc_stats *s, char *buf, size_t cap, long pid,
		      const char *exe, const char *mode)
{
	struct sb b = { buf, cap, 0, cap == 0 };

	sb_str(&b, "zcopy[");
	sb_i64(&b, pid);
	sb_str(&b, "] ");
	sb_plain(&b, exe && *exe ? exe : "?");
	sb_str(&b, " mode=");
	sb_str(&b, mode ? mode : "?");
	sb_str(&b, ": ");
	sb_size(&b, s->bytes_zero_copy);
	sb_str(&b, " zero-copy, ");
	sb_size(&b, s->bytes_copied);
	sb_str(&b, " copied, ");
	sb_u64(&b, s->phantom_reads);
	sb_str(&b, " phantom reads, ");
	sb_size(&b, s->materialized_bytes);
	sb_str(&b, " materialized");
	if (s->would_zero_copy_bytes || (mode && strcmp(mode, "observe") == 0)) {
		sb_str(&b, ", ");
		sb_size(&b, s->would_zero_copy_bytes);
		sb_str(&b, " would zero-copy");
	}
	sb_counts(&b, "; transfers: ", zc_transfer_keys, s->transfers, ZC_T__COUNT);
	sb_counts(&b, "; fallbacks: ", zc_fallback_keys, s->fallbacks, ZC_FB__COUNT);
	sb_raw(&b, "\n", 1);
	return sb_finish(&b);
}

/* ---- emission at exit ----------------------------------------------------- */

/* Set once this process wrote its record, so exit paths that both reach
 * zc_stats_emit (an atexit handler and a destructor) write one line. */
static int emitted;

/* Worst case: every byte of a PATH_MAX exe escaped as \u00XX, plus counters. */
static char exe_buf[PATH_MAX];
static struct zc_flow flow_buf[ZC_STATS_STREAMS];
/* ... and each stream's two paths, escaped the same way. */
static char out_buf[PATH_MAX * 6 + 4096 + ZC_STATS_STREAMS * (ZC_FLOW_PATH * 12 + 512)];

void zc_stats_snapshot_static(struct zc_stats *d)
{
#define LOAD(f) d->f = __atomic_load_n(&zc_stats.f, __ATOMIC_RELAXED)
	LOAD(bytes_zero_copy);
	LOAD(bytes_copied);
	LOAD(phantom_reads);
	LOAD(materialized_bytes);
	LOAD(would_zero_copy_bytes);
	LOAD(would_guard_bytes);
	LOAD(pipe_reads);
	for (int i = 0; i < ZC_T__COUNT; i++)
		LOAD(transfers[i]);
	for (int i = 0; i < ZC_FB__COUNT; i++) {
		LOAD(fallbacks[i]);
		LOAD(fallback_bytes[i]);
	}
#undef LOAD
}

/* Everything counted: zc_stats and, once it exists, the live page. */
static void snapshot(struct zc_stats *d)
{
	zc_stats_snapshot_static(d);
	zc_live_add_to(d);
}

/* Did this process go through zcopy at all?  (ZCOPY_STATS=stderr names only
 * those: a shell script would otherwise print a line per command.) */
static int did_something(const struct zc_stats *s)
{
	uint64_t any = s->bytes_zero_copy | s->bytes_copied | s->phantom_reads |
		       s->materialized_bytes | s->would_zero_copy_bytes;
	for (int i = 0; i < ZC_T__COUNT; i++)
		any |= s->transfers[i];
	for (int i = 0; i < ZC_FB__COUNT; i++)
		any |= s->fallbacks[i];
	return any != 0;
}

/*
 * ZCOPY_STATS=stderr: no copy of fd 2 is held (a copy would keep a pipe or a
 * terminal open in every process and in every daemon it forks, so a shell's
 * $(...) or a pipeline would wait for them).  The identity of fd 2 is
 * noted at start-up instead, and the summary goes to fd 2 at exit only if it
 * is still that file: a process that closed its stderr, or reused the number
 * for a file of its own, gets no summary rather than a line in its data.
 */
static int stderr_known;
static dev_t stderr_dev;
static ino_t stderr_ino;

/* ZCOPY_STATS=PATH made absolute at start-up: the program may change its
 * directory before it exits. */
static char stats_tmpl[PATH_MAX];
static char stats_tmpl_given[ZC_PATH_MAX]; /* the setting it was made from */

void zc_stats_open(void)
{
	int saved = errno;
	if (strcmp(zc_cfg.stats, "stderr") == 0) {
		struct stat st;
		stderr_known = zc_fstat(2, &st) == 0;
		stderr_dev = st.st_dev;
		stderr_ino = st.st_ino;
	} else if (zc_cfg.stats[0]) {
		memcpy(stats_tmpl_given, zc_cfg.stats, sizeof stats_tmpl_given);
		zc_abs_template(stats_tmpl, sizeof stats_tmpl, zc_cfg.stats);
	}
	/* The program's path, kept for the record: once the main thread has
	 * ended (pthread_exit, a cancellation) while others go on,
	 * /proc/self/exe no longer reads. */
	if (zc_cfg.stats[0]) {
		ssize_t el = REAL(readlink)("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
		exe_buf[el > 0 ? el : 0] = '\0';
	}
	errno = saved;
}

static int stderr_unchanged(void)
{
	struct stat st;
	return stderr_known && zc_fstat(2, &st) == 0 && st.st_dev == stderr_dev &&
	       st.st_ino == stderr_ino;
}

void zc_stats_emit(void)
{
	struct zc_stats snap;
	char path[PATH_MAX + 32];
	const char *target = zc_cfg.stats;
	int saved = errno;
	long pid;
	ssize_t el;
	size_t n;

	if (!target[0] || __atomic_exchange_n(&emitted, 1, __ATOMIC_ACQ_REL))
		return;
	snapshot(&snap);
	pid = (long)getpid();
	if (!exe_buf[0]) { /* read at start-up (zc_stats_open) if zcopy ran there */
		el = REAL(readlink)("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
		exe_buf[el > 0 ? el : 0] = '\0';
	}

	if (strcmp(target, "stderr") == 0) {
		if (!did_something(&snap)) {
			errno = saved;
			return;
		}
		n = zc_stats_human(&snap, out_buf, sizeof out_buf, pid, exe_buf,
				   zc_mode_name(zc_cfg.mode));
		if (n && stderr_unchanged())
			zc_write_quietly(2, out_buf, n);
		errno = saved;
		return;
	}

	int nflows = zc_flows_snapshot(flow_buf, ZC_STATS_STREAMS);
	n = zc_stats_json_flows(&snap, flow_buf, nflows, out_buf, sizeof out_buf - 1, pid, exe_buf,
				zc_mode_name(zc_cfg.mode), zc_cfg.guard);
	if (n == 0 && nflows > 0) /* cannot happen with these sizes; the totals come first */
		n = zc_stats_json(&snap, out_buf, sizeof out_buf - 1, pid, exe_buf,
				  zc_mode_name(zc_cfg.mode), zc_cfg.guard);
	if (strncmp(stats_tmpl_given, target, sizeof stats_tmpl_given) == 0 && stats_tmpl[0])
		target = stats_tmpl; /* resolved at start-up */
	if (n && zc_expand_path(path, sizeof path, target, pid) == 0) {
		int slot = -1;
		if (zc_ownfd_open_output(path, &slot) >= 0) {
			out_buf[n++] = '\n';
			zc_write_quietly(slot, out_buf, n);
			zc_ownfd_close(&slot);
		} else {
			zc_log(1, "cannot write stats file %s: %s (errno %d)", path,
			       errno == ELOOP ? "a symbolic link" :
			       errno == EINVAL ? "not a regular file" :
			       errno == ENXIO ? "a FIFO without a reader" : "cannot open", errno);
		}
	}
	errno = saved;
}

void zc_stats_stderr_closing(void)
{
	/* The summary's last chance: programs close their stderr on the way
	 * out (coreutils does, from an atexit handler that runs before any
	 * library destructor), and no copy of it is held. */
	if (zc_cfg.stats[0] == 's' && strcmp(zc_cfg.stats, "stderr") == 0)
		zc_stats_emit();
}

void zc_stats_reset(void)
{
	zc_live_after_fork_child();
	zc_flows_after_fork_child();
	memset(&zc_stats, 0, sizeof zc_stats);
	__atomic_store_n(&emitted, 0, __ATOMIC_RELEASE);
}
