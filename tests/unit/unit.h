/*
 * unit.h - what every unit test file includes: cmocka (which needs these
 * standard headers before its own) and the shared helpers.
 */
#ifndef ZC_UNIT_H
#define ZC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

/* Defines tmpdir (from the template tmpl) and group_setup and
 * group_teardown, which make and remove it, for a group of tests. */
#define UNIT_TMPDIR_GROUP(tmpl)                                                    \
	static char tmpdir[] = tmpl;                                               \
	static int group_setup(void **state) { return unit_tmpdir_make(tmpdir); } \
	static int group_teardown(void **state) { return unit_tmpdir_remove(tmpdir); }

#endif
