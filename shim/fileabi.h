/*
 * fileabi.h - what zcopy reads of glibc's FILE, and the start-up check that
 * it is laid out as expected.
 *
 * Only fields of struct _IO_FILE that <bits/types/struct_FILE.h> publishes
 * (binary ABI since glibc 2.1: getc/putc macros and gnulib read them) and
 * libio's flag bits, unchanged since glibc 2.0, are used.  zcopy never
 * installs a vtable; the one store it makes into a FILE is the error
 * indicator of a stream whose redirected write failed (as gnulib's fseterr
 * does), everything else changes through glibc's own functions.  Streams
 * whose cached offset (_offset) is known stay glibc's: zcopy's calls move
 * the kernel's offset, which glibc must then ask for.  If the check
 * fails, zc_fileabi_ok stays 0 and the stdio wrappers only observe.
 */
#ifndef ZC_FILEABI_H
#define ZC_FILEABI_H

#include <stdio.h>

/* libio's flag bits (glibc libio/libio.h; the public header names only
 * _IO_EOF_SEEN, _IO_ERR_SEEN and _IO_USER_LOCK). */
#define ZC_IO_MAGIC 0xFBAD0000u
#define ZC_IO_MAGIC_MASK 0xFFFF0000u
#define ZC_IO_UNBUFFERED 0x0002
#define ZC_IO_NO_READS 0x0004
#define ZC_IO_NO_WRITES 0x0008
#define ZC_IO_ERR_SEEN 0x0020
#define ZC_IO_IN_BACKUP 0x0100
#define ZC_IO_LINE_BUF 0x0200
#define ZC_IO_CURRENTLY_PUTTING 0x0800
#define ZC_IO_IS_FILEBUF 0x2000
/* _offset when glibc does not know the file offset (_IO_pos_BAD). */
#define ZC_IO_POS_BAD ((__off64_t)-1)
/* _flags2: the stream reads through mmap (fopen "m"). */
#define ZC_IO_FLAGS2_MMAP 0x1
/* _flags2: glibc reads and writes it with its nocancel calls (fopen "c"),
 * which are no cancellation points; the engine's would be. */
#define ZC_IO_FLAGS2_NOTCANCEL 0x2

/* 1 once zc_fileabi_check passed at start-up for the process's own
 * stdin/stdout/stderr objects. */
extern int zc_fileabi_ok;

/* Checks, for glibc's three standard stream objects as given, that the
 * fields zcopy reads are where it expects them: magic, descriptor numbers,
 * buffering and direction flags, a common vtable, and agreement with the
 * accessors of <stdio_ext.h> (__fbufsize, __fpending, __flbf, __freadable,
 * __fwritable).  Returns 0, or the number (1..) of the first check that
 * failed.  Pure: reads memory only. */
int zc_fileabi_check(const FILE *in, const FILE *out, const FILE *err);

/* A stream zcopy may take part in: a plain file stream (the vtable of
 * glibc's own standard streams, a descriptor, no mmap reading, not opened
 * with "c"), not wide oriented, no ungetc backup area in use.  Call with
 * the stream locked. */
int zc_file_plain(const FILE *fp);

#endif
