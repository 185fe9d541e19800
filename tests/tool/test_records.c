/*
 * test_records.c - tests of the parts of the zcopy command that need no
 * process: the reader of the stats records libzcopy.so writes (tools/records.c)
 * and the SHA-256 that `zcopy ab` compares outputs with (tools/sha256.c).
 * Linked into build/tool/test_tool by tests/tool/tool.mk.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* records.c reports malformed input through this; the tests look at results. */
void zt_err(int err, const char *fmt, ...)
{
	(void)err;
	(void)fmt;
}

static const char example[] =
	"{\"pid\":123,\"exe\":\"/usr/bin/cat\",\"mode\":\"observe\",\"guard\":0,"
	"\"bytes_zero_copy\":5,\"bytes_copied\":67108864,\"phantom_reads\":6,"
	"\"materialized_bytes\":7,\"would_zero_copy_bytes\":66846720,"
	"\"transfers\":{\"copy_file_range\":1,\"sendfile\":2,\"splice\":3},"
	"\"fallbacks\":{\"warmup\":2,\"too_small\":1},"
	"\"fallback_bytes\":{\"warmup\":262144,\"too_small\":10}}";

START_TEST(record_example_line_parses)
{
	struct zt_record r;
	const char *why;
	ck_assert_int_eq(zt_record_parse(example, strlen(example), &r, &why, NULL), 0);
	ck_assert_int_eq(r.pid, 123);
	ck_assert_str_eq(r.exe, "/usr/bin/cat");
	ck_assert_str_eq(r.mode, "observe");
	ck_assert_uint_eq(r.bytes_zero_copy, 5);
	ck_assert_uint_eq(r.bytes_copied, 67108864);
	ck_assert_uint_eq(r.phantom_reads, 6);
	ck_assert_uint_eq(r.materialized_bytes, 7);
	ck_assert_uint_eq(r.would_zero_copy_bytes, 66846720);
	ck_assert_uint_eq(r.transfers[0], 1);
	ck_assert_uint_eq(r.transfers[1], 2);
	ck_assert_uint_eq(r.transfers[2], 3);
	ck_assert_uint_eq(r.nreasons, 2);
	zt_record_sort_reasons(&r);
	ck_assert_str_eq(r.reasons[0].name, "warmup");
	ck_assert_uint_eq(r.reasons[0].count, 2);
	ck_assert_uint_eq(r.reasons[0].bytes, 262144);
	ck_assert_str_eq(r.reasons[1].name, "too_small");
	ck_assert_uint_eq(r.reasons[1].bytes, 10);
	zt_record_free(&r);
}
END_TEST

START_TEST(record_string_escapes_decode)
{
	static const char line[] =
		"{\"pid\":1,\"exe\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\\t\"}";
	struct zt_record r;
	ck_assert_int_eq(zt_record_parse(line, strlen(line), &r, NULL, NULL), 0);
	ck_assert_str_eq(r.exe, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80\t");
	zt_record_free(&r);
}
END_TEST

START_TEST(record_unknown_keys_are_skipped)
{
	static const char line[] = " { \"new\" : [ 1 , -2.5e3 , true , false , null , "
				   "{ \"x\" : [ ] } , \"s\" ] , \"pid\" : 9 , \"z\" : { } } ";
	struct zt_record r;
	const char *why = NULL;
	ck_assert_msg(zt_record_parse(line, strlen(line), &r, &why, NULL) == 0, "%s", why);
	ck_assert_int_eq(r.pid, 9);
	zt_record_free(&r);
}
END_TEST

START_TEST(record_streams_parse)
{
	static const char line[] =
		"{\"pid\":5,\"streams\":[{\"src\":\"/a b\",\"dst_kind\":\"file\",\"dst\":\"/c\","
		"\"bytes_zero_copy\":10,\"bytes_copied\":3,\"would_zero_copy_bytes\":0,"
		"\"primitive\":\"splice\",\"fallback\":\"warmup\",\"later\":[1]},"
		"{\"src\":\"/d\",\"dst_kind\":\"pipe\",\"dst\":\"\",\"bytes_copied\":7}]}";
	struct zt_record r;
	const char *why = NULL;
	ck_assert_msg(zt_record_parse(line, strlen(line), &r, &why, NULL) == 0, "%s", why);
	ck_assert_uint_eq(r.nstreams, 2);
	ck_assert_str_eq(r.streams[0].src, "/a b");
	ck_assert_str_eq(r.streams[0].dst_kind, "file");
	ck_assert_str_eq(r.streams[0].dst, "/c");
	ck_assert_uint_eq(r.streams[0].bytes_zero_copy, 10);
	ck_assert_uint_eq(r.streams[0].bytes_copied, 3);
	ck_assert_str_eq(r.streams[0].primitive, "splice");
	ck_assert_str_eq(r.streams[0].fallback, "warmup");
	ck_assert_str_eq(r.streams[1].dst, "");
	ck_assert_uint_eq(r.streams[1].bytes_copied, 7);
	zt_record_free(&r);
	ck_assert_ptr_null(r.streams);
	/* a stream that is not an object spoils the record */
	static const char bad[] = "{\"pid\":5,\"streams\":[1]}";
	ck_assert_int_eq(zt_record_parse(bad, strlen(bad), &r, &why, NULL), -1);
}
END_TEST

/* Every proper prefix of a valid record is malformed, and none may crash. */
START_TEST(record_every_truncation_is_rejected)
{
	size_t n, len = strlen(example);
	for (n = 0; n < len; n++) {
		struct zt_record r;
		const char *why = NULL;
		ck_assert_msg(zt_record_parse(example, n, &r, &why, NULL) == -1,
			      "prefix of %zu bytes accepted", n);
		ck_assert_ptr_nonnull(why);
		ck_assert_ptr_null(r.reasons);
	}
}
END_TEST

START_TEST(record_malformed_lines_are_rejected)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"pid\":1",
		"{\"pid\":1,}",
		"{\"pid\":01}",
		"{\"pid\":-1}",
		"{\"pid\":1.5}",
		"{\"pid\":1} x",
		"{\"exe\":\"x\"}", /* no pid */
		"{\"pid\":1,\"bytes_copied\":18446744073709551616}",
		"{\"pid\":1,\"bytes_copied\":-3}",
		"{\"pid\":1,\"exe\":\"a\tb\"}",
		"{\"pid\":1,\"exe\":\"\\x\"}",
		"{\"pid\":1,\"exe\":\"\\ud800\"}",
		"{\"pid\":1,\"exe\":\"\\u00\"}",
		"{\"pid\":1,\"exe\":\"\\u0000\"}",
		"{\"pid\":1,\"fallbacks\":[1]}",
		"{\"pid\":1,\"fallbacks\":{\"a\":\"b\"}}",
		"{\"pid\":1,\"x\":tru}",
		"{pid:1}",
		"{\"pid\" 1}",
	};
	size_t i;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct zt_record r;
		const char *why = NULL;
		ck_assert_msg(zt_record_parse(bad[i], strlen(bad[i]), &r, &why, NULL) == -1,
			      "accepted: %s", bad[i]);
		ck_assert_msg(why != NULL, "no reason for: %s", bad[i]);
	}
}
END_TEST

START_TEST(record_deep_nesting_is_rejected_without_crashing)
{
	size_t n = 200000, i;
	char *line = malloc(n + 16);
	struct zt_record r;
	const char *why = NULL;

	ck_assert_ptr_nonnull(line);
	strcpy(line, "{\"pid\":1,\"x\":");
	for (i = strlen(line); i < n; i++)
		line[i] = '[';
	ck_assert_int_eq(zt_record_parse(line, n, &r, &why, NULL), -1);
	ck_assert_str_eq(why, "nested too deeply");
	free(line);
}
END_TEST

START_TEST(records_add_up_by_reason)
{
	static const char l2[] = "{\"pid\":2,\"bytes_copied\":1,\"transfers\":{\"splice\":4},"
				 "\"fallbacks\":{\"stdio\":5,\"warmup\":1},"
				 "\"fallback_bytes\":{\"stdio\":50,\"warmup\":1}}";
	struct zt_record a, b, sum;
	size_t i;

	memset(&sum, 0, sizeof sum);
	ck_assert_int_eq(zt_record_parse(example, strlen(example), &a, NULL, NULL), 0);
	ck_assert_int_eq(zt_record_parse(l2, strlen(l2), &b, NULL, NULL), 0);
	ck_assert_int_eq(zt_record_add(&sum, &a), 0);
	ck_assert_int_eq(zt_record_add(&sum, &b), 0);
	ck_assert_uint_eq(sum.bytes_copied, 67108865);
	ck_assert_uint_eq(sum.transfers[2], 7);
	ck_assert_uint_eq(sum.nreasons, 3);
	for (i = 0; i < sum.nreasons; i++)
		if (strcmp(sum.reasons[i].name, "warmup") == 0) {
			ck_assert_uint_eq(sum.reasons[i].count, 3);
			ck_assert_uint_eq(sum.reasons[i].bytes, 262145);
		}
	ck_assert_str_eq(zt_reason_desc("stdio"),
			 "fread/fwrite data glibc moved itself (its buffer, or a stream zcopy does not replay)");
	ck_assert_ptr_null(zt_reason_desc("no_such_reason"));
	zt_record_free(&a);
	zt_record_free(&b);
	zt_record_free(&sum);
}
END_TEST

static void sha_hex(const void *p, size_t n, char out[65])
{
	struct zt_sha256 c;
	zt_sha256_init(&c);
	zt_sha256_update(&c, p, n);
	zt_sha256_hex(&c, out);
}

START_TEST(sha256_matches_known_vectors)
{
	static const char two_blocks[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct zt_sha256 c;
	char hex[65], block[1000];
	int i;

	sha_hex("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha_hex("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha_hex(two_blocks, strlen(two_blocks), hex);
	ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* One million 'a' fed in odd-sized pieces, so partial blocks are exercised. */
	memset(block, 'a', sizeof block);
	zt_sha256_init(&c);
	for (i = 0; i < 1000; i++) {
		zt_sha256_update(&c, block, 333);
		zt_sha256_update(&c, block, 667);
	}
	zt_sha256_hex(&c, hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

TCase *records_tcase(void);
TCase *records_tcase(void)
{
	TCase *tc = tcase_create("records");
	tcase_add_test(tc, record_example_line_parses);
	tcase_add_test(tc, record_string_escapes_decode);
	tcase_add_test(tc, record_unknown_keys_are_skipped);
	tcase_add_test(tc, record_streams_parse);
	tcase_add_test(tc, record_every_truncation_is_rejected);
	tcase_add_test(tc, record_malformed_lines_are_rejected);
	tcase_add_test(tc, record_deep_nesting_is_rejected_without_crashing);
	tcase_add_test(tc, records_add_up_by_reason);
	tcase_add_test(tc, sha256_matches_known_vectors);
	return tc;
}
