/*
 * log.h - diagnostics on stderr or ZCOPY_LOG_FILE.
 *
 * Async-signal-safe: a small formatter into a stack buffer and one write(2)
 * per message; no stdio, no malloc.  Silent unless ZCOPY_LOG > 0.
 * ZCOPY_LOG_FILE is opened safely (ownfd.c: no symbolic link, regular files
 * only, mode 0600), its relative path resolved at start-up; a refused or
 * unwritable file is reported once on stderr and stderr is used instead.
 */
#ifndef ZC_LOG_H
#define ZC_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Levels: 1 problems and start-up settings, 2 decisions, 3 every redirected call. */
extern int zc_log_level;

/* Opens the log destination (ZCOPY_LOG_FILE or stderr) if logging is on. */
void zc_log_open(const char *file_template, int level);
void zc_log_close(void);
void zc_log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define zc_log(level, ...)                                                                \
	do {                                                                              \
		if (__builtin_expect(zc_log_level >= (level), 0))                         \
			zc_log_msg(level, __VA_ARGS__);                                   \
	} while (0)

/* One write(2) of a line zcopy adds on its own (a log line, the stats
 * record), retried only on EINTR; a short count stays short.  The SIGPIPE
 * (reader gone) or SIGXFSZ (file size limit) it raises is taken back, so
 * the program is not killed for a line it never asked for; errno is kept.
 * Async-signal-safe. */
void zc_write_quietly(int fd, const void *p, size_t n);

/* Formatter used by the log and the stats writer.  Understands %s %c %d %i %u
 * %x %p %% with the l, ll, z length modifiers (and width is ignored).
 * Always NUL-terminates when cap > 0; returns the length written. */
size_t zc_vfmt(char *buf, size_t cap, const char *fmt, va_list ap);
size_t zc_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
