/*
 * test_streams.c - per-stream detail: the record's "streams" names the
 * source and destination paths with their bytes, primitive and reason;
 * `zcopy observe --streams` prints them as a table; -vv logs a stream's
 * start and end with its paths; a program that writes other bytes than it
 * read gets its own reason; the advice names the setting that would help.
 */
#include "copier_run.h"

#include "zcopy.h"

TCase *streams_tcase(void);

/* Runs `zcopy ARGS... -- copier IN OUT action` in the test's directory with
 * env ("NAME=VALUE" or NULL) set; stderr into err.  Returns the status. */
static int zcopy_copier(char *err, size_t cap, const char *env, const char *action,
			const char *a1, const char *a2, const char *a3)
{
	char in[PATH_MAX + 16], out[PATH_MAX + 16];
	const char *argv[16];
	int n = 0;

	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	argv[n++] = ztool;
	const char *opts[] = { a1, a2, a3 };
	for (int i = 0; i < 3; i++)
		if (opts[i])
			argv[n++] = opts[i];
	argv[n++] = "--";
	argv[n++] = copier;
	argv[n++] = in;
	argv[n++] = out;
	argv[n++] = action;
	argv[n] = NULL;
	return run_ztool(argv, env, 2, err, cap);
}

/* `zcopy observe [opt] -- copier IN OUT action` with env set, which must
 * exit 0; stderr into err. */
static void observed(char *err, size_t cap, const char *env, const char *action, const char *opt)
{
	int st = zcopy_copier(err, cap, env, action, "observe", opt, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
}

/* "IN -> file OUT" with the real paths, as the table and the log print them. */
static void arrow(char *buf, size_t cap, const char *sep)
{
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(dir, real));
	snprintf(buf, cap, "%s/in%s%s/out", real, sep, real);
}

#define ck_has(hay, needle) ck_assert_msg(strstr(hay, needle), "no \"%s\" in: %s", needle, hay)

START_TEST(record_names_source_and_destination)
{
	char err[16384], stats[PATH_MAX + 16], real[PATH_MAX], want[PATH_MAX + 16];
	struct zt_records rs;

	snprintf(stats, sizeof stats, "%s/stats", dir);
	int st = zcopy_copier(err, sizeof err, NULL, "none", "run", "-s", stats);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
	ck_assert_int_eq(zt_records_load(stats, &rs), 1);
	const struct zt_record *r = &rs.v[0];
	ck_assert_uint_eq(r->nstreams, 1);
	const struct zt_stream *s = &r->streams[0];
	ck_assert_ptr_nonnull(realpath(dir, real));
	snprintf(want, sizeof want, "%s/in", real);
	ck_assert_str_eq(s->src, want);
	snprintf(want, sizeof want, "%s/out", real);
	ck_assert_str_eq(s->dst, want);
	ck_assert_str_eq(s->dst_kind, "file");
	/* every byte, and the stream's figures are the process's */
	ck_assert_uint_eq(s->bytes_zero_copy + s->bytes_copied, SIZE);
	ck_assert_uint_eq(s->bytes_zero_copy, r->bytes_zero_copy);
	ck_assert_uint_eq(s->bytes_copied, r->bytes_copied);
	if (s->bytes_zero_copy)
		ck_assert_msg(s->primitive[0], "bytes by transfer, no primitive");
	ck_assert_str_eq(s->fallback, "warmup"); /* the first pairs go plainly */
	zt_records_free(&rs);
}
END_TEST

START_TEST(observe_streams_prints_source_and_destination)
{
	char err[16384], want[2 * PATH_MAX + 32];
	observed(err, sizeof err, NULL, "none", "--streams");
	ck_has(err, "streams, largest first:");
	arrow(want, sizeof want, " -> file ");
	ck_has(err, want);
	/* without --streams, no table */
	observed(err, sizeof err, NULL, "none", NULL);
	ck_assert_ptr_null(strstr(err, "streams, largest first:"));
}
END_TEST

START_TEST(vv_logs_streams_starting_and_ending_with_paths)
{
	char err[65536], want[2 * PATH_MAX + 64], real[PATH_MAX];
	observed(err, sizeof err, NULL, "none", "-vv");
	ck_assert_ptr_nonnull(realpath(dir, real));
	snprintf(want, sizeof want, "stream starts: %s/in (fd ", real);
	ck_has(err, want);
	snprintf(want, sizeof want, "-> file %s/out (fd ", real);
	ck_has(err, want);
	arrow(want, sizeof want, " -> file ");
	char ends[sizeof want + 32];
	snprintf(ends, sizeof ends, "stream ends: %s: ", want);
	ck_has(err, ends);
}
END_TEST

START_TEST(changed_bytes_have_their_own_reason_and_advice)
{
	char err[16384], want[2 * PATH_MAX + 32];
	observed(err, sizeof err, NULL, "other", "--streams");
	ck_has(err, "    transformed ");
	ck_has(err, "8.0 MiB  the bytes written are not the bytes read");
	ck_has(err, "advice:\n    transformed: ");
	/* the stream's row: its reason, then IN -> OUT */
	arrow(want, sizeof want, " -> file ");
	const char *row = strstr(err, want);
	ck_assert_msg(row != NULL, "no stream row in: %s", err);
	const char *line = row;
	while (line > err && line[-1] != '\n')
		line--;
	ck_assert_msg(strstr(line, "transformed") && strstr(line, "transformed") < row,
		      "row without its reason: %.*s", (int)(row - line), line);
}
END_TEST

START_TEST(small_reads_advise_zcopy_min_chunk)
{
	char err[16384];
	observed(err, sizeof err, "ZCOPY_MIN_CHUNK=2M", "none", NULL);
	ck_has(err, "    too_small ");
	ck_has(err, "too_small: reads are smaller than ZCOPY_MIN_CHUNK");
}
END_TEST

TCase *streams_tcase(void)
{
	TCase *tc = fixture_tcase("streams", 60, f_setup, f_teardown);
	tcase_add_test(tc, record_names_source_and_destination);
	tcase_add_test(tc, observe_streams_prints_source_and_destination);
	tcase_add_test(tc, vv_logs_streams_starting_and_ending_with_paths);
	tcase_add_test(tc, changed_bytes_have_their_own_reason_and_advice);
	tcase_add_test(tc, small_reads_advise_zcopy_min_chunk);
	return tc;
}
