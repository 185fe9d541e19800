/*
 * json.c - a recursive-descent JSON checker (see json.h).  Test code only.
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

struct parser {
	const char *s;
	size_t len, pos;
	struct json_doc *d;
	int depth;
};

static int fail(struct parser *p, const char *why)
{
	if (!p->d->err) {
		p->d->err = why;
		p->d->err_at = p->pos;
	}
	return -1;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

static int literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, "bad literal");
	p->pos += n;
	return 0;
}

static int is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence that is not ASCII, strictly (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8(struct parser *p)
{
	const unsigned char *u = (const unsigned char *)p->s + p->pos;
	size_t avail = p->len - p->pos, n;
	unsigned cp, min;

	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2, min = 0x80, cp = u[0] & 0x1f;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3, min = 0x800, cp = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4, min = 0x10000, cp = u[0] & 0x07;
	else
		return fail(p, "invalid UTF-8 lead byte");
	if (avail < n)
		return fail(p, "truncated UTF-8 sequence");
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return fail(p, "invalid UTF-8 continuation byte");
		cp = (cp << 6) | (u[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(p, "invalid UTF-8 code point");
	p->pos += n;
	return 0;
}

static int string(struct parser *p)
{
	if (peek(p) != '"')
		return fail(p, "expected a string");
	p->pos++;
	for (;;) {
		int c = peek(p);
		if (c < 0)
			return fail(p, "unterminated string");
		if (c == '"') {
			p->pos++;
			return 0;
		}
		if (c < 0x20)
			return fail(p, "control byte in a string");
		if (c == '\\') {
			p->pos++;
			c = peek(p);
			if (c == 'u') {
				for (int i = 1; i <= 4; i++)
					if (p->pos + i >= p->len || !is_hex((unsigned char)p->s[p->pos + i]))
						return fail(p, "bad \\u escape");
				p->pos += 5;
			} else if (c >= 0 && strchr("\"\\/bfnrt", c) && c) {
				p->pos++;
			} else {
				return fail(p, "bad escape");
			}
			continue;
		}
		if (c >= 0x80) {
			if (utf8(p) < 0)
				return -1;
			continue;
		}
		p->pos++;
	}
}

static int number(struct parser *p)
{
	size_t start = p->pos;
	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0') {
		p->pos++;
	} else if (peek(p) >= '1' && peek(p) <= '9') {
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	} else {
		return fail(p, "bad number");
	}
	if (peek(p) == '.') {
		p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return fail(p, "bad fraction");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return fail(p, "bad exponent");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	return p->pos > start ? 0 : fail(p, "bad number");
}

static int value(struct parser *p, const char *path);

/* Skips blanks; then, if the next character is c, consumes it and returns 1. */
static int eat(struct parser *p, char c)
{
	skip_ws(p);
	if (peek(p) != c)
		return 0;
	p->pos++;
	return 1;
}

/* After a member or an element: 1 when a ',' says another follows, 0 when
 * close ends the object or array, -1 on anything else. */
static int next(struct parser *p, char close)
{
	if (eat(p, ','))
		return 1;
	if (eat(p, close))
		return 0;
	return fail(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* One member of an object: "key": value, recorded under path.key. */
static int member(struct parser *p, const char *path)
{
	char sub[128];
	skip_ws(p);
	size_t kstart = p->pos + 1;
	if (string(p) < 0)
		return -1;
	size_t klen = p->pos - 1 - kstart;
	int n = snprintf(sub, sizeof sub, "%s%s%.*s", path, *path ? "." : "", (int)klen,
			 p->s + kstart);
	if (n < 0 || (size_t)n >= sizeof sub)
		return fail(p, "path too long for the checker");
	if (!eat(p, ':'))
		return fail(p, "expected ':'");
	return value(p, sub);
}

/* An object (item: member, close: '}') or an array (item: value, close:
 * ']'), from its opening character on; the elements of an array share its
 * path. */
static int items(struct parser *p, const char *path, char close,
		 int (*item)(struct parser *, const char *))
{
	int r;

	p->pos++; /* '{' or '[' */
	if (eat(p, close))
		return 0;
	for (;;) {
		if (item(p, path) < 0)
			return -1;
		if ((r = next(p, close)) <= 0)
			return r;
	}
}

/* A value; path != "" means it is an object member, recorded in order
 * before its own members. */
static int value(struct parser *p, const char *path)
{
	struct json_member *m = NULL;
	int r;

	if (++p->depth > 32)
		return fail(p, "nested too deeply");
	skip_ws(p);
	if (*path) {
		if (p->d->n >= JSON_MAX_MEMBERS)
			return fail(p, "too many members for the checker");
		m = &p->d->m[p->d->n++];
		snprintf(m->path, sizeof m->path, "%s", path);
		m->val = p->s + p->pos;
	}
	switch (peek(p)) {
	case '{':
		r = items(p, path, '}', member);
		break;
	case '[':
		r = items(p, path, ']', value);
		break;
	case '"':
		r = string(p);
		break;
	case 't':
		r = literal(p, "true");
		break;
	case 'f':
		r = literal(p, "false");
		break;
	case 'n':
		r = literal(p, "null");
		break;
	default:
		r = number(p);
		break;
	}
	if (m)
		m->len = (size_t)(p->s + p->pos - m->val);
	p->depth--;
	return r;
}

int json_check(const char *text, size_t len, struct json_doc *d)
{
	struct parser p = { text, len, 0, d, 0 };
	memset(d, 0, sizeof *d);
	if (value(&p, "") < 0)
		return -1;
	skip_ws(&p);
	if (p.pos != len)
		return fail(&p, "text after the value");
	return 0;
}

const struct json_member *json_get(const struct json_doc *d, const char *path)
{
	int i = json_index(d, path);
	return i < 0 ? NULL : &d->m[i];
}

int json_index(const struct json_doc *d, const char *path)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->m[i].path, path) == 0)
			return i;
	return -1;
}

int json_count(const struct json_doc *d, const char *path)
{
	int n = 0;
	for (int i = 0; i < d->n; i++)
		n += strcmp(d->m[i].path, path) == 0;
	return n;
}

int json_is(const struct json_doc *d, const char *path, const char *val)
{
	const struct json_member *m = json_get(d, path);
	return m && m->len == strlen(val) && memcmp(m->val, val, m->len) == 0;
}
