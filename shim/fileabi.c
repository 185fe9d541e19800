/*
 * fileabi.c - the start-up check of glibc's FILE layout (fileabi.h).
 *
 * The check compares the fields zcopy reads with what glibc's own accessors
 * report and with facts that hold for every glibc: the magic in the high
 * half of _flags, descriptors 0/1/2, stdin not writable, stdout not
 * readable, stderr unbuffered, and one file vtable (found right after the
 * FILE, in glibc's struct _IO_FILE_plus) shared by the three.  A glibc that
 * moved a field, renumbered a flag or changed the vtable placement fails one
 * of these, and zcopy then stays out of stdio.
 */
#include "fileabi.h"

#include <errno.h>
#include <stdint.h>
#include <stdio_ext.h>

int zc_fileabi_ok;

/* glibc's struct _IO_FILE_plus: every stream glibc creates is one. */
struct zc_file_plus {
	FILE file;
	const void *vtable;
};

/* glibc's standard stream objects (exported since GLIBC_2.2.5), used rather
 * than stdin/stdout/stderr, which a program may reassign. */
extern struct zc_file_plus _IO_2_1_stdin_, _IO_2_1_stdout_, _IO_2_1_stderr_;

static const void *vtable_of(const FILE *fp)
{
	return ((const struct zc_file_plus *)(const void *)fp)->vtable;
}

static const void *file_vtable; /* the standard streams' one, once checked */

static int sane(const FILE *fp, int fd)
{
	unsigned fl = (unsigned)fp->_flags;
	if ((fl & ZC_IO_MAGIC_MASK) != ZC_IO_MAGIC || fp->_fileno != fd)
		return 0;
	if (fp->_mode < -1 || fp->_mode > 1)
		return 0;
	if (!fp->_IO_buf_base != !fp->_IO_buf_end || fp->_IO_buf_end < fp->_IO_buf_base)
		return 0;
	if (fp->_IO_read_ptr > fp->_IO_read_end || fp->_IO_write_ptr < fp->_IO_write_base)
		return 0;
	/* <stdio_ext.h> reads the same fields inside glibc. */
	if (__fbufsize((FILE *)fp) != (size_t)(fp->_IO_buf_end - fp->_IO_buf_base))
		return 0;
	if (__fpending((FILE *)fp) != (size_t)(fp->_IO_write_ptr - fp->_IO_write_base) &&
	    fp->_mode <= 0)
		return 0;
	if (!__flbf((FILE *)fp) != !(fl & ZC_IO_LINE_BUF))
		return 0;
	if (!__freadable((FILE *)fp) != !!(fl & ZC_IO_NO_READS))
		return 0;
	if (!__fwritable((FILE *)fp) != !!(fl & ZC_IO_NO_WRITES))
		return 0;
	return 1;
}

int zc_fileabi_check(const FILE *in, const FILE *out, const FILE *err)
{
	if (!sane(in, 0))
		return 1;
	if (!sane(out, 1))
		return 2;
	if (!sane(err, 2))
		return 3;
	if (!(in->_flags & ZC_IO_NO_WRITES) || !(out->_flags & ZC_IO_NO_READS))
		return 4;
	if (!(err->_flags & ZC_IO_UNBUFFERED) || !(err->_flags & ZC_IO_NO_READS))
		return 5;
	const void *vt = vtable_of(in);
	if (!vt || vtable_of(out) != vt || vtable_of(err) != vt)
		return 6;
	return 0;
}

int zc_file_plain(const FILE *fp)
{
	return zc_fileabi_ok && ((unsigned)fp->_flags & ZC_IO_MAGIC_MASK) == ZC_IO_MAGIC &&
	       (fp->_flags & ZC_IO_IS_FILEBUF) && !(fp->_flags & ZC_IO_IN_BACKUP) &&
	       fp->_fileno >= 0 && fp->_mode <= 0 &&
	       !(fp->_flags2 & (ZC_IO_FLAGS2_MMAP | ZC_IO_FLAGS2_NOTCANCEL)) &&
	       fp->_markers == NULL && fp->_cur_column == 0 && fp->_IO_buf_base &&
	       vtable_of(fp) == file_vtable;
}

/* At load time: the standard streams are static objects, initialised
 * before any constructor runs. */
__attribute__((constructor)) static void fileabi_init(void)
{
	int saved = errno;
	if (zc_fileabi_check(&_IO_2_1_stdin_.file, &_IO_2_1_stdout_.file,
			     &_IO_2_1_stderr_.file) == 0) {
		file_vtable = _IO_2_1_stdin_.vtable;
		zc_fileabi_ok = 1;
	}
	errno = saved;
}
