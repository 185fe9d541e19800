/*
 * json.h - a strict JSON checker for the stats tests.
 *
 * The stats record is consumed by other tools, so the tests hold it to the
 * letter of RFC 8259 (UTF-8, escapes, no control bytes in strings, nothing
 * after the value) rather than to what a lenient parser would accept.  Every
 * object member is recorded, in document order, under its dotted path
 * ("transfers.splice"), with the raw text of its value.
 */
#ifndef ZC_TEST_JSON_H
#define ZC_TEST_JSON_H

#include <stddef.h>

#define JSON_MAX_MEMBERS 256

struct json_member {
	char path[128];
	const char *val; /* raw value text, not NUL-terminated */
	size_t len;
};

struct json_doc {
	struct json_member m[JSON_MAX_MEMBERS];
	int n;
	const char *err; /* why parsing stopped, NULL if the text is valid */
	size_t err_at;   /* byte offset of the problem */
};

/* Returns 0 if text[0..len) is exactly one valid JSON value. */
int json_check(const char *text, size_t len, struct json_doc *d);
/* The first member at path, or NULL. */
const struct json_member *json_get(const struct json_doc *d, const char *path);
/* How many members sit at path (to catch duplicate keys). */
int json_count(const struct json_doc *d, const char *path);
/* Index of the member at path in document order, or -1. */
int json_index(const struct json_doc *d, const char *path);
/* Does the member at path have exactly the raw value text val? */
int json_is(const struct json_doc *d, const char *path, const char *val);

#endif
