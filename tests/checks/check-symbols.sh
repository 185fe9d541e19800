#!/usr/bin/env bash
# tests/checks/check-symbols.sh - the library's link-level rules, checked on
# the built objects (make check-symbols; part of make test).
#
#  1. shim/exports.map, the symbols libzcopy.so defines and exports, and the
#     wrapper definitions agree: every name in the map is defined, nothing
#     else is exported.
#  2. Every exported wrapper has its real function in the one table
#     (shim/real.h), which its plain path calls.  (Exported data, the
#     zcopy_loaded marker, is not a wrapper.)
#  3. No code inside the library calls an exported wrapper: an object that
#     defines no wrapper must not reference one (that call would enter the
#     library's own wrapper: a cycle, and a "plain" call that is not plain),
#     and a wrapper object must not call another wrapper through the PLT
#     (twins such as pwrite64 share a body instead).
# The last line is `check-symbols: N passed, M failed`.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
LIB=${LIB:-build/libzcopy.so}
# The objects the library was linked from (make passes its BUILD's).
OBJS=$(ls "${OBJDIR:-build/shim}"/*.o)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed -n '/global:/,/local:/p' shim/exports.map | sed 's|/\*.*\*/||' | grep -v 'global:\|local:' |
	tr ';' '\n' | tr -d ' \t' | grep -v '^$' | sort -u > "$tmp/map"
nm -D --defined-only "$LIB" | awk '$2 ~ /^[TWiVDRBGS]$/ { print $3 }' | sed 's/@.*//' | sort -u > "$tmp/lib"
# Exported data (the zcopy_loaded marker) is not a wrapper.
nm -D --defined-only "$LIB" | awk '$2 ~ /^[DRBGSV]$/ { print $3 }' | sed 's/@.*//' | sort -u > "$tmp/data"
grep -o '^[[:space:]]*X([A-Za-z_0-9]*,' shim/real.h | sed 's/.*X(//; s/,//' | sort -u > "$tmp/real"

pass=0
fail=0
rule() { # rule NAME FILE-OF-VIOLATIONS
	if [ -s "$2" ]; then
		fail=$((fail + 1))
		echo "check-symbols: FAILED: $1:"
		sed 's/^/  /' "$2"
	else
		pass=$((pass + 1))
		echo "check-symbols: ok: $1"
	fi
}

comm -3 "$tmp/map" "$tmp/lib" | sed 's/^\t/exported but not in the map: /; t; s/^/in the map but not exported: /' > "$tmp/v1"
rule "exports.map matches the exported definitions" "$tmp/v1"

comm -23 "$tmp/map" "$tmp/real" | comm -23 - "$tmp/data" | sed 's/^/no real-table entry: /' > "$tmp/v2"
rule "every wrapper has its real function in shim/real.h" "$tmp/v2"

: > "$tmp/v3"
for o in $OBJS; do
	defines=$(nm --defined-only "$o" | awk '{ print $3 }' | sort -u | comm -12 - "$tmp/map")
	if [ -z "$defines" ]; then
		nm -u "$o" | awk '{ print $2 }' | sort -u | comm -12 - "$tmp/map" |
			sed "s|^|$o calls the wrapper |" >> "$tmp/v3"
	else
		objdump -r "$o" | awk '$2 ~ /PLT32/ { print $3 }' | sed 's/[-+]0x[0-9a-f]*$//' |
			sort -u | comm -12 - "$tmp/map" |
			sed "s|^|$o calls the wrapper through the PLT: |" >> "$tmp/v3"
	fi
done
rule "no internal call enters an exported wrapper" "$tmp/v3"

echo "check-symbols: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
