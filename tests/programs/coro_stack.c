/*
 * coro_stack - a copy loop whose buffer is a coroutine's local array.  A
 * context made by makecontext runs on a stack the program allocated
 * (malloc); it lends a 300,000-byte array of its frame and yields; the main
 * context copies SRC to DST through it (128 KiB reads, 16 bytes into the
 * array), then switches back: the coroutine's frame returns and its stack
 * grows over the same place (40 frames of 16 KiB), as a scheduler's next
 * task would.  Guarded pages left there would kill the process.
 *
 * usage: coro_stack SRC DST
 */
#include <ucontext.h>

#include "zt.h"

static ucontext_t main_ctx, co_ctx;
static char *lent;

__attribute__((noinline)) static void lend(void)
{
	char buf[300000];
	lent = buf + 16;
	if (swapcontext(&co_ctx, &main_ctx) != 0) /* the main context copies through buf */
		zt_die("swapcontext");
}

__attribute__((noinline)) static unsigned long deep(int d)
{
	volatile char a[16384];
	memset((char *)a, d, sizeof a);
	return d ? deep(d - 1) + (unsigned char)a[100] : (unsigned char)a[5];
}

static void co(void)
{
	lend();
	printf("deep %lu\n", deep(40));
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("coro_stack SRC DST");
	int in = open(argv[1], O_RDONLY), out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t sz = 1 << 20;
	char *stack = malloc(sz);
	if (in < 0 || out < 0 || !stack || getcontext(&co_ctx) != 0)
		zt_die("setup");
	co_ctx.uc_stack.ss_sp = stack;
	co_ctx.uc_stack.ss_size = sz;
	co_ctx.uc_link = &main_ctx;
	makecontext(&co_ctx, co, 0);
	if (swapcontext(&main_ctx, &co_ctx) != 0) /* runs until lend yields */
		zt_die("swapcontext");
	ssize_t n;
	long long total = 0;
	while ((n = read(in, lent, 131072)) > 0) {
		zt_put(out, lent, (size_t)n);
		total += n;
	}
	printf("copied %lld\n", total);
	fflush(stdout);
	if (swapcontext(&main_ctx, &co_ctx) != 0) /* the coroutine finishes */
		zt_die("swapcontext");
	printf("done\n");
	return 0;
}
