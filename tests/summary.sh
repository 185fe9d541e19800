#!/usr/bin/env bash
# tests/summary.sh LOG - the one line `make test` prints for a suite that passed.
#
# Suites made of several programs print a counts line per program
# (`NAME: P passed, F failed, S skipped`) or per fuzzer run (`fuzz: N seeds,
# M operations, ..., D divergent`): those are added up, so the line covers
# the whole suite.  Otherwise the suite's own last line is its summary.
log=$1
awk '
/^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed/ {
	n++; p += $2; f += $4; if ($6 ~ /^[0-9]+$/) s += $6
}
/^fuzz: [0-9]+ seeds, [0-9]+ operations,/ {
	runs++; seeds += $2; ops += $4
	for (i = 1; i <= NF; i++) if ($(i) ~ /^divergent/) div += $(i - 1)
}
!/^make/ && NF { last = $0 }
END {
	if (n > 1)
		printf "%d passed, %d failed, %d skipped (%d programs)\n", p, f, s, n
	else if (runs)
		printf "fuzz: %d seeds, %d operations, %d divergent (%d runs)\n", seeds, ops, div, runs
	else
		print last
}' "$log"
