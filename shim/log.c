/*
 * log.c - the diagnostics channel and the formatter shared with stats.c.
 *
 * Everything here is async-signal-safe: messages are formatted into a stack
 * buffer and leave in one write(2), so lines from threads, signal handlers
 * and processes sharing the file never interleave mid-line; that write
 * (zc_write_quietly, also the stats record's) raises no SIGPIPE or SIGXFSZ
 * of its own.  (A log file that is not kept open is opened per message
 * through ownfd.c, whose lock is held only with signals blocked.)  Logging
 * never changes errno: a program that checks errno after a call we wrapped
 * must see what the call left there.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "config.h"
#include "ownfd.h"
#include "real.h"

int zc_log_level;

/* Where messages go: fd 2 unless log_is_file.  The log file is one of
 * zcopy's own descriptors (ownfd.c): it sits above the program's numbers and
 * follows dup2/close_range; log_fd is its slot, -1 after the program's
 * closefrom took it (then, or when RLIMIT_NOFILE is too small to keep one,
 * each message opens the file again). */
static int log_fd = 2;
static int log_is_file;
static int log_keep; /* keep the file open between messages */
static dev_t log_dev;
static ino_t log_ino;
/* ZCOPY_LOG_FILE made absolute at start-up: a forked child that opens its
 * own (%p) file after the program changed directory finds the same place. */
static char log_tmpl[4096];
static char log_tmpl_given[ZC_PATH_MAX]; /* the template it was made from */

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

/* Moves *pp past the flags, width and precision of a conversion (they do
 * not matter for diagnostics) and its length modifier; returns the
 * length. */
static enum length parse_length(const char **pp)
{
	const char *p = *pp;
	enum length len = LEN_INT;
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
	*pp = p;
	return len;
}

static void put_pointer(struct out *o, uintptr_t v)
{
	if (v == 0) {
		put_str(o, "(nil)");
		return;
	}
	put_str(o, "0x");
	put_unsigned(o, v, 16);
}

/* Writes one conversion and takes its argument; returns 0, taking
 * nothing, for a conversion zc_vfmt does not know. */
static int convert(struct out *o, char conv, enum length len, va_list *ap)
{
	switch (conv) {
	case 's': {
		const char *s = va_arg(*ap, const char *);
		put_str(o, s ? s : "(null)");
		return 1;
	}
	case 'c':
		put(o, (char)va_arg(*ap, int));
		return 1;
	case 'd':
	case 'i':
		put_signed(o, arg_signed(ap, len));
		return 1;
	case 'u':
		put_unsigned(o, arg_unsigned(ap, len), 10);
		return 1;
	case 'x':
		put_unsigned(o, arg_unsigned(ap, len), 16);
		return 1;
	case 'p':
		put_pointer(o, (uintptr_t)va_arg(*ap, void *));
		return 1;
	case '%':
		put(o, '%');
		return 1;
	default:
		return 0;
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
		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		p++;
		enum length len = parse_length(&p);
		if (convert(&o, *p, len, &aq))
			continue;
		/* Unknown conversion: show it as written, consume nothing. */
		for (const char *q = spec; q < p; q++)
			put(&o, *q);
		if (!*p)
			p--; /* the format ended inside the conversion */
		else
			put(&o, *p);
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

/* ---- one quiet write ------------------------------------------------------ */

void zc_write_quietly(int fd, const void *p, size_t n)
{
	/* One call: a second write for a short count could interleave with
	 * another process's line, so a short count is left short.  A reader
	 * that is gone must not kill the process with SIGPIPE for a line it
	 * never asked for, nor a file at the file size limit with SIGXFSZ:
	 * both are held, and one the write raised taken back (one already
	 * pending is the program's, and stays).  (A line that crosses the
	 * limit is cut there, as any write is.) */
	static const int quiet[] = { SIGPIPE, SIGXFSZ };
	sigset_t held, old, pending;
	int was[2] = { 1, 1 };
	int saved = errno;
	sigemptyset(&held);
	for (int i = 0; i < 2; i++)
		sigaddset(&held, quiet[i]);
	REAL(pthread_sigmask)(SIG_BLOCK, &held, &old);
	if (sigpending(&pending) == 0) /* only what this write adds is taken */
		for (int i = 0; i < 2; i++)
			was[i] = sigismember(&pending, quiet[i]);
	while (REAL(write)(fd, p, n) < 0 && errno == EINTR)
		;
	if ((!was[0] || !was[1]) && sigpending(&pending) == 0) {
		for (int i = 0; i < 2; i++) {
			sigset_t one;
			struct timespec now = { 0, 0 };
			sigemptyset(&one);
			sigaddset(&one, quiet[i]);
			if (!was[i] && sigismember(&pending, quiet[i]))
				sigtimedwait(&one, NULL, &now);
		}
	}
	REAL(pthread_sigmask)(SIG_SETMASK, &old, NULL);
	errno = saved;
}

/* ---- destination -------------------------------------------------------- */

static int still_ours(int fd)
{
	struct stat st;
	return zc_fstat(fd, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino;
}

/* Opens this process's log file into *slot; -1 if refused or unwritable. */
static int open_log_file(int *slot)
{
	char path[sizeof log_tmpl + 32];
	if (zc_expand_path(path, sizeof path, log_tmpl, (long)getpid()) != 0)
		return -1;
	return zc_ownfd_open_output(path, slot);
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
	/* Resolved at start-up; a forked child reopening the same template
	 * reuses it. */
	if (!log_tmpl[0] || strncmp(log_tmpl_given, file_template, sizeof log_tmpl_given) != 0) {
		size_t n = strnlen(file_template, sizeof log_tmpl_given - 1);
		memcpy(log_tmpl_given, file_template, n);
		log_tmpl_given[n] = '\0';
		zc_abs_template(log_tmpl, sizeof log_tmpl, file_template);
	}

	int fd = open_log_file(&log_fd);
	struct stat st;
	if (fd >= 0 && zc_fstat(fd, &st) == 0) {
		log_dev = st.st_dev;
		log_ino = st.st_ino;
		log_is_file = 1;
		log_keep = zc_ownfd_keep_ok();
		if (!log_keep)
			zc_ownfd_close(&log_fd); /* opened per message */
		errno = saved;
		return;
	}
	zc_ownfd_close(&log_fd);
	log_fd = 2;
	errno = saved;
	zc_log_msg(1, "cannot open log file %s (refused or not writable); logging to stderr",
		   log_tmpl);
}

void zc_log_close(void)
{
	int saved = errno;
	/* Closed only if it is still the file we opened: a close zcopy could
	 * not see may have handed the number to the program. */
	if (log_is_file && log_fd >= 0 && still_ours(log_fd))
		zc_ownfd_close(&log_fd);
	else if (log_is_file)
		zc_ownfd_forget(&log_fd);
	log_fd = -1;
	log_is_file = 0;
	zc_log_level = 0;
	errno = saved;
}

static void emit_line(const char *line, size_t n);

/* One line, in one write, to the log file or stderr. */
static void emit(const char *line, size_t n)
{
	/* A log line is no cancellation point of the program's (nor may a
	 * thread end holding the log's descriptor). */
	int cancel = zc_cancel_off();
	emit_line(line, n);
	zc_cancel_on(cancel);
}

static void emit_line(const char *line, size_t n)
{
	int once = -1, *slot = &log_fd;
	if (!log_is_file) {
		zc_write_quietly(2, line, n);
		return;
	}
	if (!log_keep) {
		/* Not kept (small RLIMIT_NOFILE): opened for this line only. */
		slot = &once;
		if (open_log_file(slot) < 0)
			return;
	} else if (__atomic_load_n(&log_fd, __ATOMIC_ACQUIRE) < 0 && open_log_file(&log_fd) < 0) {
		return; /* the program's closefrom closed it, and it cannot be reopened */
	}
	int fd = zc_ownfd_use(slot);
	/* The kept descriptor must still be the file opened at start-up (a
	 * close zcopy could not see may have given its number to the program);
	 * one opened for this line is the file the path names now. */
	if (fd >= 0 && (slot == &once || still_ours(fd)))
		zc_write_quietly(fd, line, n);
	zc_ownfd_unuse(slot);
	if (slot == &once)
		zc_ownfd_close(&once);
}

void zc_log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	size_t n;
	va_list ap;
	int saved = errno;

	if (level > zc_log_level || (!log_is_file && log_fd < 0))
		return;
	n = zc_fmt(line, sizeof line, "zcopy[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	n += zc_vfmt(line + n, sizeof line - n - 1, fmt, ap); /* keeps room for '\n' */
	va_end(ap);
	line[n++] = '\n';
	emit(line, n);
	errno = saved;
}
