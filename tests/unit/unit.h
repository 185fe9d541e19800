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

#include <cmocka.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
