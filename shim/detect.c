/*
 * detect.c - stream detection and back-off (see detect.h for the model).
 *
 * Invariants: a slot with fd == -1 is free; an engaged stream has pairs >=
 * ZC_ENGAGE_PAIRS and skip == 0; the detector never calls the kernel.
 */
#include "detect.h"

#include <string.h>

static void reset(struct zc_stream *s)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->why = -1;
	s->refused = -1;
	s->next_off = -1;
}

void zc_det_init(struct zc_detector *d)
{
	memset(d, 0, sizeof *d);
	for (int i = 0; i < ZC_STREAMS; i++)
		reset(&d->s[i]);
}

struct zc_stream *zc_det_lookup(struct zc_detector *d, int fd, uintptr_t buf)
{
	for (int i = 0; i < ZC_STREAMS; i++)
		if (d->s[i].fd == fd && d->s[i].buf == buf && !d->s[i].orphan)
			return &d->s[i];
	return NULL;
}

/* The stream of (fd, buf), or an orphan of fd that buf takes over. */
static struct zc_stream *lookup_or_adopt(struct zc_detector *d, int fd, uintptr_t buf)
{
	struct zc_stream *s = zc_det_lookup(d, fd, buf), *o = NULL;
	if (s)
		return s;
	for (int i = 0; i < ZC_STREAMS; i++)
		if (d->s[i].fd == fd && d->s[i].orphan && (!o || d->s[i].last_use > o->last_use))
			o = &d->s[i];
	if (o) {
		o->orphan = 0;
		o->adopted = 1;
		o->buf = buf;
		o->buf_bad = 0;
		o->buf_ok_len = 0;
	}
	return o;
}


enum zc_read_verdict zc_det_before_read(struct zc_detector *d, int fd, uintptr_t buf)
{
	struct zc_stream *s = lookup_or_adopt(d, fd, buf);
	if (!s)
		return ZC_READ_PLAIN;
	if (s->skip) {
		s->skip--;
		return ZC_READ_BACKOFF;
	}
	return s->engaged ? ZC_READ_DEFER : ZC_READ_PLAIN;
}

void zc_det_after_read(struct zc_detector *d, int fd, uintptr_t buf, size_t len, int deferred)
{
	struct zc_stream *s = lookup_or_adopt(d, fd, buf);
	if (!s) {
		/* Take a free slot, else the least recently used one. */
		s = &d->s[0];
		for (int i = 0; i < ZC_STREAMS; i++) {
			if (d->s[i].fd == -1) {
				s = &d->s[i];
				break;
			}
			if (d->s[i].last_use < s->last_use)
				s = &d->s[i];
		}
		reset(s);
		s->fd = fd;
		s->buf = buf;
	} else if (!s->paired && !s->skip) {
		/* The previous read was never written out: not a copy loop (yet). */
		s->pairs = 0;
		if (!s->deferred)
			s->engaged = 0;
	}
	s->len = len;
	s->paired = 0;
	s->deferred = deferred != 0;
	s->last_use = ++d->clock;
}

struct zc_stream *zc_det_find(struct zc_detector *d, uintptr_t buf, size_t n)
{
	if (n == 0)
		return NULL;
	struct zc_stream *best = NULL;
	for (int i = 0; i < ZC_STREAMS; i++) {
		struct zc_stream *s = &d->s[i];
		if (s->fd < 0 || s->len == 0)
			continue;
		if (buf >= s->buf && buf - s->buf <= s->len && n <= s->len - (buf - s->buf))
			if (!best || s->last_use > best->last_use)
				best = s;
	}
	return best;
}

struct zc_stream *zc_det_on_write(struct zc_detector *d, uintptr_t buf, size_t n)
{
	struct zc_stream *s = zc_det_find(d, buf, n);
	if (!s || s->paired)
		return s;
	s->paired = 1;
	if (s->skip)
		return s;
	if (s->pairs < UINT32_MAX)
		s->pairs++;
	if (s->pairs >= ZC_ENGAGE_PAIRS)
		s->engaged = 1;
	if (s->deferred && ++s->calm >= ZC_CALM_ROUNDS) {
		s->calm = 0;
		if (s->level)
			s->level--;
	}
	return s;
}

struct zc_stream *zc_det_on_refused_write(struct zc_detector *d, uintptr_t buf, size_t n)
{
	struct zc_stream *s = zc_det_find(d, buf, n);
	if (s) {
		s->paired = 1;
		s->pairs = 0;
		s->engaged = 0;
	}
	return s;
}

void zc_det_touched(struct zc_detector *d, struct zc_stream *s)
{
	(void)d;
	if (!s)
		return;
	if (s->level < ZC_BACKOFF_MAX)
		s->level++;
	s->skip = 1u << s->level;
	s->engaged = 0;
	s->pairs = 0;
	s->calm = 0;
}

void zc_det_forget_fd(struct zc_detector *d, int fd)
{
	for (int i = 0; i < ZC_STREAMS; i++)
		if (d->s[i].fd == fd)
			reset(&d->s[i]);
}

void zc_det_forget_range(struct zc_detector *d, uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < ZC_STREAMS; i++) {
		struct zc_stream *s = &d->s[i];
		if (s->fd >= 0 && s->buf < hi && s->buf + (s->len ? s->len : 1) > lo)
			reset(s);
	}
}

void zc_det_release_range(struct zc_detector *d, uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < ZC_STREAMS; i++) {
		struct zc_stream *s = &d->s[i];
		if (s->fd >= 0 && !s->orphan && s->buf < hi && s->buf + (s->len ? s->len : 1) > lo) {
			s->orphan = 1;
			s->buf = 0;
			s->len = 0; /* no write can pair with freed memory */
		}
	}
}
