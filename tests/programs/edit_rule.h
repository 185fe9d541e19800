/*
 * edit_rule.h - the in-place edit edit_copy applies, shared with the test
 * that computes the expected output independently of any run.
 *
 * Chunks 5, 6 and 40 (of 128 KiB) are edited: one byte in the first page,
 * one in a middle page and the whole last page of the chunk, so clean and
 * dirty pages alternate inside one write.
 */
#ifndef ZT_EDIT_RULE_H
#define ZT_EDIT_RULE_H

#include <stddef.h>
#include <string.h>

static inline int zt_edit_chunk(unsigned long idx)
{
	return idx == 5 || idx == 6 || idx == 40;
}

/* Edits buf (chunk idx, n valid bytes) in place. */
static inline void zt_edit_apply(unsigned char *buf, size_t n, unsigned long idx)
{
	if (!zt_edit_chunk(idx))
		return;
	if (n > 10)
		buf[10] ^= 0xff;
	if (n > 70001)
		buf[70001] = (unsigned char)('A' + idx % 26);
	if (n >= 131072)
		memset(buf + 131072 - 4096, 'E', 4096);
}

#endif
