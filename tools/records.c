/*
 * records.c - reading the stats records libzcopy.so appends to ZCOPY_STATS
 * (one JSON object per line, keys in include/zcopy.h), and adding them up.
 *
 * The reader is strict JSON for what the records use (objects, strings with
 * escapes, non-negative integers) and skips any other valid value, so records
 * may gain keys.  Any line it cannot read is rejected as a whole: a record
 * half read would give wrong totals.  Nesting is bounded so a hostile line
 * cannot exhaust the stack.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h" /* ZC_FALLBACK_LIST: the descriptions of the reasons */
#include "tool.h"
#include "zcopy.h"

const char *const zt_transfer_keys[3] = {ZCOPY_TRANSFER_KEYS};

/* The reader also serves the test suites and the benchmarks, which link it
 * without the command's zcopy.c: there, its warnings go to stderr as they
 * are.  The command's own zt_err replaces this one. */
__attribute__((weak)) void zt_err(int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s%s%s\n", msg, err ? ": " : "", err ? strerror(err) : "");
}

/* The order of the bits of zt_record.have. */
const char *const zt_record_keys[] = {ZCOPY_STAT_KEYS, NULL};
enum { K_PID, K_EXE, K_MODE, K_GUARD, K_ZERO_COPY, K_COPIED, K_PHANTOM, K_MATERIALIZED,
       K_WOULD, K_WOULD_GUARD, K_PIPE_READS, K_TRANSFERS, K_FALLBACKS, K_FALLBACK_BYTES };

#define MAX_DEPTH 32

struct parser {
	const char *p, *end, *why;
};

static int fail(struct parser *ps, const char *why)
{
	if (!ps->why)
		ps->why = why;
	return -1;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int expect(struct parser *ps, char c)
{
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != c)
		return fail(ps, c == ':' ? "expected ':'" : c == '{' ? "expected '{'"
							     : "unexpected character");
	ps->p++;
	return 0;
}

static int hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;
	int i;

	if (ps->end - ps->p < 4)
		return fail(ps, "truncated \\u escape");
	for (i = 0; i < 4; i++) {
		char c = *ps->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(ps, "bad \\u escape");
	}
	*out = v;
	return 0;
}

/* Appends one byte, dropping what does not fit (names and paths are only shown). */
static void put(char *out, size_t cap, size_t *n, unsigned char c)
{
	if (out && *n + 1 < cap)
		out[*n] = (char)c;
	(*n)++;
}

static int parse_string(struct parser *ps, char *out, size_t cap)
{
	size_t n = 0;

	if (expect(ps, '"') != 0)
		return fail(ps, "expected a string");
	for (;;) {
		unsigned char c;
		if (ps->p >= ps->end)
			return fail(ps, "unterminated string");
		c = (unsigned char)*ps->p++;
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(ps, "control character in string");
		if (c != '\\') {
			put(out, cap, &n, c);
			continue;
		}
		if (ps->p >= ps->end)
			return fail(ps, "unterminated string");
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': case '\\': case '/': put(out, cap, &n, c); break;
		case 'b': put(out, cap, &n, '\b'); break;
		case 'f': put(out, cap, &n, '\f'); break;
		case 'n': put(out, cap, &n, '\n'); break;
		case 'r': put(out, cap, &n, '\r'); break;
		case 't': put(out, cap, &n, '\t'); break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(ps, &cp) != 0)
				return -1;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return fail(ps, "lone low surrogate");
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
					return fail(ps, "lone high surrogate");
				ps->p += 2;
				if (hex4(ps, &lo) != 0)
					return -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return fail(ps, "bad surrogate pair");
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (cp == 0)
				return fail(ps, "NUL in string");
			if (cp < 0x80) {
				put(out, cap, &n, (unsigned char)cp);
			} else if (cp < 0x800) {
				put(out, cap, &n, (unsigned char)(0xC0 | cp >> 6));
				put(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
			} else if (cp < 0x10000) {
				put(out, cap, &n, (unsigned char)(0xE0 | cp >> 12));
				put(out, cap, &n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
				put(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
			} else {
				put(out, cap, &n, (unsigned char)(0xF0 | cp >> 18));
				put(out, cap, &n, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
				put(out, cap, &n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
				put(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
			}
			break;
		}
		default:
			return fail(ps, "bad escape in string");
		}
	}
	if (out && cap)
		out[n < cap ? n : cap - 1] = '\0';
	return 0;
}

/* A JSON number; *out is set only when it is a non-negative integer that fits. */
static int parse_number(struct parser *ps, uint64_t *out, int *is_u64)
{
	const char *p;
	uint64_t v = 0;
	int neg = 0, integer = 1, overflow = 0;

	skip_ws(ps);
	p = ps->p;
	if (p < ps->end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= ps->end || *p < '0' || *p > '9')
		return fail(ps, "expected a value");
	if (*p == '0' && p + 1 < ps->end && p[1] >= '0' && p[1] <= '9')
		return fail(ps, "leading zero in number");
	for (; p < ps->end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = 1;
		v = v * 10 + d;
	}
	if (p < ps->end && *p == '.') {
		integer = 0;
		if (++p >= ps->end || *p < '0' || *p > '9')
			return fail(ps, "bad number");
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		integer = 0;
		p++;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= ps->end || *p < '0' || *p > '9')
			return fail(ps, "bad number");
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	ps->p = p;
	*is_u64 = integer && !overflow && (!neg || v == 0);
	*out = v;
	return 0;
}

static int parse_u64(struct parser *ps, uint64_t *out)
{
	int ok;

	skip_ws(ps);
	if (ps->p >= ps->end || (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9')))
		return fail(ps, "expected a non-negative integer");
	if (parse_number(ps, out, &ok) != 0)
		return -1;
	return ok ? 0 : fail(ps, "expected a non-negative integer");
}

static int match_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
		return fail(ps, "expected a value");
	ps->p += n;
	return 0;
}

/* Reads one member of an object (key: its name, read up to its ':') or one
 * element of an array (key: ""); ctx is the caller's. */
typedef int (*item_fn)(struct parser *ps, void *ctx, const char *key);

/* An object (open '{') or an array (open '['), from its opening character
 * to past its closing one, each member or element read by item.  A key
 * longer than the buffer is cut, which only the skipped ones can be. */
static int parse_items(struct parser *ps, char open, item_fn item, void *ctx)
{
	char close = open == '{' ? '}' : ']', key[64] = "";

	if (expect(ps, open) != 0)
		return -1;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (open == '{' && (parse_string(ps, key, sizeof key) || expect(ps, ':')))
			return -1;
		if (item(ps, ctx, key) != 0)
			return -1;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		return expect(ps, close);
	}
}

static int skip_value(struct parser *ps, int depth);

static int skip_item(struct parser *ps, void *ctx, const char *key)
{
	return skip_value(ps, *(const int *)ctx + 1);
}

static int skip_value(struct parser *ps, int depth)
{
	uint64_t v;
	int ok;

	if (depth > MAX_DEPTH)
		return fail(ps, "nested too deeply");
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "expected a value");
	switch (*ps->p) {
	case '"':
		return parse_string(ps, NULL, 0);
	case '{':
	case '[':
		return parse_items(ps, *ps->p, skip_item, &depth);
	case 't': return match_word(ps, "true");
	case 'f': return match_word(ps, "false");
	case 'n': return match_word(ps, "null");
	default: return parse_number(ps, &v, &ok);
	}
}

static int set_reason(struct zt_record *r, const char *name, uint64_t v, int bytes)
{
	size_t i;
	struct zt_reason *nv;

	for (i = 0; i < r->nreasons; i++)
		if (strcmp(r->reasons[i].name, name) == 0)
			break;
	if (i == r->nreasons) {
		nv = realloc(r->reasons, (r->nreasons + 1) * sizeof *nv);
		if (!nv)
			return -1;
		r->reasons = nv;
		memset(&nv[i], 0, sizeof nv[i]);
		snprintf(nv[i].name, sizeof nv[i].name, "%s", name);
		r->nreasons++;
	}
	if (bytes)
		r->reasons[i].bytes = v;
	else
		r->reasons[i].count = v;
	return 0;
}

enum table { T_TRANSFERS, T_FALLBACKS, T_FALLBACK_BYTES };

struct table_ctx {
	struct zt_record *r;
	enum table t;
};

/* One name -> integer of a table. */
static int table_item(struct parser *ps, void *ctx, const char *name)
{
	struct table_ctx *tc = ctx;
	uint64_t v;

	if (parse_u64(ps, &v))
		return -1;
	if (tc->t == T_TRANSFERS) {
		for (size_t i = 0; i < 3; i++)
			if (strcmp(name, zt_transfer_keys[i]) == 0)
				tc->r->transfers[i] = v;
	} else if (set_reason(tc->r, name, v, tc->t == T_FALLBACK_BYTES) != 0) {
		return fail(ps, "out of memory");
	}
	return 0;
}

/* An object of name -> integer. */
static int parse_table(struct parser *ps, struct zt_record *r, enum table t)
{
	struct table_ctx tc = { r, t };
	return parse_items(ps, '{', table_item, &tc);
}

/* One member of a stream object; unknown keys are skipped. */
static int stream_item(struct parser *ps, void *ctx, const char *key)
{
	struct zt_stream *st = ctx;

	if (strcmp(key, ZCOPY_STREAM_SRC) == 0)
		return parse_string(ps, st->src, sizeof st->src);
	if (strcmp(key, ZCOPY_STREAM_DST_KIND) == 0)
		return parse_string(ps, st->dst_kind, sizeof st->dst_kind);
	if (strcmp(key, ZCOPY_STREAM_DST) == 0)
		return parse_string(ps, st->dst, sizeof st->dst);
	if (strcmp(key, ZCOPY_STREAM_ZERO_COPY) == 0)
		return parse_u64(ps, &st->bytes_zero_copy);
	if (strcmp(key, ZCOPY_STREAM_COPIED) == 0)
		return parse_u64(ps, &st->bytes_copied);
	if (strcmp(key, ZCOPY_STREAM_WOULD) == 0)
		return parse_u64(ps, &st->would_zero_copy_bytes);
	if (strcmp(key, ZCOPY_STREAM_PRIMITIVE) == 0)
		return parse_string(ps, st->primitive, sizeof st->primitive);
	if (strcmp(key, ZCOPY_STREAM_FALLBACK) == 0)
		return parse_string(ps, st->fallback, sizeof st->fallback);
	return skip_value(ps, 2);
}

/* One element of "streams": a stream object, added to the record. */
static int streams_item(struct parser *ps, void *ctx, const char *key)
{
	struct zt_record *r = ctx;
	struct zt_stream *nv = realloc(r->streams, (r->nstreams + 1) * sizeof *nv);

	if (!nv)
		return fail(ps, "out of memory");
	r->streams = nv;
	memset(&nv[r->nstreams], 0, sizeof *nv);
	return parse_items(ps, '{', stream_item, &nv[r->nstreams++]);
}

static void mark(struct zt_record *r, const char *key)
{
	for (unsigned i = 0; zt_record_keys[i]; i++)
		if (strcmp(zt_record_keys[i], key) == 0)
			r->have |= 1u << i;
}

struct record_ctx {
	struct zt_record *r;
	int have_pid;
};

/* One member of the record. */
static int record_item(struct parser *ps, void *ctx, const char *key)
{
	struct zt_record *r = ((struct record_ctx *)ctx)->r;
	static const struct {
		const char *key;
		size_t off;
	} counters[] = {
		{ZCOPY_STAT_BYTES_ZERO_COPY, offsetof(struct zt_record, bytes_zero_copy)},
		{ZCOPY_STAT_BYTES_COPIED, offsetof(struct zt_record, bytes_copied)},
		{ZCOPY_STAT_PHANTOM_READS, offsetof(struct zt_record, phantom_reads)},
		{ZCOPY_STAT_MATERIALIZED, offsetof(struct zt_record, materialized_bytes)},
		{ZCOPY_STAT_WOULD_ZERO_COPY, offsetof(struct zt_record, would_zero_copy_bytes)},
		{ZCOPY_STAT_GUARD, offsetof(struct zt_record, guard)},
		{ZCOPY_STAT_WOULD_GUARD, offsetof(struct zt_record, would_guard_bytes)},
		{ZCOPY_STAT_PIPE_READS, offsetof(struct zt_record, pipe_reads)},
	};
	uint64_t v;
	size_t i;

	mark(r, key);
	for (i = 0; i < sizeof counters / sizeof counters[0]; i++)
		if (strcmp(key, counters[i].key) == 0)
			return parse_u64(ps, (uint64_t *)((char *)r + counters[i].off));
	if (strcmp(key, ZCOPY_STAT_PID) == 0) {
		if (parse_u64(ps, &v) != 0)
			return -1;
		if (v > (uint64_t)0x7fffffff)
			return fail(ps, "pid out of range");
		r->pid = (long)v;
		((struct record_ctx *)ctx)->have_pid = 1;
		return 0;
	}
	if (strcmp(key, ZCOPY_STAT_EXE) == 0)
		return parse_string(ps, r->exe, sizeof r->exe);
	if (strcmp(key, ZCOPY_STAT_MODE) == 0)
		return parse_string(ps, r->mode, sizeof r->mode);
	if (strcmp(key, ZCOPY_STAT_TRANSFERS) == 0)
		return parse_table(ps, r, T_TRANSFERS);
	if (strcmp(key, ZCOPY_STAT_FALLBACKS) == 0)
		return parse_table(ps, r, T_FALLBACKS);
	if (strcmp(key, ZCOPY_STAT_FALLBACK_BYTES) == 0)
		return parse_table(ps, r, T_FALLBACK_BYTES);
	if (strcmp(key, ZCOPY_STAT_STREAMS) == 0)
		return parse_items(ps, '[', streams_item, r);
	return skip_value(ps, 1);
}

int zt_record_parse(const char *line, size_t len, struct zt_record *r, const char **why,
		    size_t *where)
{
	struct parser ps = {line, line + len, NULL};
	struct record_ctx rec = {r, 0};
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (memchr(line, '\0', len)) {
		ps.why = "NUL byte in line";
		ps.p = memchr(line, '\0', len);
		goto out;
	}
	if (parse_items(&ps, '{', record_item, &rec) != 0)
		goto out;
	skip_ws(&ps);
	if (ps.p != ps.end)
		fail(&ps, "text after the record");
	else if (!rec.have_pid)
		fail(&ps, "no pid");
	else
		rc = 0;
out:
	if (rc != 0) {
		zt_record_free(r);
		memset(r, 0, sizeof *r);
	}
	if (why)
		*why = ps.why;
	if (where)
		*where = (size_t)(ps.p - line);
	return rc;
}

void zt_record_free(struct zt_record *r)
{
	free(r->reasons);
	r->reasons = NULL;
	r->nreasons = 0;
	free(r->streams);
	r->streams = NULL;
	r->nstreams = 0;
}

int zt_record_add(struct zt_record *dst, const struct zt_record *src)
{
	size_t i, j;

	dst->bytes_zero_copy += src->bytes_zero_copy;
	dst->bytes_copied += src->bytes_copied;
	dst->phantom_reads += src->phantom_reads;
	dst->materialized_bytes += src->materialized_bytes;
	dst->would_zero_copy_bytes += src->would_zero_copy_bytes;
	dst->would_guard_bytes += src->would_guard_bytes;
	dst->pipe_reads += src->pipe_reads;
	for (i = 0; i < 3; i++)
		dst->transfers[i] += src->transfers[i];
	for (i = 0; i < src->nreasons; i++) {
		const struct zt_reason *s = &src->reasons[i];
		for (j = 0; j < dst->nreasons; j++)
			if (strcmp(dst->reasons[j].name, s->name) == 0)
				break;
		if (j == dst->nreasons && set_reason(dst, s->name, 0, 0) != 0)
			return -1;
		dst->reasons[j].count += s->count;
		dst->reasons[j].bytes += s->bytes;
	}
	return 0;
}

static int by_weight(const void *a, const void *b)
{
	const struct zt_reason *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

void zt_record_sort_reasons(struct zt_record *r)
{
	if (r->nreasons > 1)
		qsort(r->reasons, r->nreasons, sizeof *r->reasons, by_weight);
}

static int known_reason(const char *name)
{
	static const char *const reasons[] = {ZCOPY_FALLBACK_REASONS};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (strcmp(reasons[i], name) == 0)
			return 1;
	return 0;
}

int zt_record_get(const struct zt_record *r, const char *key, uint64_t *v)
{
	static const size_t off[] = {
		[K_GUARD] = offsetof(struct zt_record, guard),
		[K_ZERO_COPY] = offsetof(struct zt_record, bytes_zero_copy),
		[K_COPIED] = offsetof(struct zt_record, bytes_copied),
		[K_PHANTOM] = offsetof(struct zt_record, phantom_reads),
		[K_MATERIALIZED] = offsetof(struct zt_record, materialized_bytes),
		[K_WOULD] = offsetof(struct zt_record, would_zero_copy_bytes),
		[K_WOULD_GUARD] = offsetof(struct zt_record, would_guard_bytes),
		[K_PIPE_READS] = offsetof(struct zt_record, pipe_reads),
	};
	const char *dot = strchr(key, '.');
	size_t top = dot ? (size_t)(dot - key) : strlen(key);
	unsigned k;

	*v = 0;
	for (k = 0; zt_record_keys[k]; k++)
		if (strlen(zt_record_keys[k]) == top && strncmp(zt_record_keys[k], key, top) == 0)
			break;
	if (!zt_record_keys[k])
		return -1;
	if (!dot) {
		/* The strings and the tables have no one number. */
		if (k == K_EXE || k == K_MODE || k == K_TRANSFERS || k == K_FALLBACKS ||
		    k == K_FALLBACK_BYTES)
			return -1;
		if (k == K_PID)
			*v = (uint64_t)r->pid;
		else
			*v = *(const uint64_t *)((const char *)r + off[k]);
		return r->have >> k & 1;
	}
	const char *name = dot + 1;
	if (k == K_TRANSFERS) {
		for (size_t i = 0; i < 3; i++)
			if (strcmp(name, zt_transfer_keys[i]) == 0) {
				*v = r->transfers[i];
				return r->have >> k & 1;
			}
		return -1;
	}
	if ((k != K_FALLBACKS && k != K_FALLBACK_BYTES) || !known_reason(name))
		return -1;
	for (size_t i = 0; i < r->nreasons; i++)
		if (strcmp(r->reasons[i].name, name) == 0) {
			*v = k == K_FALLBACKS ? r->reasons[i].count : r->reasons[i].bytes;
			return 1;
		}
	return 0;
}

const char *zt_reason_desc(const char *name)
{
#define ZT_REASON(e, key, desc) {key, desc},
	static const struct {
		const char *key, *desc;
	} reasons[] = {ZC_FALLBACK_LIST(ZT_REASON)};
#undef ZT_REASON
	size_t i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (strcmp(reasons[i].key, name) == 0)
			return reasons[i].desc;
	return NULL;
}

long zt_records_load(const char *path, struct zt_records *out)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;

	out->v = NULL;
	out->n = 0;
	if (!f) {
		zt_err(errno, "cannot read stats file %s", path);
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct zt_record r, *nv;
		const char *why;
		size_t where, i;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		for (i = 0; i < (size_t)len && (line[i] == ' ' || line[i] == '\t'); i++)
			;
		if (i == (size_t)len)
			continue;
		if (zt_record_parse(line, (size_t)len, &r, &why, &where) != 0) {
			zt_err(0, "%s:%zu: skipping a malformed stats record (%s at byte %zu)",
			       path, lineno, why ? why : "?", where + 1);
			continue;
		}
		nv = realloc(out->v, (out->n + 1) * sizeof *nv);
		if (!nv) {
			zt_record_free(&r);
			zt_err(ENOMEM, "reading %s", path);
			break;
		}
		out->v = nv;
		out->v[out->n++] = r;
	}
	free(line);
	fclose(f);
	return (long)out->n;
}

void zt_records_free(struct zt_records *rs)
{
	size_t i;
	for (i = 0; i < rs->n; i++)
		zt_record_free(&rs->v[i]);
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

void zt_human_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void zt_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
