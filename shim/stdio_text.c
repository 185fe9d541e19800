/*
 * stdio_text.c - text written through a FILE or by dprintf.
 *
 * fputs, fprintf, putc and their relatives write nothing through a wrapped
 * call: glibc fills the stream's buffer and, when the buffer is full, at a
 * newline of a line-buffered stream, or at once for an unbuffered one,
 * writes it with its internal write(2), which no preload sees.  dprintf
 * writes through a FILE of its own the same way.  If that file is one that
 * phantoms stand for (a program that copies a file and also writes text
 * into it, through another stream or descriptor), the file must not change
 * under deferred pages: as for fflush and fseek (stdio.c,
 * zc_stdio_file_changing; dprintf: zc_before_file_change), every phantom of
 * the stream's file gets its bytes first (all of the file: where glibc
 * writes is its own to know).  While no phantom exists each wrapper costs
 * one compare (zc_phantoms_exist); then it asks the descriptor's kind
 * (engine.c, zc_engine_file_changing), and only a file or block device
 * with phantoms costs more.  Not wrapped (README, Limitations, "Other
 * writers"): the per-character functions putc, fputc, putchar and their
 * _unlocked forms, whose calls cost a few nanoseconds, where a wrapper's
 * extra call added 15% to a putc loop that never engages (the inline
 * putc_unlocked and putchar_unlocked of glibc's headers reach the file
 * through __overflow, which is wrapped); and wide-character output
 * (fputwc, fwprintf, ...).
 */
#include <stdarg.h>
#include <stdio.h>

#include "real.h"
#include "stdio_path.h"
#include "wrap.h"

/* glibc may define these as macros when optimising. */
#undef fputs_unlocked
#undef printf
#undef fprintf
#undef dprintf
#undef vprintf

ZC_EXPORT int fputs(const char *s, FILE *fp)
{
	zc_stdio_file_changing(fp);
	return REAL(fputs)(s, fp);
}

ZC_EXPORT int fputs_unlocked(const char *s, FILE *fp)
{
	zc_stdio_file_changing(fp);
	return REAL(fputs_unlocked)(s, fp);
}

ZC_EXPORT int puts(const char *s)
{
	zc_stdio_file_changing(stdout);
	return REAL(puts)(s);
}

/* What glibc's inline putc_unlocked and putchar_unlocked call when the
 * buffer is full: where their bytes reach the file. */
ZC_EXPORT int __overflow(FILE *fp, int c)
{
	zc_stdio_file_changing(fp);
	return REAL(__overflow)(fp, c);
}

ZC_EXPORT int vfprintf(FILE *fp, const char *fmt, va_list ap)
{
	zc_stdio_file_changing(fp);
	return REAL(vfprintf)(fp, fmt, ap);
}

ZC_EXPORT int vprintf(const char *fmt, va_list ap)
{
	zc_stdio_file_changing(stdout);
	return REAL(vprintf)(fmt, ap);
}

ZC_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	zc_before_file_change(fd, 0, 0);
	return REAL(vdprintf)(fd, fmt, ap);
}

ZC_EXPORT int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap)
{
	zc_stdio_file_changing(fp);
	return REAL(__vfprintf_chk)(fp, flag, fmt, ap);
}

ZC_EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
	zc_stdio_file_changing(stdout);
	return REAL(__vprintf_chk)(flag, fmt, ap);
}

ZC_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	zc_before_file_change(fd, 0, 0);
	return REAL(__vdprintf_chk)(fd, flag, fmt, ap);
}

/* The variadic forms go to the real va_list forms (no wrapper calls
 * another: check-symbols). */
ZC_EXPORT int fprintf(FILE *fp, const char *fmt, ...)
{
	va_list ap;
	zc_stdio_file_changing(fp);
	va_start(ap, fmt);
	int r = REAL(vfprintf)(fp, fmt, ap);
	va_end(ap);
	return r;
}

ZC_EXPORT int printf(const char *fmt, ...)
{
	va_list ap;
	zc_stdio_file_changing(stdout);
	va_start(ap, fmt);
	int r = REAL(vprintf)(fmt, ap);
	va_end(ap);
	return r;
}

ZC_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	zc_before_file_change(fd, 0, 0);
	va_start(ap, fmt);
	int r = REAL(vdprintf)(fd, fmt, ap);
	va_end(ap);
	return r;
}

ZC_EXPORT int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...)
{
	va_list ap;
	zc_stdio_file_changing(fp);
	va_start(ap, fmt);
	int r = REAL(__vfprintf_chk)(fp, flag, fmt, ap);
	va_end(ap);
	return r;
}

ZC_EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
	va_list ap;
	zc_stdio_file_changing(stdout);
	va_start(ap, fmt);
	int r = REAL(__vprintf_chk)(flag, fmt, ap);
	va_end(ap);
	return r;
}

ZC_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	zc_before_file_change(fd, 0, 0);
	va_start(ap, fmt);
	int r = REAL(__vdprintf_chk)(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}
