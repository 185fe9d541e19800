/*
 * test_stats.c - the stats record: valid JSON with every contract key in
 * order, escaping of the executable path, fallbacks listed only when they
 * happened, refusal of a short buffer; the human summary line; and emission
 * at exit (one whole line per process, appended, %p expanded, no fd left).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "stats.h"
#include "tool.h"
#include "unit.h"
#include "zcopy.h"

UNIT_TMPDIR_GROUP("/tmp/zc-unit-stats.XXXXXX")
static char out[1 << 16];
static struct json_doc doc;

static int fresh(void **state)
{
	zc_stats_reset();
	zc_config_defaults(&zc_cfg);
	return 0;
}

static void assert_valid_json(const char *text, size_t len)
{
	if (json_check(text, len, &doc) != 0)
		fail_msg("invalid JSON (%s at byte %zu): %.*s", doc.err, doc.err_at, (int)len, text);
}

static size_t json_of(const struct zc_stats *s, const char *exe)
{
	size_t n = zc_stats_json(s, out, sizeof out, 1234, exe, "on", 0);
	assert_true(n > 0);
	assert_int_equal(n, strlen(out));
	assert_valid_json(out, n);
	return n;
}

/* ---- JSON record ------------------------------------------------------------ */

static const char *const contract_keys[] = {
	ZCOPY_STAT_PID,
	ZCOPY_STAT_EXE,
	ZCOPY_STAT_MODE,
	"guard",
	ZCOPY_STAT_BYTES_ZERO_COPY,
	ZCOPY_STAT_BYTES_COPIED,
	ZCOPY_STAT_PHANTOM_READS,
	ZCOPY_STAT_MATERIALIZED,
	ZCOPY_STAT_WOULD_ZERO_COPY,
	ZCOPY_STAT_TRANSFERS,
	ZCOPY_STAT_TRANSFERS ".copy_file_range",
	ZCOPY_STAT_TRANSFERS ".sendfile",
	ZCOPY_STAT_TRANSFERS ".splice",
	ZCOPY_STAT_FALLBACKS,
	"fallback_bytes",
};

static void json_has_every_contract_key_once(void **state)
{
	struct zc_stats s = { 0 };
	json_of(&s, "/usr/bin/cat");
	for (size_t i = 0; i < ARRAY_LEN(contract_keys); i++)
		if (json_count(&doc, contract_keys[i]) != 1)
			fail_msg("key %s appears %d times in %s", contract_keys[i],
				 json_count(&doc, contract_keys[i]), out);
}

static void json_keys_in_documented_order(void **state)
{
	struct zc_stats s = { 0 };
	json_of(&s, "/bin/x");
	for (size_t i = 1; i < ARRAY_LEN(contract_keys); i++)
		assert_true(json_index(&doc, contract_keys[i - 1]) <
			    json_index(&doc, contract_keys[i]));
}

/* Each member at path has exactly the raw value text (a NULL-ended list). */
struct member_want {
	const char *path, *val;
};
#define IT_PAIRS(...) ((const struct member_want[]){ __VA_ARGS__, { NULL, NULL } })

static void assert_members(const struct member_want *w)
{
	for (; w->path; w++)
		if (!json_is(&doc, w->path, w->val))
			fail_msg("%s is not %s", w->path, w->val);
}

static void json_is_one_line_object(void **state)
{
	struct zc_stats s = { 0 };
	size_t n = json_of(&s, "/bin/x");
	assert_int_equal(out[0], '{');
	assert_int_equal(out[n - 1], '}');
	assert_null(memchr(out, '\n', n));
}

static void json_values_match_counters(void **state)
{
	struct zc_stats s = { 0 };
	s.bytes_zero_copy = 64ULL << 20;
	s.bytes_copied = 131072;
	s.phantom_reads = 512;
	s.materialized_bytes = 4096;
	s.would_zero_copy_bytes = UINT64_MAX;
	s.transfers[ZC_T_COPY_FILE_RANGE] = 3;
	s.transfers[ZC_T_SENDFILE] = 0;
	s.transfers[ZC_T_SPLICE] = 512;
	size_t n = zc_stats_json(&s, out, sizeof out, 4194304, "/usr/bin/dd", "observe", 1);
	assert_valid_json(out, n);
	assert_members(IT_PAIRS({ "pid", "4194304" }, { "exe", "\"/usr/bin/dd\"" },
				{ "mode", "\"observe\"" }, { "guard", "1" },
				{ "bytes_zero_copy", "67108864" }, { "bytes_copied", "131072" },
				{ "phantom_reads", "512" }, { "materialized_bytes", "4096" },
				{ "would_zero_copy_bytes", "18446744073709551615" },
				{ "transfers.copy_file_range", "3" }, { "transfers.sendfile", "0" },
				{ "transfers.splice", "512" }));
}

/* The zcopy command's reader (tools/records.c, which the suites, the
 * benchmarks and `zcopy stats` use) reads back every key the writer wrote,
 * with its value. */
static void record_reads_back_through_the_tools_reader(void **state)
{
	static const char *const keys[] = { ZCOPY_STAT_KEYS };
	struct zc_stats s = { 0 };
	struct zt_record r;
	const char *why = NULL;
	uint64_t v;
	s.bytes_zero_copy = 1;
	s.bytes_copied = 2;
	s.phantom_reads = 3;
	s.materialized_bytes = 4;
	s.would_zero_copy_bytes = 5;
	s.would_guard_bytes = 6;
	s.transfers[ZC_T_SPLICE] = 7;
	s.fallbacks[ZC_FB_WARMUP] = 8;
	s.fallback_bytes[ZC_FB_WARMUP] = 9;
	size_t n = zc_stats_json(&s, out, sizeof out, 10, "/bin/x", "observe", 1);
	assert_int_equal(zt_record_parse(out, n, &r, &why, NULL), 0);
	/* "streams" is written only when the process had one (its reading is
	 * tested with a real run in tests/tool/test_records.c). */
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (!(r.have >> i & 1) && strcmp(keys[i], ZCOPY_STAT_STREAMS) != 0)
			fail_msg("the reader did not see %s in %s", keys[i], out);
	static const struct {
		const char *key;
		uint64_t v;
	} want[] = { { "pid", 10 }, { "guard", 1 }, { "bytes_zero_copy", 1 },
		     { "bytes_copied", 2 }, { "phantom_reads", 3 }, { "materialized_bytes", 4 },
		     { "would_zero_copy_bytes", 5 }, { "would_guard_bytes", 6 },
		     { "transfers.splice", 7 }, { "transfers.sendfile", 0 },
		     { "fallbacks.warmup", 8 }, { "fallback_bytes.warmup", 9 } };
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		assert_int_equal(zt_record_get(&r, want[i].key, &v), 1);
		if (v != want[i].v)
			fail_msg("%s: read %llu, written %llu", want[i].key, (unsigned long long)v,
				 (unsigned long long)want[i].v);
	}
	assert_string_equal(r.exe, "/bin/x");
	assert_string_equal(r.mode, "observe");
	zt_record_free(&r);
}

static void json_zero_fallbacks_omitted(void **state)
{
	struct zc_stats s = { 0 };
	json_of(&s, "/bin/x");
	assert_true(json_is(&doc, "fallbacks", "{}"));
	assert_true(json_is(&doc, "fallback_bytes", "{}"));
}

static void json_nonzero_fallbacks_included(void **state)
{
	struct zc_stats s = { 0 };
	s.fallbacks[ZC_FB_WARMUP] = 2;
	s.fallback_bytes[ZC_FB_WARMUP] = 131072;
	s.fallbacks[ZC_FB_DEST_APPEND] = 1; /* an event that moved no bytes */
	json_of(&s, "/bin/x");
	assert_true(json_is(&doc, "fallbacks.warmup", "2"));
	assert_true(json_is(&doc, "fallbacks.dest_o_append", "1"));
	assert_true(json_is(&doc, "fallback_bytes.warmup", "131072"));
	assert_int_equal(json_count(&doc, "fallbacks.too_small"), 0);
	assert_int_equal(json_count(&doc, "fallback_bytes.dest_o_append"), 0);
	int in_fallbacks = 0;
	for (int i = 0; i < doc.n; i++)
		in_fallbacks += strncmp(doc.m[i].path, "fallbacks.", 10) == 0;
	assert_int_equal(in_fallbacks, 2);
}

static void json_every_fallback_reason_has_a_key(void **state)
{
	struct zc_stats s = { 0 };
	for (int i = 0; i < ZC_FB__COUNT; i++)
		s.fallbacks[i] = s.fallback_bytes[i] = (uint64_t)i + 1;
	json_of(&s, "/bin/x");
	for (int i = 0; i < ZC_FB__COUNT; i++) {
		char path[128], val[24];
		snprintf(path, sizeof path, "fallbacks.%s", zc_fallback_keys[i]);
		snprintf(val, sizeof val, "%d", i + 1);
		assert_int_equal(json_count(&doc, path), 1);
		assert_true(json_is(&doc, path, val));
		snprintf(path, sizeof path, "fallback_bytes.%s", zc_fallback_keys[i]);
		assert_true(json_is(&doc, path, val));
	}
}

static void json_exe_quotes_backslashes_and_controls_escaped(void **state)
{
	struct zc_stats s = { 0 };
	json_of(&s, "/tmp/a \"q\" b\\c\nd\te\r\x01\x1f\x7f/");
	assert_true(json_is(&doc, "exe",
			    "\"/tmp/a \\\"q\\\" b\\\\c\\nd\\te\\r\\u0001\\u001f\\u007f/\""));
}

static void json_exe_utf8_kept_and_other_bytes_escaped(void **state)
{
	struct zc_stats s = { 0 };
	json_of(&s, "/tmp/caf\xc3\xa9/\xff\xfe/\xc3/\xe2\x82\xac");
	assert_true(json_is(&doc, "exe",
			    "\"/tmp/caf\xc3\xa9/\\u00ff\\u00fe/\\u00c3/\xe2\x82\xac\""));
}

static void json_exe_overlong_and_surrogate_escaped(void **state)
{
	struct zc_stats s = { 0 };
	/* overlong '/' and an encoded UTF-16 surrogate are not UTF-8 */
	json_of(&s, "\xc0\xaf|\xed\xa0\x80");
	assert_true(json_is(&doc, "exe", "\"\\u00c0\\u00af|\\u00ed\\u00a0\\u0080\""));
}

static void json_null_exe_and_mode_are_empty_strings(void **state)
{
	struct zc_stats s = { 0 };
	size_t n = zc_stats_json(&s, out, sizeof out, 1, NULL, NULL, 0);
	assert_valid_json(out, n);
	assert_true(json_is(&doc, "exe", "\"\""));
	assert_true(json_is(&doc, "mode", "\"\""));
}

static void json_too_small_buffer_returns_0(void **state)
{
	struct zc_stats s = { 0 };
	char buf[4096];
	s.fallbacks[ZC_FB_TOO_SMALL] = 9;
	size_t full = zc_stats_json(&s, out, sizeof out, 77, "/bin/\"x\"", "on", 0);
	assert_true(full > 0 && full < sizeof buf - 1);
	for (size_t cap = 0; cap <= full; cap++) {
		memset(buf, 'Z', sizeof buf);
		assert_int_equal(zc_stats_json(&s, buf, cap, 77, "/bin/\"x\"", "on", 0), 0);
		if (cap > 0)
			assert_int_equal(buf[0], '\0');
		assert_int_equal(buf[cap], 'Z'); /* nothing past cap */
	}
	assert_int_equal(zc_stats_json(&s, buf, full + 1, 77, "/bin/\"x\"", "on", 0), full);
	assert_memory_equal(buf, out, full + 1);
}

/* ---- human summary ---------------------------------------------------------- */

static void human_line_example(void **state)
{
	struct zc_stats s = { 0 };
	s.bytes_zero_copy = 64ULL << 20;
	s.bytes_copied = 128 * 1024;
	s.phantom_reads = 512;
	s.transfers[ZC_T_SPLICE] = 512;
	s.fallbacks[ZC_FB_WARMUP] = 2;
	size_t n = zc_stats_human(&s, out, sizeof out, 1234, "/usr/bin/cat", "on");
	assert_string_equal(out, "zcopy[1234] /usr/bin/cat mode=on: 64.0 MiB zero-copy, "
				 "128.0 KiB copied, 512 phantom reads, 0 B materialized; "
				 "transfers: splice=512; fallbacks: warmup=2\n");
	assert_int_equal(n, strlen(out));
}

static void human_nothing_happened(void **state)
{
	struct zc_stats s = { 0 };
	zc_stats_human(&s, out, sizeof out, 5, "/bin/true", "off");
	assert_string_equal(out, "zcopy[5] /bin/true mode=off: 0 B zero-copy, 0 B copied, "
				 "0 phantom reads, 0 B materialized\n");
}

static void human_observe_shows_would_zero_copy(void **state)
{
	struct zc_stats s = { 0 };
	s.would_zero_copy_bytes = 3ULL << 30;
	s.fallbacks[ZC_FB_TOO_SMALL] = 4;
	s.fallbacks[ZC_FB_ALIGNMENT] = 1;
	zc_stats_human(&s, out, sizeof out, 9, "/bin/cat", "observe");
	assert_string_equal(out, "zcopy[9] /bin/cat mode=observe: 0 B zero-copy, 0 B copied, "
				 "0 phantom reads, 0 B materialized, 3.0 GiB would zero-copy; "
				 "fallbacks: too_small=4 alignment=1\n");
}

static void human_sizes_round_to_one_decimal(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1024 * 1024 - 1, "1.0 MiB" }, /* rounds up into the next unit */
		{ 10ULL << 30, "10.0 GiB" },
		{ (5ULL << 40) + (1ULL << 39), "5.5 TiB" },
		{ UINT64_MAX, "16.0 EiB" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct zc_stats s = { 0 };
		char expect[128];
		s.bytes_copied = cases[i].bytes;
		zc_stats_human(&s, out, sizeof out, 1, "/x", "on");
		snprintf(expect, sizeof expect, "0 B zero-copy, %s copied,", cases[i].text);
		if (!strstr(out, expect))
			fail_msg("%llu bytes: expected \"%s\" in %s",
				 (unsigned long long)cases[i].bytes, cases[i].text, out);
	}
}

static void human_lists_every_nonzero_transfer(void **state)
{
	struct zc_stats s = { 0 };
	s.transfers[ZC_T_COPY_FILE_RANGE] = 1;
	s.transfers[ZC_T_SENDFILE] = 22;
	s.transfers[ZC_T_SPLICE] = 333;
	zc_stats_human(&s, out, sizeof out, 1, "/x", "on");
	assert_non_null(strstr(out, "; transfers: copy_file_range=1 sendfile=22 splice=333\n"));
}

static void human_control_bytes_in_exe_cannot_break_the_line(void **state)
{
	struct zc_stats s = { 0 };
	size_t n = zc_stats_human(&s, out, sizeof out, 1, "/tmp/a\nb\x1b", "on");
	assert_non_null(strstr(out, "] /tmp/a?b? mode=on"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
}

static void human_too_small_buffer_returns_0(void **state)
{
	struct zc_stats s = { 0 };
	char buf[512];
	size_t full = zc_stats_human(&s, out, sizeof out, 1, "/x", "on");
	memset(buf, 'Z', sizeof buf);
	assert_int_equal(zc_stats_human(&s, buf, full, 1, "/x", "on"), 0);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[full], 'Z');
	assert_int_equal(zc_stats_human(&s, buf, full + 1, 1, "/x", "on"), full);
}

/* ---- names -------------------------------------------------------------------- */

static void reason_keys_are_unique_json_identifiers(void **state)
{
	for (int i = 0; i < ZC_FB__COUNT; i++) {
		const char *k = zc_fallback_keys[i];
		assert_non_null(k);
		assert_true(k[0] != '\0');
		assert_int_equal(strspn(k, "abcdefghijklmnopqrstuvwxyz_"), strlen(k));
		assert_non_null(zc_fallback_descs[i]);
		assert_true(zc_fallback_descs[i][0] != '\0');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(k, zc_fallback_keys[j]);
	}
}

static void transfer_keys_are_the_primitives(void **state)
{
	assert_string_equal(zc_transfer_keys[ZC_T_COPY_FILE_RANGE], "copy_file_range");
	assert_string_equal(zc_transfer_keys[ZC_T_SENDFILE], "sendfile");
	assert_string_equal(zc_transfer_keys[ZC_T_SPLICE], "splice");
}

/* ---- counters ------------------------------------------------------------------ */

static void *add_many(void *arg)
{
	for (int i = 0; i < 100000; i++) {
		ZC_ADD(bytes_copied, 3);
		zc_fallback(ZC_FB_STDIO, 2);
	}
	return arg;
}

static void counters_are_exact_across_threads(void **state)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, add_many, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(zc_stats.bytes_copied, 4 * 100000 * 3);
	assert_int_equal(zc_stats.fallbacks[ZC_FB_STDIO], 4 * 100000);
	assert_int_equal(zc_stats.fallback_bytes[ZC_FB_STDIO], 4 * 100000 * 2);
}

static void reset_zeroes_every_counter(void **state)
{
	static const struct zc_stats zero;
	memset(&zc_stats, 0x5a, sizeof zc_stats);
	zc_stats_reset();
	assert_memory_equal(&zc_stats, &zero, sizeof zero);
}

/* ---- emission ---------------------------------------------------------------- */


static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void set_stats_target(const char *name)
{
	snprintf(zc_cfg.stats, sizeof zc_cfg.stats, "%s/%s", tmpdir, name);
}

/* Checks buf holds exactly `lines` lines, each one valid JSON record. */
static void assert_json_lines(const char *buf, int lines)
{
	const char *p = buf;
	int n = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_valid_json(p, (size_t)(nl - p));
		assert_int_equal(json_count(&doc, ZCOPY_STAT_PID), 1);
		p = nl + 1;
		n++;
	}
	assert_int_equal(n, lines);
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void emit_without_target_writes_nothing(void **state)
{
	int fds = count_fds(), files = count_entries(tmpdir);
	zc_cfg.stats[0] = '\0';
	ZC_ADD(bytes_copied, 1);
	zc_stats_emit();
	assert_int_equal(count_entries(tmpdir), files);
	assert_int_equal(count_fds(), fds);
}

static void emit_appends_one_json_line_at_expanded_path(void **state)
{
	char path[PATH_MAX], exe[PATH_MAX], buf[8192], pid[24], quoted[PATH_MAX + 2];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	assert_true(el > 0);
	exe[el] = '\0';
	set_stats_target("run.%p.json");
	snprintf(path, sizeof path, "%s/run.%ld.json", tmpdir, (long)getpid());
	zc_cfg.mode = ZC_MODE_OBSERVE;
	zc_cfg.guard = 1;
	ZC_ADD(would_zero_copy_bytes, 1 << 20);
	zc_fallback(ZC_FB_ALIGNMENT, 4096);

	int before = count_fds();
	errno = EXDEV;
	zc_stats_emit();
	assert_int_equal(errno, EXDEV);
	assert_int_equal(count_fds(), before); /* the stats fd was closed */

	unit_slurp(path, buf, sizeof buf);
	assert_json_lines(buf, 1);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	snprintf(quoted, sizeof quoted, "\"%s\"", exe);
	assert_members(IT_PAIRS({ "pid", pid }, { "exe", quoted }, { "mode", "\"observe\"" },
				{ "guard", "1" }, { "would_zero_copy_bytes", "1048576" },
				{ "fallbacks.alignment", "1" }, { "fallback_bytes.alignment", "4096" }));
}

static void emit_appends_to_existing_file(void **state)
{
	char path[PATH_MAX], buf[8192];
	set_stats_target("append.json");
	snprintf(path, sizeof path, "%s/append.json", tmpdir);
	zc_stats_emit();
	zc_stats_reset(); /* as a forked child would, before its own record */
	zc_stats_emit();
	unit_slurp(path, buf, sizeof buf);
	assert_json_lines(buf, 2);
}

static void emit_writes_one_record_per_process(void **state)
{
	char path[PATH_MAX], buf[8192];
	set_stats_target("once.json");
	snprintf(path, sizeof path, "%s/once.json", tmpdir);
	zc_stats_emit();
	zc_stats_emit(); /* a second exit path in the same process */
	unit_slurp(path, buf, sizeof buf);
	assert_json_lines(buf, 1);
}

static void emit_from_many_processes_gives_whole_lines(void **state)
{
	enum { KIDS = 16 };
	char path[PATH_MAX];
	static char buf[1 << 16];
	set_stats_target("shared.json");
	snprintf(path, sizeof path, "%s/shared.json", tmpdir);
	for (int i = 0; i < KIDS; i++) {
		pid_t p = fork();
		assert_true(p >= 0);
		if (p == 0) {
			zc_stats_reset();
			ZC_ADD(bytes_copied, i);
			for (int r = 0; r < ZC_FB__COUNT; r++)
				zc_fallback((enum zc_fallback)r, 1);
			zc_stats_emit();
			_exit(0);
		}
	}
	for (int i = 0; i < KIDS; i++) {
		int st;
		assert_true(wait(&st) > 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	unit_slurp(path, buf, sizeof buf);
	assert_json_lines(buf, KIDS);
}

static void emit_stderr_prints_the_human_line(void **state)
{
	char path[PATH_MAX], buf[8192], head[64];
	snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
	strcpy(zc_cfg.stats, "stderr");
	zc_cfg.mode = ZC_MODE_ON;
	ZC_ADD(bytes_zero_copy, 2 << 20);
	ZC_ADD(transfers[ZC_T_SENDFILE], 2);

	int saved = unit_stderr_to(path);
	zc_stats_open(); /* start-up: fd 2 is that file */
	zc_stats_emit();
	dup2(saved, 2);
	close(saved);

	size_t n = unit_slurp(path, buf, sizeof buf);
	snprintf(head, sizeof head, "zcopy[%ld] /", (long)getpid());
	assert_true(n > 0);
	assert_memory_equal(buf, head, strlen(head));
	assert_non_null(strstr(buf, " mode=on: 2.0 MiB zero-copy, 0 B copied,"));
	assert_non_null(strstr(buf, "; transfers: sendfile=2\n"));
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
}

/* No copy of stderr is kept: a program that points fd 2 at a file of its
 * own before it exits gets no summary in that file. */
static void emit_stderr_skips_a_replaced_fd_2(void **state)
{
	char path[PATH_MAX], theirs[PATH_MAX], buf[256];
	snprintf(path, sizeof path, "%s/stderr0.txt", tmpdir);
	snprintf(theirs, sizeof theirs, "%s/theirs.txt", tmpdir);
	strcpy(zc_cfg.stats, "stderr");
	zc_cfg.mode = ZC_MODE_ON;
	ZC_ADD(bytes_zero_copy, 1 << 20);

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int other = open(theirs, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && other >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	close(fd);
	int before = count_fds();
	zc_stats_open();
	assert_int_equal(count_fds(), before); /* nothing held */
	dup2(other, 2);
	close(other);
	zc_stats_emit();
	dup2(saved, 2);
	close(saved);

	assert_int_equal(unit_slurp(path, buf, sizeof buf), 0);
	assert_int_equal(unit_slurp(theirs, buf, sizeof buf), 0);
}

static void emit_to_unwritable_path_is_silent(void **state)
{
	char path[PATH_MAX], buf[256];
	snprintf(path, sizeof path, "%s/err.txt", tmpdir);
	strcpy(zc_cfg.stats, "/nonexistent-zc-dir/stats.json");
	int saved = unit_stderr_to(path);
	int before = count_fds();
	zc_stats_emit();
	int after = count_fds();
	dup2(saved, 2);
	close(saved);
	assert_int_equal(after, before);
	assert_int_equal(unit_slurp(path, buf, sizeof buf), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, fresh)
		T(json_has_every_contract_key_once),
		T(json_keys_in_documented_order),
		T(json_is_one_line_object),
		T(json_values_match_counters),
		T(record_reads_back_through_the_tools_reader),
		T(json_zero_fallbacks_omitted),
		T(json_nonzero_fallbacks_included),
		T(json_every_fallback_reason_has_a_key),
		T(json_exe_quotes_backslashes_and_controls_escaped),
		T(json_exe_utf8_kept_and_other_bytes_escaped),
		T(json_exe_overlong_and_surrogate_escaped),
		T(json_null_exe_and_mode_are_empty_strings),
		T(json_too_small_buffer_returns_0),
		T(human_line_example),
		T(human_nothing_happened),
		T(human_observe_shows_would_zero_copy),
		T(human_sizes_round_to_one_decimal),
		T(human_lists_every_nonzero_transfer),
		T(human_control_bytes_in_exe_cannot_break_the_line),
		T(human_too_small_buffer_returns_0),
		T(reason_keys_are_unique_json_identifiers),
		T(transfer_keys_are_the_primitives),
		T(counters_are_exact_across_threads),
		T(reset_zeroes_every_counter),
		T(emit_without_target_writes_nothing),
		T(emit_appends_one_json_line_at_expanded_path),
		T(emit_appends_to_existing_file),
		T(emit_writes_one_record_per_process),
		T(emit_from_many_processes_gives_whole_lines),
		T(emit_stderr_prints_the_human_line),
		T(emit_stderr_skips_a_replaced_fd_2),
		T(emit_to_unwritable_path_is_silent),
#undef T
	};
	return cmocka_run_group_tests_name("stats", tests, group_setup, group_teardown);
}
