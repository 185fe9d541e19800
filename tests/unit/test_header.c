/*
 * test_header.c - include/zcopy.h names every key the library writes: the
 * record formatted by stats.c, with every counter and every fallback reason
 * non-zero, holds exactly the keys of the header, and the header's key,
 * reason and transfer lists are the library's, in its order.
 */
#include <stdio.h>
#include <string.h>

#include "stats.h"
#include "unit.h"
#include "zcopy.h"

static const char *const reasons[] = { ZCOPY_FALLBACK_REASONS };
static const char *const transfers[] = { ZCOPY_TRANSFER_KEYS };

static void reasons_are_the_librarys(void **state)
{
	assert_int_equal(sizeof reasons / sizeof reasons[0], ZC_FB__COUNT);
	for (int i = 0; i < ZC_FB__COUNT; i++)
		assert_string_equal(reasons[i], zc_fallback_keys[i]);
}

static void transfers_are_the_librarys(void **state)
{
	assert_int_equal(sizeof transfers / sizeof transfers[0], ZC_T__COUNT);
	for (int i = 0; i < ZC_T__COUNT; i++)
		assert_string_equal(transfers[i], zc_transfer_keys[i]);
}

/* Every "key": in the record is one the header names. */
static void record_keys_are_in_the_header(void **state)
{
	static const char *const top[] = { ZCOPY_STAT_KEYS };
	static char buf[16384];
	struct zc_stats s;
	size_t n, keys = 0, next_top = 0;
	char *p;

	memset(&s, 0, sizeof s);
	s.bytes_zero_copy = s.bytes_copied = s.phantom_reads = 1;
	s.materialized_bytes = s.would_zero_copy_bytes = s.would_guard_bytes = 1;
	for (int i = 0; i < ZC_T__COUNT; i++)
		s.transfers[i] = 1;
	for (int i = 0; i < ZC_FB__COUNT; i++)
		s.fallbacks[i] = s.fallback_bytes[i] = 1;
	n = zc_stats_json(&s, buf, sizeof buf, 1, "/bin/x", "on", 1);
	assert_true(n > 0);
	for (p = buf; (p = strstr(p, "\":")) != NULL; p += 2) {
		char *q = p;
		char key[64];
		int found = 0;
		while (q > buf && q[-1] != '"')
			q--;
		snprintf(key, sizeof key, "%.*s", (int)(p - q), q);
		for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
			found |= strcmp(key, top[i]) == 0;
		/* ZCOPY_STAT_KEYS lists them in the record's order. */
		if (next_top < sizeof top / sizeof top[0] && strcmp(key, top[next_top]) == 0)
			next_top++;
		for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
			found |= strcmp(key, reasons[i]) == 0;
		for (size_t i = 0; i < sizeof transfers / sizeof transfers[0]; i++)
			found |= strcmp(key, transfers[i]) == 0;
		if (!found)
			fail_msg("key \"%s\" of the record is not in zcopy.h", key);
		keys++;
	}
	/* every top-level key but "streams", the last, which is written only
	 * when the process had a stream; every reason twice, every transfer */
	assert_string_equal(top[sizeof top / sizeof top[0] - 1], ZCOPY_STAT_STREAMS);
	assert_null(strstr(buf, "\"" ZCOPY_STAT_STREAMS "\""));
	assert_int_equal(next_top, sizeof top / sizeof top[0] - 1);
	assert_int_equal(keys, sizeof top / sizeof top[0] - 1 + 2 * ZC_FB__COUNT + ZC_T__COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reasons_are_the_librarys),
		cmocka_unit_test(transfers_are_the_librarys),
		cmocka_unit_test(record_keys_are_in_the_header),
	};
	return cmocka_run_group_tests_name("header", tests, NULL, NULL);
}
