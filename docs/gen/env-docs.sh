#!/bin/sh
# docs/gen/env-docs.sh - the ZCOPY_* settings in the manual and the README,
# generated from the settings table of shim/config.c so they cannot drift.
#
#   env-docs.sh --check TABLE [TOOL]   fail (and show the difference) when
#                                      docs/zcopy.1 or README.md is not what
#                                      the table generates (make check-docs,
#                                      part of make test)
#   env-docs.sh --write TABLE          rewrite them (make regen-docs)
#
# TABLE is build/env-table (docs/gen/env-table.c): one row a setting,
# variable, values, default and description separated by tabs.  In the
# table a literal is written `like this`: bold in the manual, code in the
# README.  Only the lines between the BEGIN and END settings markers are
# generated; the text around them is written by hand.  With TOOL (build/zcopy),
# --check also makes sure `zcopy help env`, which prints the same table,
# names every variable.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mode=${1:-}
table=${2:-}
tool=${3:-}
case $mode in --check | --write) ;; *) mode= ;; esac
if [ -z "$mode" ] || [ ! -x "$table" ]; then
	echo "usage: docs/gen/env-docs.sh --check|--write build/env-table [build/zcopy]" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$table" > "$tmp/rows"
[ -s "$tmp/rows" ] || { echo "env-docs: $table printed no settings" >&2; exit 1; }
# Every row says what it accepts and what it does, and a literal's marks pair.
awk -F '\t' 'NF != 4 || $2 == "" || $4 == "" || gsub(/`/, "`") % 2 {
	print "env-docs: the settings row of " $1 " lacks values or a description, or has an unpaired `"
	bad = 1
} END { exit bad }' "$tmp/rows" >&2

# The manual: one .TP entry a setting; `x` becomes bold, every '-' a '\-'
# (as in the rest of the page), and each sentence starts a line, as roff
# wants.
awk -F '\t' '
function roff(s,    n, i, p, out) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	n = split(s, p, "`")
	out = ""
	for (i = 1; i <= n; i++)
		out = out (i % 2 ? p[i] : "\\fB" p[i] "\\fR")
	gsub(/\. /, ".\n", out)
	return out
}
{
	print ".TP"
	print ".B " $1
	print roff($2) "; default " ($3 == "" ? "unset" : "\\fB" roff($3) "\\fR") "."
	print roff($4)
}' "$tmp/rows" > "$tmp/man"

# The README: one table row a setting.
awk -F '\t' '
function md(s) { gsub(/\|/, "\\|", s); return s }
BEGIN {
	print "| variable | values | default | meaning |"
	print "|---|---|---|---|"
}
{
	printf "| `%s` | %s | %s | %s |\n", $1, md($2), ($3 == "" ? "unset" : "`" $3 "`"), md($4)
}' "$tmp/rows" > "$tmp/md"

MAN_BEGIN='.\" BEGIN settings: generated from shim/config.c by docs/gen/env-docs.sh (make regen-docs)'
MAN_END='.\" END settings'
MD_BEGIN='<!-- BEGIN settings: generated from shim/config.c by docs/gen/env-docs.sh (make regen-docs) -->'
MD_END='<!-- END settings -->'

# splice FILE BEGIN END BLOCK OUT: FILE with the lines between the markers
# replaced by BLOCK; fails when the markers are not there once each.
splice() {
	n1=$(grep -cxF "$2" "$1" || true)
	n2=$(grep -cxF "$3" "$1" || true)
	if [ "$n1" != 1 ] || [ "$n2" != 1 ]; then
		echo "env-docs: $1 needs one line '$2' and one line '$3'" >&2
		return 1
	fi
	# Through the environment: awk -v would read the backslash of .\" as
	# an escape.
	B=$2 E=$3 BLK=$4 awk '
		$0 == ENVIRON["E"] { skip = 0 }
		!skip { print }
		$0 == ENVIRON["B"] { while ((getline l < ENVIRON["BLK"]) > 0) print l; skip = 1 }' \
		"$1" > "$5"
}

status=0
drift=0
for f in docs/zcopy.1 README.md; do
	case $f in
	*.1) splice "$f" "$MAN_BEGIN" "$MAN_END" "$tmp/man" "$tmp/new" ;;
	*) splice "$f" "$MD_BEGIN" "$MD_END" "$tmp/md" "$tmp/new" ;;
	esac
	if cmp -s "$f" "$tmp/new"; then
		[ "$mode" = --write ] || echo "env-docs: ok: $f"
		continue
	fi
	if [ "$mode" = --write ]; then
		cat "$tmp/new" > "$f"
		echo "env-docs: rewrote the settings in $f"
	else
		echo "env-docs: FAILED: the settings in $f differ from shim/config.c's table:"
		diff -u "$f" "$tmp/new" | sed 's/^/  /' || true
		status=1 drift=1
	fi
done

if [ "$mode" = --check ] && [ -n "$tool" ]; then
	"$tool" help env > "$tmp/help"
	cut -f1 "$tmp/rows" | while read -r var; do
		grep -q "^  $var: " "$tmp/help" || echo "$var"
	done > "$tmp/missing"
	if [ -s "$tmp/missing" ]; then
		echo "env-docs: FAILED: zcopy help env does not list:" $(cat "$tmp/missing")
		status=1
	else
		echo "env-docs: ok: zcopy help env"
	fi
fi
[ "$drift" = 0 ] || echo "env-docs: run 'make regen-docs' after changing a setting's description"
exit "$status"
