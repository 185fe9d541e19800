/*
 * common.h - helpers shared by the benchmark programs (copy, ideal, sink,
 * harness): the stream hash used to prove outputs identical, the size
 * parser for BENCH_SIZE-style values, and the command line copy and ideal
 * share.  Header-only so each program stays one self-contained source file
 * plus this.
 */
#ifndef ZC_BENCH_COMMON_H
#define ZC_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * A 64-bit stream hash, fed in arbitrary pieces.  It is not cryptographic;
 * it only has to catch a wrong, missing or reordered block.  Each 8-byte word
 * goes through a bijective mix, so any single differing word always changes
 * the result, and the byte count is folded in at the end.
 */
struct bhash {
	uint64_t h;
	uint64_t n;
	uint64_t carry;
	unsigned nc;
};

static inline void bhash_init(struct bhash *s)
{
	s->h = 0x9e3779b97f4a7c15ULL;
	s->n = 0;
	s->carry = 0;
	s->nc = 0;
}

static inline uint64_t bhash_mix(uint64_t h, uint64_t w)
{
	h ^= w * 0x87c37b91114253d5ULL;
	h = (h << 31) | (h >> 33);
	return h * 0x4cf5ad432745937fULL + 0x52dce729ULL;
}

static inline void bhash_update(struct bhash *s, const void *p, size_t len)
{
	const unsigned char *b = p;

	s->n += len;
	while (s->nc && len) { /* finish a word split across two pieces */
		s->carry |= (uint64_t)*b++ << (8 * s->nc);
		len--;
		if (++s->nc == 8) {
			s->h = bhash_mix(s->h, s->carry);
			s->carry = 0;
			s->nc = 0;
		}
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		s->h = bhash_mix(s->h, w);
		b += 8;
		len -= 8;
	}
	while (len--)
		s->carry |= (uint64_t)*b++ << (8 * s->nc++);
}

static inline uint64_t bhash_final(const struct bhash *s)
{
	uint64_t h = s->h;

	if (s->nc)
		h = bhash_mix(h, s->carry ^ ((uint64_t)s->nc << 56));
	return bhash_mix(h, s->n);
}

/* "512M", "8m", "128K", "1G", "4096" -> bytes; 0 when malformed. */
static inline uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	return *end ? 0 : (uint64_t)v;
}

/* The command line of copy and ideal: [-s] [-b CHUNK] SRC [DST].  opts is
 * getopt's string ("b:", or "sb:" where s_flag takes -s); a bad option, a
 * bad size or a wrong number of operands prints usage and exits 2. */
static inline void bench_args(int argc, char **argv, const char *opts, const char *usage,
			      size_t *chunk, int *s_flag)
{
	int opt;

	while ((opt = getopt(argc, argv, opts)) != -1) {
		if (opt == 's' && s_flag) {
			*s_flag = 1;
			continue;
		}
		if (opt != 'b' || !(*chunk = parse_size(optarg)))
			goto bad;
	}
	if (optind < argc && argc - optind <= 2)
		return;
bad:
	fprintf(stderr, "usage: %s\n", usage);
	exit(2);
}

#endif
