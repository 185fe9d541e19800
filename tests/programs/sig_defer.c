/*
 * sig_defer - program signal handlers that read the copy loop's buffer (a
 * malloc'd buffer, which guard mode guards) at any moment of the copy,
 * also while zcopy holds its engine lock.
 *
 * usage: sig_defer MODE SRC DST
 *   timer      a 200 us interval timer's handler (SA_RESTART) sums the
 *              whole buffer during the copy, made PASSES (6) times over
 *   early      the same, the handler installed from the executable's
 *              preinit_array, before any library's constructor ran
 *   rawearly   timer, and a SIGUSR1 handler installed from preinit_array
 *              with the raw rt_sigaction and a restorer of its own (as
 *              runtimes that bypass libc do); after the copy SIGUSR1 is
 *              raised: the restorer must have run, and sigaction must read
 *              it back (x86-64)
 *   jump       the same; on its 10th run the handler leaves by siglongjmp,
 *              the timer stops and the interrupted round is done again
 *   oneshot    a one-shot timer at a time, each with a fresh SA_RESETHAND
 *              handler that sums the buffer; after it ran the disposition
 *              must read back SIG_DFL (flags and mask kept); at the end the
 *              handler is set once more and SIGALRM raised twice: the
 *              second is the default action (death by SIGALRM)
 *   siginfo    a child sends 300 SIGRTMIN with sigqueue values 1..300; the
 *              SA_SIGINFO handler sums the buffer and checks each value,
 *              code and sender, in order
 *   eintr      after a warm-up through a pipe of its own, the pipe is
 *              filled and a 30 ms timer's handler (no SA_RESTART) sums
 *              the buffer and drains the pipe while a write of a chunk to
 *              it waits: the write fails with EINTR
 *   restart    the same with SA_RESTART: the write restarts and completes
 *   altstack   the timer mode with a handler installed SA_ONSTACK on an
 *              alternate stack; prints how many runs were not on it
 *   readback   handlers set by sigaction, signal, sysv_signal, sigset and
 *              siginterrupt, each read back (handler, flags, mask) and
 *              printed; then the timer copy (PASSES times) with them in
 *              place, SIGALRM's handler with SA_NODEFER and SIGSEGV in its
 *              mask
 *   nested     readback with a 20 us timer: the handler's runs nest up to
 *              eight deep, several of them faulting on one guarded page at
 *              once, and signals arrive while zcopy notes others
 * Prints what it did; the handler's sums depend on timing and are not
 * printed.
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zt.h"

#define CH (128 * 1024 + 24) /* malloc: 16 bytes into a page */

static char *volatile g_buf;
static volatile unsigned long g_sum;
static volatile int g_runs;

static void sum_buffer(void)
{
	unsigned long s = 0;
	for (size_t i = 0; i < CH; i += 512)
		s += (unsigned char)g_buf[i];
	g_sum += s;
}

static void timer_us(long first, long every)
{
	struct itimerval it = { { 0, every }, { 0, first } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void on_tick(int sig)
{
	sum_buffer();
	g_runs++;
}

#define PASSES 6

static long long copy_all(int in, int out)
{
	long long total = 0;
	ssize_t r;
	while ((r = zt_read(in, g_buf, CH)) > 0) {
		zt_put(out, g_buf, (size_t)r);
		total += r;
	}
	return total;
}

static void install_tick(void)
{
	struct sigaction sa = { .sa_handler = on_tick, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
}

/* rawearly: the kernel's sigaction, and a restorer that counts its runs
 * before it makes rt_sigreturn. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};
#define RAW_SA_RESTORER 0x04000000
static volatile int g_usr1_runs, g_restorer_runs;
static void on_usr1_raw(int sig)
{
	g_usr1_runs++;
}
#if defined(__x86_64__) && !defined(__ILP32__)
void counting_restorer(void);
__asm__(".text\n"
	"counting_restorer:\n"
	"	addl $1, g_restorer_runs(%rip)\n"
	"	movq $15, %rax\n" /* rt_sigreturn */
	"	syscall\n");
static void install_raw(void)
{
	struct kernel_sigaction k = { on_usr1_raw, RAW_SA_RESTORER | SA_RESTART, counting_restorer, 0 };
	syscall(SYS_rt_sigaction, SIGUSR1, &k, NULL, sizeof k.mask);
}
#else
#define counting_restorer NULL
static void install_raw(void)
{
}
#endif

/* After the copy: did the handler and its restorer run, and what does
 * sigaction read back? */
static void raise_raw(void)
{
	raise(SIGUSR1);
	struct sigaction now;
	sigaction(SIGUSR1, NULL, &now);
	printf("SIGUSR1 handler runs %d, restorer runs %d, read back: handler %s, restorer %s\n",
	       g_usr1_runs, g_restorer_runs, now.sa_handler == on_usr1_raw ? "mine" : "OTHER",
	       (void (*)(void))now.sa_restorer == counting_restorer ? "mine" : "OTHER");
}

/* early, rawearly: before anything else runs (argv[1] is the mode). */
static void install_early(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc > 1 && strcmp(argv[1], "early") == 0)
		install_tick();
	if (argc > 1 && strcmp(argv[1], "rawearly") == 0)
		install_raw();
}
__attribute__((section(".preinit_array"), used)) static void (*const early_hook)(int, char **, char **) =
	install_early;

/* early: 0 the handler installed now, 1 from preinit_array, 2 now, and
 * rawearly's SIGUSR1 handler checked at the end. */
static int timer_mode(int in, int out, int early)
{
	if (early != 1)
		install_tick();
	timer_us(200, 200);
	long long total = 0;
	for (int p = 0; p < PASSES; p++) {
		if (lseek(in, 0, SEEK_SET) != 0 || lseek(out, 0, SEEK_SET) != 0)
			zt_die("lseek");
		total += copy_all(in, out);
	}
	timer_us(0, 0);
	printf("copied %lld\n", total);
	if (early == 2)
		raise_raw();
	return 0;
}

/* ---- jump ---- */
static sigjmp_buf g_env;

static void on_tick_jump(int sig)
{
	sum_buffer();
	if (++g_runs == 10)
		siglongjmp(g_env, 1);
}

static int jump_mode(int in, int out)
{
	struct sigaction sa = { .sa_handler = on_tick_jump, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	volatile long long total = 0, jumps = 0;
	timer_us(200, 200);
	for (;;) {
		off_t at = lseek(in, 0, SEEK_CUR);
		if (sigsetjmp(g_env, 1)) {
			/* Left a read or write somewhere in this round: it is
			 * done again from where it started. */
			timer_us(0, 0);
			jumps++;
			if (lseek(in, at, SEEK_SET) != at || lseek(out, at, SEEK_SET) != at ||
			    ftruncate(out, at) != 0)
				zt_die("rewind");
			total = at;
		}
		ssize_t r = zt_read(in, g_buf, CH);
		if (r <= 0)
			break;
		zt_put(out, g_buf, (size_t)r);
		total += r;
	}
	timer_us(0, 0);
	if (!jumps) { /* a copy faster than ten ticks: the jump is still made */
		while (!sigsetjmp(g_env, 1)) {
			timer_us(200, 200);
			while (g_runs < 10)
				pause();
		}
		timer_us(0, 0);
		jumps++;
	}
	printf("copied %lld jumps %lld\n", (long long)total, (long long)jumps);
	return 0;
}

/* ---- oneshot ---- */
static volatile int g_ran;

static void on_once(int sig)
{
	sum_buffer();
	g_ran = 1;
}

static void set_once(void)
{
	struct sigaction sa = { .sa_handler = on_once, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGALRM, &sa, NULL);
}

/* After a one-shot delivery: SIG_DFL, the flags and mask as installed. */
static int reset_seen(void)
{
	struct sigaction now;
	sigaction(SIGALRM, NULL, &now);
	return now.sa_handler == SIG_DFL && (now.sa_flags & SA_RESETHAND) &&
	       sigismember(&now.sa_mask, SIGUSR2);
}

static int oneshot_mode(int in, int out)
{
	long long total = 0;
	int armed = 0, bad = 0;
	ssize_t r;
	for (;;) {
		if (!armed) {
			set_once();
			timer_us(300, 0);
			armed = 1;
		}
		if ((r = zt_read(in, g_buf, CH)) <= 0)
			break;
		zt_put(out, g_buf, (size_t)r);
		total += r;
		if (g_ran) {
			bad += !reset_seen();
			g_ran = 0;
			armed = 0;
		}
	}
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, &old); /* no tick lost between test and wait */
	while (armed && !g_ran)
		sigsuspend(&old); /* the last timer still runs */
	sigprocmask(SIG_SETMASK, &old, NULL);
	bad += !reset_seen();
	printf("copied %lld bad %d\n", total, bad);
	fflush(stdout);
	set_once();
	raise(SIGALRM); /* the handler */
	raise(SIGALRM); /* the default action */
	printf("not reached\n");
	return 1;
}

/* ---- siginfo ---- */
#define SENT 300
static volatile int g_next = 1, g_bad;
static volatile pid_t g_sender;

static void on_queued(int sig, siginfo_t *si, void *uc)
{
	sum_buffer();
	if (si->si_code != SI_QUEUE || si->si_pid != g_sender || si->si_value.sival_int != g_next)
		g_bad++;
	g_next++;
}

static int siginfo_mode(int in, int out)
{
	struct sigaction sa = { .sa_sigaction = on_queued, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, NULL);
	pid_t parent = getpid();
	sigset_t rt, old;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, &old); /* g_sender is known before the first */
	pid_t c = zt_fork();
	if (c == 0) {
		for (int k = 1; k <= SENT; k++) {
			union sigval v = { .sival_int = k };
			if (sigqueue(parent, SIGRTMIN, v) != 0)
				_exit(1);
			zt_nap_us(50);
		}
		_exit(0);
	}
	g_sender = c;
	sigprocmask(SIG_SETMASK, &old, NULL);
	long long total = copy_all(in, out);
	int st;
	while (waitpid(c, &st, 0) != c)
		;
	sigprocmask(SIG_BLOCK, &rt, NULL); /* none lost between test and wait */
	while (g_next <= SENT)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("copied %lld received %d bad %d sender %d\n", total, g_next - 1, (int)g_bad,
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

/* ---- eintr, restart ---- */
static int g_pipe[2];
static char g_drained[4 << 20];
static volatile size_t g_drained_n;

static void on_blocked_write(int sig)
{
	sum_buffer();
	ssize_t r;
	while (g_drained_n < sizeof g_drained &&
	       (r = read(g_pipe[0], g_drained + g_drained_n, sizeof g_drained - g_drained_n)) > 0)
		g_drained_n += (size_t)r;
}

static void drain_to(int out)
{
	on_blocked_write(0);
	zt_put(out, g_drained, g_drained_n);
	g_drained_n = 0;
}

static int blocked_write_mode(int in, int out, int restart)
{
	if (pipe(g_pipe) != 0 || fcntl(g_pipe[0], F_SETFL, O_NONBLOCK) != 0)
		zt_die("pipe");
	fcntl(g_pipe[1], F_SETPIPE_SZ, 1 << 20);
	ssize_t r;
	/* Warm-up: chunks through the pipe, drained to DST after each. */
	for (int k = 0; k < 12 && (r = zt_read(in, g_buf, CH)) > 0; k++) {
		zt_put(g_pipe[1], g_buf, (size_t)r);
		drain_to(out);
	}
	/* The pipe full, then a chunk written to it: the write waits. */
	fcntl(g_pipe[1], F_SETFL, O_NONBLOCK);
	static char x[4096];
	memset(x, 'x', sizeof x);
	while (write(g_pipe[1], x, sizeof x) > 0)
		;
	fcntl(g_pipe[1], F_SETFL, 0);
	struct sigaction sa = { .sa_handler = on_blocked_write,
				.sa_flags = restart ? SA_RESTART : 0 };
	sigaction(SIGALRM, &sa, NULL);
	r = zt_read(in, g_buf, CH);
	timer_us(30000, 0);
	errno = 0;
	ssize_t w = write(g_pipe[1], g_buf, (size_t)r);
	printf("read %zd write %zd %s\n", r, w, w < 0 ? zt_errname(errno) : "");
	zt_put(out, g_drained, g_drained_n);
	g_drained_n = 0;
	drain_to(out);
	return 0;
}

/* ---- altstack ---- */
static char *g_alt;
static volatile int g_offstack;

static void on_tick_alt(int sig)
{
	char here;
	if (&here < g_alt || &here >= g_alt + SIGSTKSZ * 4)
		g_offstack++;
	sum_buffer();
}

static int altstack_mode(int in, int out)
{
	g_alt = zt_malloc(SIGSTKSZ * 4);
	stack_t ss = { .ss_sp = g_alt, .ss_size = SIGSTKSZ * 4 };
	if (sigaltstack(&ss, NULL) != 0)
		zt_die("sigaltstack");
	struct sigaction sa = { .sa_handler = on_tick_alt, .sa_flags = SA_RESTART | SA_ONSTACK };
	sigaction(SIGALRM, &sa, NULL);
	timer_us(200, 200);
	long long total = copy_all(in, out);
	timer_us(0, 0);
	printf("copied %lld offstack %d\n", total, (int)g_offstack);
	return 0;
}

/* ---- readback ---- */
static volatile int g_depth;

/* SA_NODEFER: runs nest when a tick comes before the last run ended (under
 * zcopy each first touch of a guarded page is a fault to answer); eight
 * deep at most, so that the stack stays small. */
static void on_tick_nested(int sig)
{
	if (g_depth >= 8)
		return;
	g_depth++;
	sum_buffer();
	g_depth--;
}

static void on_other(int sig)
{
	sum_buffer();
}

static void show(const char *what, int sig, void (*mine)(int))
{
	struct sigaction now;
	sigaction(sig, NULL, &now);
	printf("%s: handler %s flags %#x mask", what,
	       now.sa_handler == mine ? "mine" : now.sa_handler == SIG_DFL ? "dfl" : now.sa_handler == SIG_IGN ? "ign" : "OTHER",
	       (unsigned)now.sa_flags);
	for (int k = 1; k < 65; k++)
		if (sigismember(&now.sa_mask, k))
			printf(" %d", k);
	printf("\n");
}

static int readback_mode(int in, int out, long tick_us)
{
	/* The dispositions read back start at SIG_DFL, whatever was inherited
	 * (nohup starts a program with SIGHUP ignored, and `sigset returned`
	 * then says OTHER with or without zcopy). */
	static const int reset[] = { SIGALRM, SIGUSR1, SIGUSR2, SIGHUP };
	for (size_t k = 0; k < sizeof reset / sizeof reset[0]; k++)
		signal(reset[k], SIG_DFL);
	struct sigaction sa = { .sa_handler = on_tick_nested, .sa_flags = SA_RESTART | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGSEGV);
	struct sigaction old;
	sigaction(SIGALRM, &sa, &old);
	printf("old: %s\n", old.sa_handler == SIG_DFL ? "dfl" : "OTHER");
	sigaction(SIGALRM, &sa, &old);
	printf("old again: %s flags %#x\n", old.sa_handler == on_tick_nested ? "mine" : "OTHER",
	       (unsigned)old.sa_flags);
	show("sigaction", SIGALRM, on_tick_nested);
	printf("signal returned %s\n", signal(SIGUSR1, on_other) == SIG_DFL ? "dfl" : "OTHER");
	printf("signal again %s\n", signal(SIGUSR1, on_other) == on_other ? "mine" : "OTHER");
	show("signal", SIGUSR1, on_other);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	siginterrupt(SIGUSR1, 1);
	show("siginterrupt", SIGUSR1, on_other);
	signal(SIGUSR1, on_other);
	show("signal after siginterrupt", SIGUSR1, on_other);
	sysv_signal(SIGUSR2, on_other);
	show("sysv_signal", SIGUSR2, on_other);
	raise(SIGUSR2); /* one-shot */
	show("sysv_signal after one", SIGUSR2, on_other);
	printf("sigset returned %s\n", sigset(SIGHUP, on_other) == SIG_DFL ? "dfl" : "OTHER");
	printf("sigset hold %s\n", sigset(SIGHUP, SIG_HOLD) == on_other ? "mine" : "OTHER");
	printf("sigset again %s\n", sigset(SIGHUP, on_other) == SIG_HOLD ? "hold" : "OTHER");
	show("sigset", SIGHUP, on_other);
	sigignore(SIGHUP);
	show("sigignore", SIGHUP, on_other);
#pragma GCC diagnostic pop
	timer_us(tick_us, tick_us);
	long long total = 0;
	for (int p = 0; p < PASSES; p++) {
		if (lseek(in, 0, SEEK_SET) != 0 || lseek(out, 0, SEEK_SET) != 0)
			zt_die("lseek");
		total += copy_all(in, out);
	}
	timer_us(0, 0);
	raise(SIGUSR1);
	printf("copied %lld\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("sig_defer timer|early|rawearly|jump|oneshot|siginfo|eintr|restart|altstack|readback|nested SRC DST");
	const char *mode = argv[1];
	int in = zt_open_in(argv[2]), out = zt_open_out(argv[3], 0);
	g_buf = zt_malloc(CH);
	if (strcmp(mode, "timer") == 0 || strcmp(mode, "early") == 0)
		return timer_mode(in, out, mode[0] == 'e');
	if (strcmp(mode, "rawearly") == 0)
		return timer_mode(in, out, 2);
	if (strcmp(mode, "jump") == 0)
		return jump_mode(in, out);
	if (strcmp(mode, "oneshot") == 0)
		return oneshot_mode(in, out);
	if (strcmp(mode, "siginfo") == 0)
		return siginfo_mode(in, out);
	if (strcmp(mode, "eintr") == 0 || strcmp(mode, "restart") == 0)
		return blocked_write_mode(in, out, mode[0] == 'r');
	if (strcmp(mode, "altstack") == 0)
		return altstack_mode(in, out);
	if (strcmp(mode, "readback") == 0 || strcmp(mode, "nested") == 0)
		return readback_mode(in, out, mode[0] == 'n' ? 20 : 200);
	zt_usage("sig_defer timer|early|rawearly|jump|oneshot|siginfo|eintr|restart|altstack|readback|nested SRC DST");
	return 98;
}
