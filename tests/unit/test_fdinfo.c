/*
 * test_fdinfo.c - fd classification as pure functions: the kind from the
 * stat mode, socket type and tty flag, and the flags that matter to a
 * transfer from the open flags.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fdinfo.h"
#include "unit.h"

/* File type bits, socket type and isatty of a descriptor, and its kind. */
static void classify_by_type_socket_and_tty(void **state)
{
	static const struct {
		mode_t mode;
		int sock_type, tty;
		enum zc_kind kind;
	} cases[] = {
		{ S_IFREG | 0644, 0, 0, ZC_K_FILE },
		{ S_IFBLK | 0660, 0, 0, ZC_K_BLOCK },
		{ S_IFIFO | 0600, 0, 0, ZC_K_PIPE },
		{ S_IFSOCK | 0777, SOCK_STREAM, 0, ZC_K_STREAM },
		{ S_IFSOCK | 0777, SOCK_DGRAM, 0, ZC_K_DGRAM },
		/* message boundaries matter just as for datagrams */
		{ S_IFSOCK | 0777, SOCK_SEQPACKET, 0, ZC_K_DGRAM },
		{ S_IFCHR | 0666, 0, 0, ZC_K_CHAR },  /* a char device, not a tty */
		{ S_IFCHR | 0620, 0, 1, ZC_K_TTY },
		{ S_IFDIR | 0755, 0, 0, ZC_K_OTHER },
		/* an anonymous inode: eventfd, epoll, signalfd ... have no file
		 * type bits */
		{ 0600, 0, 0, ZC_K_OTHER },
		/* the socket type is ignored for non-sockets */
		{ S_IFREG, SOCK_DGRAM, 0, ZC_K_FILE },
		{ S_IFIFO, SOCK_STREAM, 1, ZC_K_PIPE },
		/* the tty flag is ignored for non-char devices */
		{ S_IFREG, 0, 1, ZC_K_FILE },
		{ S_IFSOCK, SOCK_STREAM, 1, ZC_K_STREAM },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (zc_classify(cases[i].mode, cases[i].sock_type, cases[i].tty) != cases[i].kind)
			fail_msg("case %zu: mode 0%o, socket type %d, tty %d: kind %d, expected %d", i,
				 (unsigned)cases[i].mode, cases[i].sock_type, cases[i].tty,
				 (int)zc_classify(cases[i].mode, cases[i].sock_type, cases[i].tty),
				 (int)cases[i].kind);
}

static void unknown_socket_type_is_not_a_stream(void **state)
{
	assert_int_not_equal(zc_classify(S_IFSOCK, 0, 0), ZC_K_STREAM);
}

static void rdonly_is_read(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_RDONLY), ZC_FL_READ);
}

static void wronly_is_write(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_WRONLY), ZC_FL_WRITE);
}

static void rdwr_is_read_and_write(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_RDWR), ZC_FL_READ | ZC_FL_WRITE);
}

static void append_flag(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_WRONLY | O_APPEND), ZC_FL_WRITE | ZC_FL_APPEND);
}

static void nonblock_flag(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_RDWR | O_NONBLOCK),
			 ZC_FL_READ | ZC_FL_WRITE | ZC_FL_NONBLOCK);
}

static void direct_flag(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_RDONLY | O_DIRECT), ZC_FL_READ | ZC_FL_DIRECT);
}

static void all_flags_together(void **state)
{
	assert_int_equal(zc_flags_from_fl(O_WRONLY | O_APPEND | O_NONBLOCK | O_DIRECT),
			 ZC_FL_WRITE | ZC_FL_APPEND | ZC_FL_NONBLOCK | ZC_FL_DIRECT);
}

static void irrelevant_flags_ignored(void **state)
{
	/* F_GETFL also reports these; none changes what a transfer may do */
	assert_int_equal(zc_flags_from_fl(O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME),
			 ZC_FL_READ);
}

static void every_kind_has_a_distinct_name(void **state)
{
	for (int i = 0; i < ZC_K__COUNT; i++) {
		const char *n = zc_kind_name((enum zc_kind)i);
		assert_non_null(n);
		assert_true(n[0] != '\0');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, zc_kind_name((enum zc_kind)j));
	}
	assert_non_null(zc_kind_name(ZC_K__COUNT));
}

/* Deferred reads trust st_size: only file systems where it is the data size. */
static void disk_and_memory_file_systems_are_sized(void **state)
{
	(void)state;
	assert_true(zc_fs_sized(0xEF53));     /* ext4 */
	assert_true(zc_fs_sized(0x58465342)); /* xfs */
	assert_true(zc_fs_sized(0x9123683E)); /* btrfs */
	assert_true(zc_fs_sized(0x01021994)); /* tmpfs */
}

static void proc_sys_fuse_and_nfs_are_not_sized(void **state)
{
	(void)state;
	assert_false(zc_fs_sized(0x9FA0));     /* procfs: st_size 0 */
	assert_false(zc_fs_sized(0x62656572)); /* sysfs: st_size 4096 */
	assert_false(zc_fs_sized(0x65735546)); /* fuse */
	assert_false(zc_fs_sized(0x6969));     /* nfs */
	assert_false(zc_fs_sized(0));
}

/* Only a readable block device, or a readable file on a sized file system,
 * is a source a read can be deferred from. */
static void source_needs_readable_sized_file_or_block(void **state)
{
	(void)state;
	struct zc_fdinfo fi = { .kind = ZC_K_FILE, .flags = ZC_FL_READ | ZC_FL_SIZED };
	assert_true(zc_fd_is_source(&fi));
	fi.flags = ZC_FL_READ; /* e.g. a /proc file */
	assert_false(zc_fd_is_source(&fi));
	fi.flags = ZC_FL_WRITE | ZC_FL_SIZED;
	assert_false(zc_fd_is_source(&fi));
	fi.kind = ZC_K_BLOCK;
	fi.flags = ZC_FL_READ;
	assert_true(zc_fd_is_source(&fi));
	fi.kind = ZC_K_PIPE;
	assert_false(zc_fd_is_source(&fi));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(disk_and_memory_file_systems_are_sized),
		cmocka_unit_test(proc_sys_fuse_and_nfs_are_not_sized),
		cmocka_unit_test(source_needs_readable_sized_file_or_block),
		cmocka_unit_test(classify_by_type_socket_and_tty),
		cmocka_unit_test(unknown_socket_type_is_not_a_stream),
		cmocka_unit_test(rdonly_is_read),
		cmocka_unit_test(wronly_is_write),
		cmocka_unit_test(rdwr_is_read_and_write),
		cmocka_unit_test(append_flag),
		cmocka_unit_test(nonblock_flag),
		cmocka_unit_test(direct_flag),
		cmocka_unit_test(all_flags_together),
		cmocka_unit_test(irrelevant_flags_ignored),
		cmocka_unit_test(every_kind_has_a_distinct_name),
	};
	return cmocka_run_group_tests_name("fdinfo", tests, NULL, NULL);
}
