#!/usr/bin/env bash
# tests/checks/check-complexity.sh - no function in shim/ above a cyclomatic
# complexity of 25 (make check-complexity; part of make test).
#
# pmccabe (Debian package pmccabe) prints two numbers per function: the
# modified complexity (a switch counts once) and the traditional one (each
# case counts).  Both must stay at or below the limit: a function over it
# is split into named steps (docs/design.md, rules for code in shim/).
# The last line is `check-complexity: N functions, M above LIMIT`.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
LIMIT=${LIMIT:-25}
if ! command -v pmccabe >/dev/null; then
	echo "check-complexity: pmccabe not found; run: sudo apt-get install -y pmccabe" >&2
	exit 1
fi
out=$(pmccabe shim/*.c)
total=$(printf '%s\n' "$out" | grep -c .)
over=$(printf '%s\n' "$out" | awk -v l="$LIMIT" '$1 > l || $2 > l')
n=$(printf '%s' "$over" | grep -c . || true)
if [ "$n" -gt 0 ]; then
	echo "check-complexity: FAILED: above $LIMIT (modified, traditional, statements, line, lines, function):"
	printf '%s\n' "$over" | sed 's/^/  /'
fi
echo "check-complexity: $total functions, $n above $LIMIT"
[ "$n" -eq 0 ]
