/*
 * jump_fault - a signal handler that leaves by siglongjmp while zcopy serves
 * a fault on a guarded page.  The copying thread touches every page of its
 * buffer (malloc'd, 16 bytes into a page: guarded) deep down its stack,
 * under sigsetjmp, while another thread sends it SIGUSR1 as fast as it
 * can; the handler jumps back to the sigsetjmp whenever the touch loop is
 * under way.  A signal that comes while zcopy holds its lock for the fault
 * waits there and runs as the lock is let go, still inside zcopy's fault
 * service, so its jump leaves zcopy.  The thread must come out as it went
 * in: cancellation enabled, its calls zcopy's again.
 *
 * usage: jump_fault SRC DST
 * The main thread copies SRC to DST in 128 KiB chunks (ROUNDS chunks, from
 * the start again at the end of SRC), checking after each that its
 * cancellation is still enabled.  Then it closes SRC, cancels itself
 * (deferred: pending), leaves a handler by siglongjmp and reaches a
 * cancellation point, which ends it (a buffer read at round 7 and never
 * touched keeps guarded pages for the close to read in).  A second thread
 * then copies SRC once more (to DST.2) and ends the process; a copy that
 * waits for more than 10 s ends it with status 3 (the engine lock kept by
 * the cancelled thread).  Prints what happened; the number of jumps
 * depends on timing and is not printed.
 */
#include <alloca.h>
#include <setjmp.h>

#include "zt.h"

#define CH (128 * 1024)
#define ROUNDS 1500

static sigjmp_buf deep_env, top_env;
static volatile sig_atomic_t armed, top_armed;
static volatile unsigned long jumps, sum;
static volatile int disabled_at = -1;
static const char *src_path, *dst_path;

static int cancel_state(void)
{
	int s, ignored;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &s);
	pthread_setcancelstate(s, &ignored);
	return s;
}

static void on_usr1(int sig)
{
	(void)sig;
	if (armed) {
		armed = 0;
		jumps++;
		siglongjmp(deep_env, 1);
	}
}

static void on_usr2(int sig)
{
	(void)sig;
	if (top_armed) {
		top_armed = 0;
		siglongjmp(top_env, 1);
	}
}

/* Touches a byte of every page of buf, depth frames (16 KiB each) below
 * the caller: a jump lands below the frame where the thread last entered
 * zcopy. */
static __attribute__((noinline)) int deep(const char *buf, size_t n, int depth)
{
	if (depth > 0) {
		volatile char *pad = alloca(16384);
		pad[0] = 1;
		return deep(buf, n, depth - 1) + pad[0];
	}
	if (sigsetjmp(deep_env, 1) == 0) {
		armed = 1;
		for (size_t i = 0; i < n; i += 4096)
			sum += (unsigned char)buf[i];
		armed = 0;
	}
	return 0;
}

static volatile int copier_gone;

static void gone(void *arg)
{
	(void)arg;
	copier_gone = 1;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "the second copy still waits after 10 s\n";
	(void)!write(1, m, sizeof m - 1);
	_exit(3);
}

/* The second copy, once the main thread is gone. */
static void *after(void *arg)
{
	(void)arg;
	while (!copier_gone)
		zt_nap_us(1000);
	alarm(10);
	char dst2[4096];
	snprintf(dst2, sizeof dst2, "%s.2", dst_path);
	int in = zt_open_in(src_path), out = zt_open_out(dst2, 0);
	char *buf = (char *)zt_malloc(CH + 8192) + 16;
	printf("second copy: %lld bytes\n", zt_copy(in, out, buf, CH));
	fflush(stdout);
	exit(0);
}

static void copy(void)
{
	int in = zt_open_in(src_path), out = zt_open_out(dst_path, 0);
	char *buf = (char *)zt_malloc(CH + 8192) + 16;
	struct zt_storm storm;
	int storming = 0;
	for (int round = 0; round < ROUNDS; round++) {
		ssize_t n = read(in, buf, CH);
		if (n < 0)
			zt_die("read");
		if (n == 0) {
			if (lseek(in, 0, SEEK_SET) != 0)
				zt_die("lseek");
			continue;
		}
		if (round == 7) {
			/* A read into a buffer never touched: its guarded pages
			 * still stand for SRC's bytes at the close below, which
			 * reads them in under zcopy's lock. */
			char *keep = (char *)zt_malloc(CH + 8192) + 16;
			if (read(in, keep, CH) != CH)
				zt_die("read");
		}
		if (round == 8) {
			zt_storm_begin(&storm, pthread_self(), SIGUSR1, 200);
			storming = 1;
		}
		if (storming)
			deep(buf, (size_t)n, 16);
		zt_put(out, buf, (size_t)n);
		if (cancel_state() != PTHREAD_CANCEL_ENABLE) {
			disabled_at = round;
			break;
		}
	}
	if (storming)
		zt_storm_end(&storm);
	printf("copier: cancellation %s\n",
	       disabled_at < 0 ? "stayed enabled" : "found disabled after a jump");
	fflush(stdout);
	/* Cancellation on (as the program left it), a close, a cancel that
	 * waits for the next cancellation point, and a handler left by
	 * siglongjmp on the way to it. */
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	close(in);
	pthread_cancel(pthread_self());
	if (sigsetjmp(top_env, 1) == 0) {
		top_armed = 1;
		raise(SIGUSR2);
	}
	pthread_testcancel();
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("jump_fault SRC DST");
	src_path = argv[1];
	dst_path = argv[2];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	pthread_t second;
	if (pthread_create(&second, NULL, after, NULL) != 0)
		zt_die("pthread_create");
	pthread_cleanup_push(gone, NULL);
	copy();
	pthread_cleanup_pop(1);
	printf("copier: not cancelled\n");
	fflush(stdout);
	pthread_exit(NULL);
}
