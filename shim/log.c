/*
 * log.c - the diagnostics channel and the formatter shared with stats.c.
 *
 * Everything here is async-signal-safe: messages are formatted into a stack
 * buffer and leave in one write(2), so lines from threads, signal handlers
 * and processes sharing the file never interleave mid-line.  Logging never
 * changes errno: a program that checks errno after a call we wrapped must see
 * what the call left there.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "real.h"

int zc_log_level;

/* Where messages go; 2 until zc_log_open says otherwise. */
static int log_fd = 2;
/* The log file we opened, so a message never goes into another file that
 * took its fd number after the program closed ours (closefrom, close_range). */
static int log_is_file;
static dev_t log_dev;
static ino_t log_ino;

/* A log file kept at a low number would change which fd the program's next
 * open() returns, and programs do depend on that (shells, daemons that
 * assume 0..2 are theirs): so it lives above the range programs use. */
#define LOG_FD_FLOOR 512

/* ---- formatter ---------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap, len; /* len < cap always: room is kept for the NUL */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len++] = c;
}

static void put_str(struct out *o, const char *s)
{
	while (*s && o->len + 1 < o->cap)
		o->buf[o->len++] = *s++;
}

static void put_unsigned(struct out *o, unsigned long long v, unsigned base)
{
	char tmp[24];
	size_t n = 0;
	do
		tmp[n++] = "0123456789abcdef"[v % base];
	while ((v /= base) != 0);
	while (n > 0)
		put(o, tmp[--n]);
}

static void put_signed(struct out *o, long long v)
{
	if (v < 0) {
		put(o, '-');
		/* Negate in unsigned arithmetic so LLONG_MIN does not overflow. */
		put_unsigned(o, 0ULL - (unsigned long long)v, 10);
	} else {
		put_unsigned(o, (unsigned long long)v, 10);
	}
}

enum length { LEN_HH, LEN_H, LEN_INT, LEN_L, LEN_LL, LEN_Z };

static long long arg_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH:
		return (signed char)va_arg(*ap, int);
	case LEN_H:
		return (short)va_arg(*ap, int);
	case LEN_L:
		return va_arg(*ap, long);
	case LEN_LL:
		return va_arg(*ap, long long);
	case LEN_Z:
		return va_arg(*ap, ssize_t);
	default:
		return va_arg(*ap, int);
	}
}

static unsigned long long arg_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH:
		return (unsigned char)va_arg(*ap, unsigned);
	case LEN_H:
		return (unsigned short)va_arg(*ap, unsigned);
	case LEN_L:
		return va_arg(*ap, unsigned long);
	case LEN_LL:
		return va_arg(*ap, unsigned long long);
	case LEN_Z:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned);
	}
}

size_t zc_vfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct out o = { buf, cap, 0 };
	va_list aq;

	if (cap == 0)
		return 0;
	/* Copied so the helpers can take it by pointer on every ABI. */
	va_copy(aq, ap);
	for (const char *p = fmt; *p; p++) {
		const char *spec = p;
		enum length len = LEN_INT;

		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		p++;
		/* Flags, width and precision do not matter for diagnostics. */
		while (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '.' ||
		       (*p >= '0' && *p <= '9'))
			p++;
		if (*p == 'h') {
			len = LEN_H;
			if (*++p == 'h')
				len = LEN_HH, p++;
		} else if (*p == 'l') {
			len = LEN_L;
			if (*++p == 'l')
				len = LEN_LL, p++;
		} else if (*p == 'z') {
			len = LEN_Z, p++;
		}
		switch (*p) {
		case 's': {
			const char *s = va_arg(aq, const char *);
			put_str(&o, s ? s : "(null)");
			break;
		}
		case 'c':
			put(&o, (char)va_arg(aq, int));
			break;
		case 'd':
		case 'i':
			put_signed(&o, arg_signed(&aq, len));
			break;
		case 'u':
			put_unsigned(&o, arg_unsigned(&aq, len), 10);
			break;
		case 'x':
			put_unsigned(&o, arg_unsigned(&aq, len), 16);
			break;
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(aq, void *);
			if (v == 0) {
				put_str(&o, "(nil)");
			} else {
				put_str(&o, "0x");
				put_unsigned(&o, v, 16);
			}
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			/* Unknown conversion: show it as written, consume nothing. */
			for (const char *q = spec; q < p; q++)
				put(&o, *q);
			if (!*p)
				p--; /* the format ended inside the conversion */
			else
				put(&o, *p);
			break;
		}
	}
	va_end(aq);
	buf[o.len] = '\0';
	return o.len;
}

size_t zc_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = zc_vfmt(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- destination -------------------------------------------------------- */

static int still_ours(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino;
}

void zc_log_open(const char *file_template, int level)
{
	int saved = errno;

	zc_log_close();
	zc_log_level = level;
	log_fd = 2;
	if (level <= 0 || !file_template || !*file_template) {
		errno = saved;
		return;
	}

	char path[ZC_PATH_MAX];
	int fd = -1;
	if (zc_expand_path(path, sizeof path, file_template, (long)getpid()) == 0)
		fd = REAL(open)(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0 && fd < LOG_FD_FLOOR) {
		int high = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, LOG_FD_FLOOR);
		if (high >= 0) {
			REAL(close)(fd);
			fd = high;
		}
	}
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) == 0) {
			log_dev = st.st_dev;
			log_ino = st.st_ino;
			log_fd = fd;
			log_is_file = 1;
		} else {
			REAL(close)(fd);
			fd = -1;
		}
	}
	errno = saved;
	if (fd < 0)
		zc_log_msg(1, "cannot open log file %s; logging to stderr", file_template);
}

int zc_log_own_fd(void)
{
	return log_is_file ? log_fd : -1;
}

void zc_log_close(void)
{
	int saved = errno;
	if (log_is_file && still_ours(log_fd))
		REAL(close)(log_fd);
	log_fd = -1;
	log_is_file = 0;
	zc_log_level = 0;
	errno = saved;
}

void zc_log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	size_t n;
	va_list ap;
	int fd = log_fd;
	int saved = errno;

	if (fd < 0 || level > zc_log_level)
		return;
	if (log_is_file && !still_ours(fd)) {
		errno = saved;
		return;
	}
	n = zc_fmt(line, sizeof line, "zcopy[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	n += zc_vfmt(line + n, sizeof line - n - 1, fmt, ap); /* keeps room for '\n' */
	va_end(ap);
	line[n++] = '\n';
	while (REAL(write)(fd, line, n) < 0 && errno == EINTR)
		;
	errno = saved;
}
