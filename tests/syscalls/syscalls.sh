#!/usr/bin/env bash
# tests/syscalls/syscalls.sh - zcopy's own system calls per chunk, counted.
#
# The cost of a redirected chunk is the system calls zcopy makes for it: on
# the machines measured each costs 1-2 us, the price of copying a few KiB.
# Every scenario runs a real copier under zcopy and `strace -c` (the copier
# alone: the consumer of a pipe runs outside strace), checks that the output
# is the input and that zcopy moved at least 90% of it by kernel transfer
# (from the stats), and fails when the calls per 128 KiB chunk, start-up
# included, exceed the scenario's budget.  The budgets are today's cost with
# a little room: a change that adds a call per chunk fails here, not only in
# `make bench`.  Lower them when the hot path gets cheaper.
#
# Environment: ZCOPY_LIB (default build/libzcopy.so), ZCOPY_TOOL (default
# build/zcopy, which reads the stats record), ZCOPY_TEST_PROGS (default
# build/programs: the stdio copier tests/programs/stdio_cp).
# The last line is `syscalls: N passed, M failed`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LIB=${ZCOPY_LIB:-$root/build/libzcopy.so}
TOOL=${ZCOPY_TOOL:-$root/build/zcopy}
PROGS=${ZCOPY_TEST_PROGS:-$root/build/programs}
unset ZCOPY_MODE ZCOPY_GUARD ZCOPY_STATS ZCOPY_LOG ZCOPY_LOG_FILE ZCOPY_MIN_CHUNK LD_PRELOAD

command -v strace >/dev/null || {
	echo "syscalls: strace not found (tests/deps.sh installs it)" >&2
	exit 2
}
[ -f "$LIB" ] || {
	echo "syscalls: $LIB not found" >&2
	exit 2
}
case $LIB in /*) ;; *) LIB=$PWD/$LIB ;; esac

WORK=$(mktemp -d /tmp/zcopy-syscalls.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
SIZE=$((64 * 1024 * 1024))
CHUNK=$((128 * 1024))
head -c "$SIZE" /dev/urandom > src

pass=0
fail=0
# scenario NAME BUDGET DEST COMMAND...: COMMAND copies `src` to its stdout,
# which is /dev/null, a pipe or the file `out` (DEST null, pipe or file), in
# (DEST tcp: its standard input and output are loopback TCP connections,
# fed with `src` and stored in `out` by tcp_relay.py, outside strace)
# chunks of CHUNK bytes (128 KiB unless the call sets CHUNK).
# The pipe's reader is `cat > /dev/null`, as fast as a reader gets: the
# count is then the copier's own.  (A slower reader keeps the pipe full, and
# each time it frees room the copier makes a call or two more: a
# non-blocking splice that finds none, then poll; it is waiting for the
# reader then anyway.  The bytes through a pipe are checked by the corpus.)
scenario() {
	local name=$1 budget=$2 dest=$3
	shift 3
	rm -f "$WORK/stats" out trace
	local env=(env LD_PRELOAD="$LIB" ZCOPY_STATS="$WORK/stats")
	case $dest in
	null) "${env[@]}" strace -c -o trace "$@" > /dev/null ;;
	pipe) "${env[@]}" strace -c -o trace "$@" | cat > /dev/null ;;
	file) "${env[@]}" strace -c -o trace "$@" > out ;;
	tcp) python3 "$here/tcp_relay.py" "${env[@]}" strace -c -o trace "$@" ;;
	tcpout) python3 "$here/tcp_relay.py" --out "${env[@]}" strace -c -o trace "$@" ;;
	esac
	local total zc why=""
	total=$(awk '$NF == "total" { print $(NF - 1) ~ /^[0-9]+$/ && $(NF - 2) ~ /^[0-9]+$/ ? $(NF - 2) : $(NF - 1) }' trace)
	# A splice that finds a full pipe fails with EAGAIN and the copier then
	# waits in poll: how often depends on the reader's pace (on a loaded
	# machine, hundreds of times in a run), not on zcopy.  Those pairs are
	# not counted; every other call is, the polls of a free pipe included.
	local waits
	waits=$(awk '$NF == "splice" && NF == 6 { print $5 }' trace)
	total=$((total - 2 * ${waits:-0}))
	zc=$("$TOOL" stats --sum bytes_zero_copy "$WORK/stats" 2>/dev/null || true)
	case $dest in
	file | tcp | tcpout) cmp -s src out || why="output differs from the input" ;;
	esac
	[ -n "$zc" ] && [ "$zc" -ge $((SIZE * 9 / 10)) ] || why="${why:+$why; }zcopy moved ${zc:-no} bytes by transfer"
	local per
	per=$(awk -v t="$total" -v n=$((SIZE / CHUNK)) 'BEGIN { printf "%.2f", t / n }')
	awk -v p="$per" -v b="$budget" 'BEGIN { exit !(p <= b) }' ||
		why="${why:+$why; }$per calls per chunk, budget $budget"
	# CALL=NAME CALL_BUDGET=N: that call alone, per chunk, at most N (for
	# a cost the reader's pace could hide in the total).
	if [ -n "${CALL:-}" ]; then
		local one
		one=$(awk -v c="$CALL" -v n=$((SIZE / CHUNK)) '$NF == c { k = $4 } END { printf "%.2f", k / n }' trace)
		awk -v p="$one" -v b="$CALL_BUDGET" 'BEGIN { exit !(p <= b) }' ||
			why="${why:+$why; }$one $CALL calls per chunk, budget $CALL_BUDGET"
		per="$per ($one $CALL)"
	fi
	if [ -z "$why" ]; then
		pass=$((pass + 1))
		printf 'syscalls: %-28s %s calls per chunk (budget %s)\n' "$name" "$per" "$budget"
	else
		fail=$((fail + 1))
		printf 'syscalls: %-28s FAILED: %s\n' "$name" "$why"
		sed -n '1,14p' trace
	fi
}

# Per chunk today, into a pipe or /dev/null: zcopy's lseek (moves the
# offset, says where the read starts) and one splice of the file into a
# pipe of zcopy's (the read: no fstat, no mmap), then its splice out (two
# of 64 KiB into a pipe): 3 and 4 in the steady state, 3.56 and 4.55-4.67
# with start-up (more for the pipe when the reader lags and the copier
# polls).  File to file guards the buffer's pages instead of mapping the
# file there (engine.c, guard_for_reading_dest): the transfer (copy_file_range),
# fstat (the size) and lseek: 3 in the steady state, 3.53 with start-up
# (5.35-5.51 with the mapping's mmap and pagemap pread).  No kcmp: pins are
# trusted while no fd number changed (pin.h).
scenario "cat file -> /dev/null" 3.9 null cat src
scenario "cat file -> pipe" 5.2 pipe cat src
scenario "dd bs=128k file -> file" 3.9 file dd bs=128k status=none if=src
# An unaligned buffer (perl's scalar starts 16 bytes into a page): its
# whole pages are guarded and stay so from chunk to chunk (no mprotect, no
# mmap, no pagemap).  Per chunk: lseek and a pread of each partial page at
# the ends (the least a read can make: two disjoint ranges of the file
# into memory, and the offset moved past the middle), then the two
# splices a 64 KiB pipe takes 128 KiB in: the partial pages go with the
# whole ones when the buffer still holds what the read put there
# (edges.h): 5-5.7.  (Before, the first partial page went by a plain
# write, the splices without waiting, then poll and a plain write of the
# last partial page: 8.6-8.7.)  The thread's signal mask is read once, not
# per chunk (guard.c: one more with it), and no fstat: the last partial
# page's pread proves the size (phantom.h: one more).  The reader's pace
# moves it by up to half a call (0.6 more seen on a loaded machine), hence
# the budget's room.
if command -v perl >/dev/null; then
	scenario "perl sysread -> pipe" 6.5 pipe perl -e \
		'open(F, "<", "src") or die; my $b; while (sysread(F, $b, 131072)) { syswrite(STDOUT, $b) }'
	# Two buffers in turn, as nginx's `output_buffers 2` and copiers that
	# read ahead: each is checked against /proc/self/maps once (guard.c
	# keeps the last regions found fit to guard), not each time the loop
	# turns to the other one (a pread of the maps every other chunk, which
	# cost nginx a tenth of its CPU): the two partial pages' preads only.
	CALL=pread64 CALL_BUDGET=2.2 scenario "perl two buffers -> pipe" 6.5 pipe perl -e \
		'open(F, "<", "src") or die; my ($a, $b); while (sysread(F, $a, 131072)) { syswrite(STDOUT, $a); last unless sysread(F, $b, 131072); syswrite(STDOUT, $b) }'
else
	echo "syscalls: perl not found (tests/deps.sh installs it)" >&2
	fail=$((fail + 1))
fi
# Python allocates a new buffer for every read and frees the old one: an
# os.read/os.write loop frees its 128 KiB block (32 bytes into a page)
# before the next read into the same place, so each chunk also gives the
# freed guarded pages back as zeros (mmap) and guards them again
# (mprotect): lseek, two preads, mprotect, two splices, mmap: 7, and 7.9
# with the interpreter's start-up (about 0.9 per chunk over 64 MiB).
# shutil.copyfileobj reads 64 KiB at a time into two blocks that
# alternate, each freed after the next read (free drops only the freed
# block's own kept bytes: memory.c, ZC_MEM_FREE): per 64 KiB the same
# minus one splice, 12 per 128 KiB, 13.6 measured.  (Before the partial
# pages went with the whole ones: 11 and 19.6 measured.)
# The system's interpreter, as bench/guard.sh: a version manager's python3
# on PATH is a script that starts several processes, all counted.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -n "$PY" ]; then
	scenario "python os.read -> pipe" 8.6 pipe "$PY" -c 'import os
i = os.open("src", os.O_RDONLY)
while True:
    b = os.read(i, 131072)
    if not b:
        break
    while b:
        b = b[os.write(1, b):]'
	scenario "python copyfileobj -> pipe" 14.5 pipe "$PY" -c 'import shutil, sys
shutil.copyfileobj(open("src", "rb"), sys.stdout.buffer)'
else
	echo "syscalls: python3 not found (tests/deps.sh installs it)" >&2
	fail=$((fail + 1))
fi
# The stdio copier: fread and fwrite of whole 64 KiB requests with glibc's
# default (4 KiB) buffers.  zcopy makes all of each fread's direct read
# (the stream is as that read leaves it), and an fwrite's own writes find
# the destination's phantoms from its pin.  To a file, as the raw loop's
# read: fstat, lseek (the buffer's pages stay guarded from one fread to the
# next), then the transfer: 3 in the steady state, 3.19 with start-up; the
# mmap budget fails the fread whose pages are mapped instead (5.17 calls,
# one mmap and one pagemap pread more per chunk).  To a pipe, as cat's
# read: lseek and one splice into a pipe of zcopy's, then the fwrite's
# splice out of it: the block that fills the stream's buffer (glibc's own
# write of at most PIPE_BUF) and the blocks are one engine write of two
# writes, one splice when the pipe has room: 3 in the steady state, 3.21
# with start-up.  (With the mapping: 5.17; with that block written by
# itself: 6.17; with the last block of each fread left to glibc, and an
# fstat per fwrite: 9.2 and 10.2.)
if [ -x "$PROGS/stdio_cp" ]; then
	CHUNK=65536 CALL=mmap CALL_BUDGET=0.1 scenario "stdio 64k file -> file" 3.6 file "$PROGS/stdio_cp" -q -c 65536 src - 2>/dev/null
	CHUNK=65536 scenario "stdio 64k file -> pipe" 3.7 pipe "$PROGS/stdio_cp" -q -c 65536 src - 2>/dev/null
else
	echo "syscalls: $PROGS/stdio_cp not found (make integration-programs)" >&2
	fail=$((fail + 1))
fi
# A relay between two TCP connections (dd's page-aligned 128 KiB buffer):
# per chunk the splice of the socket into a pipe of zcopy's (the read), the
# drain of the previous record's pipe, the write's tee and splice, and the
# two calls that hold SIGPIPE back around the write (redirect.c: block and
# restore; the pending set is asked only when the program blocks SIGPIPE
# itself, or when the write comes short): 6, 6.6 with start-up (8.6 when
# the pending set was asked on every write).  The record's pages pass to the next read's record still
# guarded (phantom.c, zc_phantom_pipe_overwrite); they used to be made zero
# memory (mmap) and guarded again (mprotect): 10.6.
if command -v python3 >/dev/null; then
	# File into a TCP socket: the aligned buffer is guarded as for a file
	# destination (sendfile reads the file itself): fstat, lseek and the
	# sendfile, and the two calls that hold SIGPIPE back around the write
	# (redirect.c: a sendfile that sent part and then met a peer's reset
	# raises it in the same call), 5.5 with start-up.  Mapped, as before,
	# the mmap and the pagemap pread per chunk came on top (CALL=mmap keeps
	# them out).
	CALL=mmap CALL_BUDGET=0.1 scenario "cat file -> tcp" 5.9 tcpout cat src
	scenario "dd bs=128k tcp -> tcp" 7.3 tcp dd bs=128k status=none
else
	echo "syscalls: python3 not found (tests/deps.sh installs it)" >&2
	fail=$((fail + 1))
fi
echo "syscalls: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
