/*
 * expect.c - see expect.h.
 */
#include "expect.h"

#include <check.h>
#include <stdio.h>

#include "harness.h"

void it_expect_zero_copy(const char *exe, long long bytes, int pct)
{
	long long zc = it_stat("on", exe, "bytes_zero_copy");
	ck_assert_msg(zc * 100 >= bytes * pct,
		      "%s, ZCOPY_MODE=on: bytes_zero_copy %lld is below %d%% of %lld; stats: %s", exe,
		      zc, pct, bytes, it_stats_text("on"));
}

void it_expect_deferred(const char *exe, long long more_than)
{
	long long ph = it_stat("on", exe, "phantom_reads");
	ck_assert_msg(ph > more_than,
		      "%s, ZCOPY_MODE=on: phantom_reads %lld, expected more than %lld; stats: %s", exe,
		      ph, more_than, it_stats_text("on"));
}

void it_expect_transfers(const char *exe, const char *kind)
{
	char key[64];
	snprintf(key, sizeof key, "transfers.%s", kind);
	long long n = it_stat("on", exe, key);
	ck_assert_msg(n > 0, "%s, ZCOPY_MODE=on: %s is 0; stats: %s", exe, key, it_stats_text("on"));
}

void it_expect_would(const char *exe, long long bytes, int pct)
{
	long long w = it_stat("observe", exe, "would_zero_copy_bytes");
	ck_assert_msg(w * 100 >= bytes * pct,
		      "%s, ZCOPY_MODE=observe: would_zero_copy_bytes %lld is below %d%% of %lld; stats: %s",
		      exe, w, pct, bytes, it_stats_text("observe"));
}

void it_expect_no_zero_copy(const char *exe, long long max_phantoms)
{
	long long zc = it_stat("on", exe, "bytes_zero_copy");
	long long ph = it_stat("on", exe, "phantom_reads");
	ck_assert_msg(zc == 0 && ph <= max_phantoms,
		      "%s, ZCOPY_MODE=on: bytes_zero_copy %lld phantom_reads %lld, expected 0 and <= %lld; stats: %s",
		      exe, zc, ph, max_phantoms, it_stats_text("on"));
}

void it_expect_fallback(const char *tag, const char *exe, const char *reason)
{
	char key[64];
	snprintf(key, sizeof key, "fallbacks.%s", reason);
	long long n = it_stat(tag, exe, key);
	ck_assert_msg(n > 0, "%s, run %s: %s is 0; stats: %s", exe, tag, key, it_stats_text(tag));
}
