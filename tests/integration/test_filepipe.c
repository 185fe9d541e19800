/*
 * test_filepipe.c - a file read as one splice into a pipe of zcopy's
 * (docs/design.md): cat's loop (tests/programs/file_pipe) into a pipe or
 * /dev/null, each scenario doing one thing a program may do between a read
 * and its write.  Every scenario runs without the shim and with
 * ZCOPY_MODE=off, observe and on, compared byte for byte (status, stdout or
 * what the pipe's reader got, stderr, outputs), and the stats say whether
 * reads went into zcopy's pipe (file_pipe_reads) or stayed out of it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "harness.h"

/* Not a multiple of the chunk: the short last read is part of every copy. */
#define SIZE (16 * MiB + 12345)
#define EXE "file_pipe"
#define CHUNK (128 * 1024)

static void setup(void)
{
	it_begin();
	it_make_file("src", SIZE, 21);
}

/* file_pipe MODE the four ways, its stdout into `cat` (a pipe), or into
 * /dev/null when null. */
static void run(const char *mode, int null, const char *const *outputs)
{
	static const char *const cat[] = { "cat", NULL };
	struct it_spec s = { .argv = IT_ARGV(it_prog(EXE), mode, "../src"), .out_fd = -1,
			     .out = null ? "/dev/null" : NULL, .consumer = null ? NULL : cat };
	it_four_spec(&s, outputs);
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
}

/* An fwrite's start is written by glibc's own write(2), which no wrapper
 * sees: guarded pages there get their bytes first (it failed with EFAULT),
 * and an aligned buffer's stream goes back to the mapping. */
static const char *const fwrite_modes[] = { "fwrite", "fwrite_odd" };

START_TEST(fwrite_of_a_guarded_buffer_into_a_pipe)
{
	run(fwrite_modes[_i], 0, NULL);
	it_same_file("src", "none/piped");
	ck_assert_int_gt(it_stat("on", EXE, "phantom_reads"), 0);
	it_expect_zero_copy(EXE, SIZE, 50);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("test_filepipe");
	TCase *tc = it_tcase(s, "file_pipe", setup, 60);
	tcase_add_loop_test(tc, fwrite_of_a_guarded_buffer_into_a_pipe, 0, IT_LEN(fwrite_modes));
	return it_main(s, "build/programs");
}
