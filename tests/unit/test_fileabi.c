/*
 * test_fileabi.c - the start-up check of glibc's FILE layout, and which
 * streams zcopy may take part in.
 *
 * The first test is the one that fails on a glibc whose FILE differs from
 * what zcopy reads: the check must pass for this glibc's own standard
 * streams.  The others prove the check notices a layout that is not the
 * expected one (copies of the standard streams with a field moved or a flag
 * renumbered), so that zcopy then stays out of stdio.
 */
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "fileabi.h"
#include "unit.h"

/* glibc's struct _IO_FILE_plus: the FILE and its vtable pointer. */
struct plus {
	FILE file;
	const void *vtable;
};
extern struct plus _IO_2_1_stdin_, _IO_2_1_stdout_, _IO_2_1_stderr_;

static struct plus in, out, err;

static int setup(void **state)
{
	(void)state;
	memcpy(&in, &_IO_2_1_stdin_, sizeof in);
	memcpy(&out, &_IO_2_1_stdout_, sizeof out);
	memcpy(&err, &_IO_2_1_stderr_, sizeof err);
	return 0;
}

static int check(void)
{
	return zc_fileabi_check(&in.file, &out.file, &err.file);
}

static void this_glibc_has_the_expected_layout(void **state)
{
	(void)state;
	assert_int_equal(zc_fileabi_check(&_IO_2_1_stdin_.file, &_IO_2_1_stdout_.file,
					  &_IO_2_1_stderr_.file), 0);
	assert_int_equal(zc_fileabi_ok, 1); /* the constructor ran it */
	assert_int_equal(check(), 0);       /* and copies pass too */
}

static void a_wrong_magic_fails(void **state)
{
	(void)state;
	in.file._flags = (int)(((unsigned)in.file._flags & 0xffff) | 0xfbae0000u);
	assert_int_equal(check(), 1);
}

static void a_moved_descriptor_fails(void **state)
{
	(void)state;
	out.file._fileno = 7;
	assert_int_equal(check(), 2);
}

static void a_renumbered_flag_fails(void **state)
{
	(void)state;
	/* stderr's "unbuffered" bit elsewhere: glibc's own accessors still
	 * agree, but the bit zcopy reads is not set. */
	err.file._flags &= ~ZC_IO_UNBUFFERED;
	assert_int_equal(check(), 5);
}

static void a_buffer_field_that_disagrees_with_stdio_ext_fails(void **state)
{
	(void)state;
	static char buf[64];
	/* A layout where the buffer ends are not where glibc's __fbufsize
	 * reads them would show as a mismatch. */
	in.file._IO_buf_base = buf;
	in.file._IO_buf_end = buf + sizeof buf;
	assert_int_equal(__fbufsize(&in.file), sizeof buf); /* same fields: agree */
	in.file._IO_read_ptr = buf + 10;
	in.file._IO_read_end = buf + 5; /* pointers out of order */
	assert_int_equal(check(), 1);
}

static void fields_shifted_by_one_word_fail(void **state)
{
	(void)state;
	/* Every field one pointer further on, as a glibc that inserted a
	 * member would have them. */
	static char shifted[sizeof(struct plus) + sizeof(void *)];
	memset(shifted, 0, sizeof shifted);
	memcpy(shifted + sizeof(void *), &_IO_2_1_stdin_, sizeof(struct plus));
	assert_int_not_equal(zc_fileabi_check((FILE *)(void *)shifted, &out.file, &err.file), 0);
}

static void a_different_vtable_fails(void **state)
{
	(void)state;
	static const char other[8];
	err.vtable = other;
	assert_int_equal(check(), 6);
}

/* ---- which streams take part ---------------------------------------------- */

static FILE *file_with(const char *mode)
{
	char path[] = "/tmp/zc_fileabi_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	FILE *fp = fopen(path, mode);
	unlink(path);
	assert_non_null(fp);
	return fp;
}

static void a_file_stream_in_use_takes_part(void **state)
{
	(void)state;
	FILE *fp = file_with("r");
	assert_int_equal(zc_file_plain(fp), 0); /* no buffer yet */
	assert_int_equal(fgetc(fp), 'h');
	assert_int_equal(zc_file_plain(fp), 1);
	fclose(fp);
}

static void an_ungetc_backup_stays_glibcs(void **state)
{
	(void)state;
	FILE *fp = file_with("r");
	assert_int_equal(fgetc(fp), 'h');
	assert_int_equal(ungetc('x', fp), 'x'); /* not the byte read: backup area */
	assert_int_equal(zc_file_plain(fp), 0);
	assert_int_equal(fgetc(fp), 'x');
	assert_int_equal(fgetc(fp), 'e'); /* back in the main get area */
	assert_int_equal(zc_file_plain(fp), 1);
	fclose(fp);
}

static void wide_mmap_and_memory_streams_stay_glibcs(void **state)
{
	(void)state;
	FILE *fp = file_with("r");
	assert_int_equal(fwide(fp, 1), 1);
	assert_int_equal((int)fgetwc(fp), 'h');
	assert_int_equal(zc_file_plain(fp), 0);
	fclose(fp);

	fp = file_with("rm");
	assert_int_equal(fgetc(fp), 'h');
	assert_int_equal(zc_file_plain(fp), 0);
	fclose(fp);

	char mem[16] = "abc";
	fp = fmemopen(mem, sizeof mem, "r");
	assert_non_null(fp);
	assert_int_equal(fgetc(fp), 'a');
	assert_int_equal(zc_file_plain(fp), 0);
	fclose(fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(this_glibc_has_the_expected_layout, setup),
		cmocka_unit_test_setup(a_wrong_magic_fails, setup),
		cmocka_unit_test_setup(a_moved_descriptor_fails, setup),
		cmocka_unit_test_setup(a_renumbered_flag_fails, setup),
		cmocka_unit_test_setup(a_buffer_field_that_disagrees_with_stdio_ext_fails, setup),
		cmocka_unit_test_setup(fields_shifted_by_one_word_fail, setup),
		cmocka_unit_test_setup(a_different_vtable_fails, setup),
		cmocka_unit_test(a_file_stream_in_use_takes_part),
		cmocka_unit_test(an_ungetc_backup_stays_glibcs),
		cmocka_unit_test(wide_mmap_and_memory_streams_stay_glibcs),
	};
	return cmocka_run_group_tests_name("fileabi", tests, NULL, NULL);
}
