/*
 * own_malloc - a malloc of a program's own (as jemalloc or tcmalloc linked
 * into a program), for guard_copy_own: the malloc family served from one
 * static arena, blocks reused last-freed-first by size class and never given
 * back to the system.  The word before every block has bit 1 set, where
 * glibc marks a block it mapped itself and unmaps on free: zcopy must not
 * take one of these blocks for glibc's (memory.c), or it would forget the
 * guarded pages of a block that stays mapped.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ARENA ((size_t)256 << 20)
#define CLASSES 40

static char arena[ARENA] __attribute__((aligned(4096)));
static size_t used;
static void *bins[CLASSES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Before every pointer handed out: the class block it lies in, and its
 * class shifted left by 3 with bit 1 set (the word glibc's test reads). */
struct head {
	char *block;
	size_t word;
};

static struct head *head_of(void *p)
{
	return (struct head *)p - 1;
}

static int class_of(size_t n)
{
	int c = 5;
	while (c < CLASSES && ((size_t)1 << c) < n)
		c++;
	return c;
}

/* A block of at least n bytes (its first 16 are the head of a plain malloc). */
static char *take(int c)
{
	char *b = NULL;
	pthread_mutex_lock(&mu);
	if (bins[c]) {
		b = bins[c];
		bins[c] = *(void **)b;
	} else if (used + ((size_t)1 << c) <= ARENA) {
		b = arena + used;
		used += (size_t)1 << c;
	}
	pthread_mutex_unlock(&mu);
	return b;
}

/* n bytes at a multiple of align (a power of two, at least 16). */
static void *get(size_t n, size_t align)
{
	if (n > ARENA || align > ARENA)
		return errno = ENOMEM, NULL;
	int c = class_of(n + align + sizeof(struct head));
	char *b = c < CLASSES ? take(c) : NULL;
	if (!b)
		return errno = ENOMEM, NULL;
	uintptr_t p = ((uintptr_t)b + sizeof(struct head) + align - 1) & ~(uintptr_t)(align - 1);
	struct head *h = head_of((void *)p);
	h->block = b;
	h->word = (size_t)c << 3 | 2;
	return (void *)p;
}

void *malloc(size_t n)
{
	return get(n, 16);
}

void free(void *p)
{
	if (!p)
		return;
	struct head *h = head_of(p);
	char *b = h->block;
	int c = (int)(h->word >> 3);
	pthread_mutex_lock(&mu);
	*(void **)b = bins[c];
	bins[c] = b;
	pthread_mutex_unlock(&mu);
}

size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	struct head *h = head_of(p);
	return ((size_t)1 << (h->word >> 3)) - (size_t)((char *)p - h->block);
}

void *calloc(size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes))
		return errno = ENOMEM, NULL;
	void *p = get(bytes, 16);
	if (p)
		memset(p, 0, bytes);
	return p;
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t have = malloc_usable_size(p);
	if (n <= have)
		return p;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, have);
		free(p);
	}
	return q;
}

void *memalign(size_t align, size_t n)
{
	return get(n, align < 16 ? 16 : align);
}

void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p = memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t n)
{
	return memalign(4096, n);
}

void *pvalloc(size_t n)
{
	return memalign(4096, (n + 4095) & ~(size_t)4095);
}
