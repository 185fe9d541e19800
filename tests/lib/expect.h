/*
 * expect.h - assertions on the stats records of the standard runs (see
 * harness.h): what the engine must have done in the "on", "observe" and
 * "off" runs of a scenario.  Failure messages carry the whole stats file.
 */
#ifndef ZT_EXPECT_H
#define ZT_EXPECT_H

/* bytes_zero_copy of exe in the on run is at least pct% of bytes. */
void it_expect_zero_copy(const char *exe, long long bytes, int pct);
/* phantom_reads of exe in the on run is above more_than: reads were deferred. */
void it_expect_deferred(const char *exe, long long more_than);
/* transfers.<kind> of exe in the on run is not 0. */
void it_expect_transfers(const char *exe, const char *kind);
/* would_zero_copy_bytes of exe in the observe run is at least pct% of bytes. */
void it_expect_would(const char *exe, long long bytes, int pct);
/* Nothing redirected in the on run, and at most max_phantoms reads were
 * deferred.  A stream is recognised before its destination is known, so a
 * read or two may be deferred before the first write shows that it cannot
 * be redirected; streams that can never be deferred allow 0. */
void it_expect_no_zero_copy(const char *exe, long long max_phantoms);
/* fallbacks.<reason> of exe in run tag is not 0. */
void it_expect_fallback(const char *tag, const char *exe, const char *reason);

#endif
