/*
 * test_policy.c - which writes may go by a kernel transfer: the call's own
 * contract first, then the units the kernel keeps whole, as a table.
 */
#include <limits.h>
#include <sys/socket.h>

#include "policy.h"
#include "stats.h"
#include "unit.h"

struct row {
	const char *what;
	enum zc_kind kind;
	unsigned flags;
	enum zc_wcall how;
	int send_flags;
	size_t n;
	int want; /* -1: may transfer; else the ZC_FB_* reason */
};

static const struct row rows[] = {
	{ "write to a file", ZC_K_FILE, 0, ZC_W_WRITE, 0, 1 << 20, -1 },
	{ "write to a pipe", ZC_K_PIPE, 0, ZC_W_WRITE, 0, 1 << 20, -1 },
	{ "write to a stream socket", ZC_K_STREAM, 0, ZC_W_WRITE, 0, 1 << 20, -1 },
	{ "write to /dev/null", ZC_K_CHAR, 0, ZC_W_WRITE, 0, 1 << 20, -1 },
	{ "write to a block device", ZC_K_BLOCK, 0, ZC_W_WRITE, 0, 1 << 20, -1 },
	{ "write to a tty", ZC_K_TTY, 0, ZC_W_WRITE, 0, 1 << 20, ZC_FB_DEST_KIND },
	{ "write to a directory or eventfd", ZC_K_OTHER, 0, ZC_W_WRITE, 0, 1 << 20, ZC_FB_DEST_KIND },
	{ "write to a datagram socket", ZC_K_DGRAM, 0, ZC_W_WRITE, 0, 1 << 20, ZC_FB_DEST_DATAGRAM },
	{ "O_APPEND file", ZC_K_FILE, ZC_FL_APPEND, ZC_W_WRITE, 0, 1 << 20, ZC_FB_DEST_APPEND },
	{ "O_DIRECT file", ZC_K_FILE, ZC_FL_DIRECT, ZC_W_WRITE, 0, 1 << 20, ZC_FB_DEST_DIRECT },
	{ "pipe write of PIPE_BUF is atomic", ZC_K_PIPE, 0, ZC_W_WRITE, 0, PIPE_BUF, ZC_FB_TOO_SMALL },
	{ "pipe write above PIPE_BUF", ZC_K_PIPE, 0, ZC_W_WRITE, 0, PIPE_BUF + 1, -1 },
	{ "pwrite to a file", ZC_K_FILE, 0, ZC_W_PWRITE, 0, 1 << 20, -1 },
	{ "pwrite to a pipe gives ESPIPE", ZC_K_PIPE, 0, ZC_W_PWRITE, 0, 1 << 20, ZC_FB_DEST_KIND },
	{ "pwrite to a socket gives ESPIPE", ZC_K_STREAM, 0, ZC_W_PWRITE, 0, 1 << 20, ZC_FB_DEST_KIND },
	{ "pwrite to an O_APPEND file", ZC_K_FILE, ZC_FL_APPEND, ZC_W_PWRITE, 0, 1 << 20, ZC_FB_DEST_APPEND },
	{ "send on a stream socket", ZC_K_STREAM, 0, ZC_W_SEND, 0, 1 << 20, -1 },
	{ "send MSG_NOSIGNAL", ZC_K_STREAM, 0, ZC_W_SEND, MSG_NOSIGNAL, 1 << 20, -1 },
	{ "send MSG_MORE", ZC_K_STREAM, 0, ZC_W_SEND, MSG_MORE, 1 << 20, ZC_FB_SEND_FLAGS },
	{ "send MSG_DONTWAIT", ZC_K_STREAM, 0, ZC_W_SENDTO, MSG_DONTWAIT, 1 << 20, ZC_FB_SEND_FLAGS },
	{ "send on a file gives ENOTSOCK", ZC_K_FILE, 0, ZC_W_SEND, 0, 1 << 20, ZC_FB_DEST_KIND },
	{ "send on a pipe gives ENOTSOCK", ZC_K_PIPE, 0, ZC_W_SEND, 0, 1 << 20, ZC_FB_DEST_KIND },
	{ "send on a datagram socket", ZC_K_DGRAM, 0, ZC_W_SEND, 0, 1 << 20, ZC_FB_DEST_DATAGRAM },
	{ "sendto on a stream socket", ZC_K_STREAM, 0, ZC_W_SENDTO, 0, 1 << 20, -1 },
};

static void every_row(void **state)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct zc_fdinfo o = { .kind = (uint8_t)r->kind, .flags = (uint8_t)r->flags };
		int got = zc_write_refusal(&o, r->how, r->send_flags, r->n);
		if (got != r->want)
			fail_msg("%s: got %d, want %d", r->what, got, r->want);
	}
}

static void dest_refusal_ignores_the_call(void **state)
{
	struct zc_fdinfo o = { .kind = ZC_K_PIPE };
	assert_int_equal(zc_dest_refusal(&o), -1);
	o.flags = ZC_FL_APPEND;
	assert_int_equal(zc_dest_refusal(&o), ZC_FB_DEST_APPEND);
	o.kind = ZC_K_DGRAM;
	o.flags = 0;
	assert_int_equal(zc_dest_refusal(&o), ZC_FB_DEST_DATAGRAM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_row),
		cmocka_unit_test(dest_refusal_ignores_the_call),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
