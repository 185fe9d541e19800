#!/bin/sh
# make demo: an unmodified program, run without and with zcopy.
#
# Copies a 256 MiB file three ways with programs that know nothing of zcopy
# (coreutils dd to a file, the example copier to a pipe, cat to /dev/null),
# each first without and then with the library, checks that the outputs are
# identical, and shows the time of each side and what zcopy redirected.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
zc="$top/build/zcopy"
ex="$top/build/examples"
size_mib=${DEMO_MIB:-256}
work=$(mktemp -d "${TMPDIR:-/tmp}/zcopy-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

echo "== making a ${size_mib} MiB file in $work"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/src"
cat "$work/src" > /dev/null # warm the page cache: both sides read from memory

run_ab() {
	title=$1
	shift
	echo
	echo "== $title"
	echo "   \$ $*"
	"$zc" ab -n 5 -w 1 "$@"
}

run_ab "dd bs=1M, file -> file" --out "$work/dd.out" -- \
	dd if="$work/src" of="$work/dd.out" bs=1M status=none
run_ab "read/write copier (examples/rwcopy.c), file -> pipe" -- \
	sh -c "'$ex/rwcopy' '$work/src' | '$ex/sink'"
run_ab "cat, file -> /dev/null" -- sh -c "cat '$work/src' > /dev/null"

echo
echo "== what zcopy did inside one run of the copier (ZCOPY_STATS=stderr)"
"$zc" run -s - -- "$ex/rwcopy" "$work/src" "$work/copy.out"
cmp "$work/src" "$work/copy.out" && echo "   output identical to the source"
