/*
 * stats.c - `zcopy stats --sum KEY FILE...`: one number out of stats
 * records, for scripts (the fuzzer, benchmarks) that would otherwise grep
 * the JSON.  The records are read by records.c, the reader every C part of
 * zcopy uses, so a script sees the same totals as `zcopy observe`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* Sums key over every record of every file and prints the total.  A record
 * without the key adds 0 (a table leaves out what never happened); a key
 * not in the record's schema is a usage error, so a misspelt key cannot
 * read as a quiet 0; an unreadable file is an error (exit 1). */
int zt_cmd_stats(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--sum") != 0)
		return zt_usage_error("stats", "%s", argc < 2 ? "missing --sum" : "expected --sum");
	if (argc < 4)
		return zt_usage_error("stats", "%s", argc < 3 ? "missing KEY" : "missing FILE");
	const char *key = argv[2];
	struct zt_record none = { 0 };
	uint64_t v, sum = 0;
	if (zt_record_get(&none, key, &v) < 0)
		return zt_usage_error("stats", "unknown key '%s' (see include/zcopy.h)", key);
	int rc = 0;
	for (int i = 3; i < argc; i++) {
		struct zt_records rs;
		if (zt_records_load(argv[i], &rs) < 0) {
			rc = 1;
			continue;
		}
		for (size_t j = 0; j < rs.n; j++) {
			zt_record_get(&rs.v[j], key, &v);
			sum += v;
		}
		zt_records_free(&rs);
	}
	if (rc == 0)
		printf("%" PRIu64 "\n", sum);
	return rc;
}
