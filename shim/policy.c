/*
 * policy.c - which writes may go by a kernel transfer (see policy.h).
 */
#include "policy.h"

#include <limits.h>
#include <sys/socket.h>

#include "stats.h"

int zc_dest_refusal(const struct zc_fdinfo *o)
{
	if (o->flags & ZC_FL_APPEND)
		return ZC_FB_DEST_APPEND;
	if (o->flags & ZC_FL_DIRECT)
		return ZC_FB_DEST_DIRECT;
	switch (o->kind) {
	case ZC_K_FILE:
	case ZC_K_BLOCK:
	case ZC_K_PIPE:
	case ZC_K_STREAM:
	case ZC_K_CHAR:
		return -1;
	case ZC_K_DGRAM:
		return ZC_FB_DEST_DATAGRAM;
	default:
		return ZC_FB_DEST_KIND;
	}
}

int zc_write_refusal(const struct zc_fdinfo *o, enum zc_wcall how, int flags, size_t n)
{
	int send = how == ZC_W_SEND || how == ZC_W_SENDTO;
	if (how == ZC_W_PWRITE && o->kind != ZC_K_FILE && o->kind != ZC_K_BLOCK)
		return ZC_FB_DEST_KIND;
	if (send && o->kind != ZC_K_STREAM)
		return o->kind == ZC_K_DGRAM ? ZC_FB_DEST_DATAGRAM : ZC_FB_DEST_KIND;
	int r = zc_dest_refusal(o);
	if (r >= 0)
		return r;
	if (send && (flags & ~MSG_NOSIGNAL))
		return ZC_FB_SEND_FLAGS; /* MSG_MORE, MSG_DONTWAIT, ... have no transfer form */
	if (o->kind == ZC_K_PIPE && n <= PIPE_BUF)
		return ZC_FB_TOO_SMALL; /* atomic pipe write: one unit */
	return -1;
}
