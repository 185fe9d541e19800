/*
 * ab_files.c - the files `zcopy ab` handles around CMD's runs.
 *
 * stdin: every run must read the same bytes.  A file given with --stdin is
 * opened afresh for each run; a pipe (or `--stdin -`) is read to its end
 * once, into the private directory, and that copy is replayed; a terminal
 * gives /dev/null (CMD would otherwise wait for typing in every run).
 *
 * --out FILE: every run must start from the same state.  A FILE that did not
 * exist is removed before each run.  A FILE that existed is the user's: ab
 * refuses to touch it unless --force, and then renames it aside (same
 * directory, so the rename keeps its inode, owner and times), gives every
 * run a fresh copy of it, and renames it back at the end - also when ab is
 * stopped by a signal (child.c, zt_restore_later).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ab.h"

int ab_copy(const char *from, const char *to, mode_t mode)
{
	static char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ? mode : 0600);
	if (out < 0)
		goto done;
	while ((n = read(in, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
		char *p = buf;
		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto done;
			p += w;
			n -= w;
		}
	}
	if (n == 0 && (!mode || fchmod(out, mode) == 0))
		rc = 0;
done:
	if (out >= 0 && close(out) != 0)
		rc = -1;
	close(in);
	return rc;
}

/* ---- stdin ---- */

/* Reads fd 0 to its end into path.  poll, so that a stop signal (our
 * handlers restart system calls) is noticed while nothing arrives. */
static int capture_stdin(const char *path)
{
	static char buf[1 << 16];
	int out = zt_mktemp_at(path, O_WRONLY);
	ssize_t n;

	if (out < 0)
		return -1;
	for (;;) {
		struct pollfd p = {0, POLLIN, 0};
		if (zt_stop_signal())
			zt_die_of(zt_stop_signal());
		if (poll(&p, 1, 200) == 0)
			continue;
		n = read(0, buf, sizeof buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (write(out, buf, (size_t)n) != n) {
			zt_err(errno, "cannot keep standard input in %s", path);
			close(out);
			return -1;
		}
	}
	close(out);
	if (n < 0) {
		zt_err(errno, "cannot read standard input");
		return -1;
	}
	return 0;
}

int ab_stdin_setup(struct ab *ab)
{
	struct stat st;

	if (ab->stdin_opt && strcmp(ab->stdin_opt, "-") != 0) {
		if (zt_absolute(ab->stdin_opt, ab->stdin_path, sizeof ab->stdin_path) != 0)
			return -1;
		return 0;
	}
	if (!ab->stdin_opt && (fstat(0, &st) != 0 || isatty(0) || S_ISCHR(st.st_mode))) {
		/* no stdin, a terminal, or a device such as /dev/null or /dev/zero */
		snprintf(ab->stdin_path, sizeof ab->stdin_path, "/dev/null");
		return 0;
	}
	if (!ab->stdin_opt && S_ISREG(st.st_mode)) {
		/* `zcopy ab -- CMD < file`: each run opens the same file anew */
		char link[64];
		ssize_t n;
		snprintf(link, sizeof link, "/proc/self/fd/0");
		n = readlink(link, ab->stdin_path, sizeof ab->stdin_path - 1);
		if (n > 0 && ab->stdin_path[0] == '/') {
			ab->stdin_path[n] = '\0';
			if (access(ab->stdin_path, R_OK) == 0)
				return 0;
		}
	}
	snprintf(ab->stdin_path, sizeof ab->stdin_path, "%s/stdin", ab->dir);
	return capture_stdin(ab->stdin_path);
}

/* ---- --out files ---- */

int ab_outs_setup(struct ab *ab)
{
	size_t i;

	for (i = 0; i < ab->nouts; i++) {
		struct ab_out *o = &ab->outs[i];
		char dir[PATH_MAX], *slash;
		struct stat st;
		int fd;

		if (lstat(o->path, &st) != 0) {
			if (errno != ENOENT) {
				zt_err(errno, "--out %s", o->path);
				return ZT_EXIT_USAGE;
			}
			continue;
		}
		if (!ab->force) {
			zt_err(0, "--out %s exists; every run starts without it, so ab would delete "
				  "it.  Move it away, or pass --force: ab then sets it aside, gives "
				  "every run a copy of it, and puts it back at the end", o->path);
			return ZT_EXIT_USAGE;
		}
		if (!S_ISREG(st.st_mode)) {
			zt_err(0, "--out %s exists and is not a regular file", o->path);
			return ZT_EXIT_USAGE;
		}
		snprintf(dir, sizeof dir, "%s", o->path);
		slash = strrchr(dir, '/');
		if (slash)
			snprintf(o->backup, sizeof o->backup, "%.*s/.%s.zcopy-ab.XXXXXX",
				 (int)(slash - dir), dir, slash + 1);
		else
			snprintf(o->backup, sizeof o->backup, ".%s.zcopy-ab.XXXXXX", o->path);
		/* A unique name, then the rename replaces that empty file. */
		fd = mkstemp(o->backup);
		if (fd < 0) {
			zt_err(errno, "cannot set --out %s aside", o->path);
			return ZT_EXIT_INTERNAL;
		}
		close(fd);
		if (rename(o->path, o->backup) != 0) {
			zt_err(errno, "cannot set --out %s aside", o->path);
			unlink(o->backup);
			return ZT_EXIT_INTERNAL;
		}
		if (zt_restore_later(o->backup, o->path) != 0) {
			rename(o->backup, o->path);
			return ZT_EXIT_INTERNAL;
		}
		o->existed = 1;
	}
	return 0;
}

int ab_outs_reset(struct ab *ab, const char *label)
{
	size_t i;

	for (i = 0; i < ab->nouts; i++) {
		struct ab_out *o = &ab->outs[i];
		struct stat st;

		if (unlink(o->path) != 0 && errno != ENOENT) {
			zt_err(errno, "cannot remove --out %s before run %s", o->path, label);
			return -1;
		}
		if (o->existed && (stat(o->backup, &st) != 0 ||
				   ab_copy(o->backup, o->path, st.st_mode & 07777) != 0)) {
			zt_err(errno, "cannot give run %s a copy of --out %s", label, o->path);
			return -1;
		}
	}
	return 0;
}

/* ---- the reference run's outputs ---- */

int ab_keep_reference(struct ab *ab)
{
	size_t i;

	snprintf(ab->ref_out, sizeof ab->ref_out, "%s/ref.stdout", ab->dir);
	if (zt_mktemp_at(ab->ref_out, O_WRONLY) < 0)
		return -1;
	unlink(ab->ref_out);
	if (ab_copy(ab->out_path, ab->ref_out, 0) != 0) {
		zt_err(errno, "cannot keep the reference stdout");
		return -1;
	}
	for (i = 0; i < ab->nouts; i++) {
		struct ab_out *o = &ab->outs[i];
		int fd;

		snprintf(o->ref, sizeof o->ref, "%s/ref.out%zu", ab->dir, i);
		fd = zt_mktemp_at(o->ref, O_WRONLY);
		if (fd < 0)
			return -1;
		close(fd);
		unlink(o->ref);
		if (access(o->path, F_OK) != 0)
			continue; /* no file: nothing to compare bytes with */
		if (ab_copy(o->path, o->ref, 0) != 0) {
			zt_err(errno, "cannot keep the reference --out %s", o->path);
			return -1;
		}
	}
	return 0;
}

long long ab_first_difference(const char *x, const char *y)
{
	static char a[1 << 16], b[1 << 16];
	int fx = open(x, O_RDONLY | O_CLOEXEC), fy = open(y, O_RDONLY | O_CLOEXEC);
	long long off = 0, found = -1;

	if (fx < 0 || fy < 0)
		goto out;
	for (;;) {
		ssize_t nx = pread(fx, a, sizeof a, off), ny = pread(fy, b, sizeof b, off);
		ssize_t n = nx < ny ? nx : ny, i;
		if (nx < 0 || ny < 0)
			break;
		for (i = 0; i < n; i++)
			if (a[i] != b[i]) {
				found = off + i;
				goto out;
			}
		if (nx != ny) { /* one ends first: the difference is where it ends */
			found = off + n;
			break;
		}
		if (n == 0)
			break;
		off += n;
	}
out:
	if (fx >= 0)
		close(fx);
	if (fy >= 0)
		close(fy);
	return found;
}

void ab_keep(struct ab *ab, const char *file, const char *name, char *kept, size_t cap)
{
	char to[PATH_MAX];

	kept[0] = '\0';
	if (!ab->keep_dir || access(file, F_OK) != 0)
		return;
	if ((size_t)snprintf(to, sizeof to, "%s/%s", ab->keep_dir, name) >= sizeof to)
		return;
	if (access(to, F_OK) == 0) { /* kept already (the reference, once) */
		snprintf(kept, cap, "%s", to);
		return;
	}
	if (ab_copy(file, to, 0644) != 0) {
		zt_err(errno, "--keep: cannot write %s", to);
		return;
	}
	snprintf(kept, cap, "%s", to);
}
