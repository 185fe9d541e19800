/*
 * unit.h - what every unit test file includes: cmocka (which needs these
 * standard headers before its own) and the shared helpers.
 */
#ifndef ZC_UNIT_H
#define ZC_UNIT_H

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A group's scratch directory: made by the group setup from a mkdtemp
 * template, removed with everything in it by the group teardown. */
static inline int unit_tmpdir_make(char *tmpl)
{
	return mkdtemp(tmpl) ? 0 : -1;
}

static inline int unit_tmpdir_remove(const char *dir)
{
	char cmd[4096 + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A whole (small) file into buf, NUL-terminated; returns its length, 0 if
 * it cannot be read. */
static inline size_t unit_slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* fd 2 onto path (created empty) until dup2(saved, 2); returns saved, a
 * copy of the old fd 2. */
static inline int unit_stderr_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	close(fd);
	return saved;
}

/* Defines tmpdir (from the template tmpl) and group_setup and
 * group_teardown, which make and remove it, for a group of tests. */
#define UNIT_TMPDIR_GROUP(tmpl)                                                    \
	static char tmpdir[] = tmpl;                                               \
	static int group_setup(void **state) { return unit_tmpdir_make(tmpdir); } \
	static int group_teardown(void **state) { return unit_tmpdir_remove(tmpdir); }

#endif
