#!/usr/bin/env bash
# tests/fuzz/run.sh - the differential fuzzer's driver.
#
# Runs every seed (or script) three ways: without zcopy, with ZCOPY_MODE=on
# ZCOPY_GUARD=0 (the map strategy alone),
# and with ZCOPY_MODE=on ZCOPY_GUARD=1, and compares the logs line by line.
# Reports per run the seeds, operations executed and the engagement rate
# (seeds whose zcopy run moved bytes with a kernel transfer).  The first
# divergence of a seed is shrunk (delta debugging over the op list) to the
# smallest script that still diverges the same way, and printed.
#
#   run.sh [options] SEED|A-B ...           seeds
#   run.sh [options] --script FILE ...      saved scripts (tests/fuzz/regress)
# Options: -j JOBS  --nops N  --fuzz BIN  --lib LIB  --tool ZCOPY  --min-chunk BYTES
#          --minimise K (shrink at most K divergent seeds; default 3)
#          --require-engaged (fail if no seed engaged)  --keep DIR
#          --require-scenarios (fail if no armed write blocked, no handler
#          jumped out of one, no reader quit, no rlimit ran or no read went
#          into zcopy's pipe in the ZCOPY_GUARD=1 run: the scenarios tested
#          nothing)
#          --avoid LIST (steer the generator past known divergence classes,
#          see fz_avoid in gen.c; for exploring only)
#          --stress N (also run each seed N more times at once under zcopy,
#          and shrink with N tries per candidate: divergences that need load)
#          --fd-reuse: seeds generate copy loops that reuse their fd
#          numbers between every read and write (close/open, dup2, and
#          fclose/freopen of an fdopen, which close inside libc)
#          --sock-src: copy loops also read the socket source (slot 12, a
#          stream socket its peer filled with a seeded pattern in seeded
#          pieces before the script started)
#          --stdio-pipe: the world also has FILEs (fdopen, "w") on the pipe
#          and the stream socket, and copy loops fwrite into them (text,
#          fflush and setvbuf between the chunks; armed ops and quitting
#          readers too)
#          --in-flight (FUZZ_IN_FLIGHT=1): files change without waiting for
#          the pipe and socket readers to take what was written from them,
#          which shows zcopy's documented limit (tests/fuzz/limits)
# Exit status: 0 no divergence, 1 divergence (or nothing engaged), 2 usage.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FUZZ=${FUZZ:-$root/build/fuzz/fuzz}
LIB=${LIB:-$root/build/libzcopy.so}
# The zcopy command: it reads the stats records (`zcopy stats --sum`).
TOOL=${TOOL:-$root/build/zcopy}
JOBS=${JOBS:-2}
# A --one child gets the settings from its parent's environment.
if [ "${1:-}" != --one ]; then
	NOPS=200 MIN_CHUNK=16384 AVOID= STRESS=0 IN_FLIGHT=${FUZZ_IN_FLIGHT:-0} REUSE= SSRC= STDIO=
fi
MINIMISE=3
REQUIRE=0
REQUIRE_SCEN=0
KEEP=
TIMEOUT=${FUZZ_TIMEOUT:-60}
SHRINK_SECONDS=${FUZZ_SHRINK_SECONDS:-120}

# ---- one run of one seed in one mode --------------------------------------
# run_mode MODE OUT [fuzz args...]: writes the log, then "exit STATUS".
run_mode() {
	local mode=$1 out=$2
	shift 2
	[ "$IN_FLIGHT" = 1 ] && set -- "$@" --in-flight
	case $mode in
	plain) env -u LD_PRELOAD ZCOPY_MIN_CHUNK=$MIN_CHUNK \
		timeout -k 5 "$TIMEOUT" "$FUZZ" --verbose "$@" >"$out" 2>"$out.err" ;;
	on) LD_PRELOAD=$LIB ZCOPY_MODE=on ZCOPY_GUARD=0 ZCOPY_MIN_CHUNK=$MIN_CHUNK ZCOPY_STATS=${STATS:-/dev/null} \
		timeout -k 5 "$TIMEOUT" "$FUZZ" "$@" >"$out" 2>"$out.err" ;;
	guard) if [ -n "${GSTATS:-}" ]; then
		# Socket reads (--sock-src) and file reads into zcopy's pipe are
		# made only with guards: their stats say whether they engaged.
		LD_PRELOAD=$LIB ZCOPY_MODE=on ZCOPY_GUARD=1 ZCOPY_MIN_CHUNK=$MIN_CHUNK ZCOPY_STATS=$GSTATS \
			timeout -k 5 "$TIMEOUT" "$FUZZ" "$@" >"$out" 2>"$out.err"
	else
		LD_PRELOAD=$LIB ZCOPY_MODE=on ZCOPY_GUARD=1 ZCOPY_MIN_CHUNK=$MIN_CHUNK \
			timeout -k 5 "$TIMEOUT" "$FUZZ" "$@" >"$out" 2>"$out.err"
	fi ;;
	esac
	echo "exit $?" >>"$out"
}

# first_diff A B: prints "LINE" of the first differing line, or nothing.
first_diff() {
	cmp "$1" "$2" 2>/dev/null | sed -n 's/.*line \([0-9]*\).*/\1/p'
}

# The op (or end-state item) a log line is about: its third word for op
# lines ("12 m write ..."), "end KIND" for the end state.
line_kind() {
	sed -n "${2}p" "$1" | awk '{ if ($1 == "end") print $1, $2; else print $3 }'
}

# ---- one seed, three ways (run in parallel by xargs) ----------------------
one() {
	local id=$1 w args
	w=$WORK/$(echo "$id" | tr / _)
	mkdir -p "$w"
	case $id in
	*/*) args=(--script "$id") ;;
	*) args=(--seed "$id" --nops "$NOPS" ${AVOID:+--avoid "$AVOID"} ${REUSE:+--fd-reuse} ${SSRC:+--sock-src} ${STDIO:+--stdio-pipe}) ;;
	esac
	run_mode plain "$w/plain" "${args[@]}"
	STATS=$w/stats.%p run_mode on "$w/on" "${args[@]}"
	GSTATS=$w/gstats.%p run_mode guard "$w/guard" "${args[@]}"
	# --stress N: the zcopy run N more times at once, to bring out
	# divergences that need load; the first that differs is kept.
	local t
	for ((t = 1; t <= STRESS; t++)); do
		run_mode on "$w/on.$t" "${args[@]}" &
	done
	wait
	for ((t = 1; t <= STRESS; t++)); do
		if [ -n "$(first_diff "$w/plain" "$w/on.$t")" ] && [ -z "$(first_diff "$w/plain" "$w/on")" ]; then
			cp "$w/on.$t" "$w/on"
		fi
	done
	local ops zc=0 ss=0 fp=0 sp=0 status=ok news blocked jumps stats
	# A run that died by a signal has no "end ops": count its op lines.
	ops=$(awk '$1 == "end" && $2 == "ops" { n = $3 } $2 ~ /^[mct]$/ { k++ }
		END { print n != "" ? n : k + 0 }' "$w/plain")
	# The new kinds of ops this seed ran (arm, peer, sig, rlimit), and how
	# many armed ops blocked in the run without zcopy (its --verbose).
	news=$(awk '$2 == "m" && $3 == "arm" { a++ } $3 == "peer" { p++ } $3 == "sig" { s++ }
		$3 == "rlimit" { r++ } END { print a + 0, p + 0, s + 0, r + 0 }' "$w/plain")
	blocked=$(grep -c 'while main is blocked' "$w/plain.err")
	# And how many of those writes the handler of `sig 2 4` left by a jump.
	jumps=$(grep -c 'the handler jumped out' "$w/plain.err")
	stats=("$w"/stats.*)
	if [ -f "${stats[0]}" ]; then
		zc=$("$TOOL" stats --sum bytes_zero_copy "${stats[@]}") || zc=0
	fi
	# Reads of the guard run made as one splice into zcopy's pipe.
	stats=("$w"/gstats.*)
	if [ -f "${stats[0]}" ]; then
		fp=$("$TOOL" stats --sum file_pipe_reads "${stats[@]}") || fp=0
	fi
	# Bytes the guard run moved by splice from the socket source (its
	# streams' records name the source "socket:[inode]").
	if [ -n "$SSRC" ]; then
		ss=$(cat "$w"/gstats.* 2>/dev/null |
			grep -o '"src":"socket:[^"]*","dst_kind":"[^"]*","dst":"[^"]*","bytes_zero_copy":[0-9]*' |
			awk -F: '{ s += $NF } END { print s + 0 }')
	fi
	# Bytes the ZCOPY_GUARD=0 run moved by kernel transfer into the pipe or
	# the stream socket (--stdio-pipe: mostly the fwrites into their FILEs).
	if [ -n "$STDIO" ]; then
		sp=$(cat "$w"/stats.* 2>/dev/null |
			grep -o '"dst_kind":"\(pipe\|stream-socket\)","dst":"[^"]*","bytes_zero_copy":[0-9]*' |
			awk -F: '{ s += $NF } END { print s + 0 }')
	fi
	for m in on guard; do
		local l
		l=$(first_diff "$w/plain" "$w/$m")
		if [ -n "$l" ]; then
			status="diverges:$m:$l"
			break
		fi
	done
	# A divergence counts only if the plain run is reproducible: otherwise
	# the script itself is timing-dependent (a fuzzer bug, reported as such).
	if [ "$status" != ok ]; then
		run_mode plain "$w/plain2" "${args[@]}"
		cmp -s "$w/plain" "$w/plain2" ||
			status="nondeterministic:plain:$(first_diff "$w/plain" "$w/plain2")"
	fi
	echo "$id ${ops:-0} $zc $news ${blocked:-0} ${jumps:-0} ${ss:-0} ${fp:-0} ${sp:-0} $status" >"$w/result"
}

# ---- shrinking --------------------------------------------------------------
# diverges SCRIPT MODE KIND: does SCRIPT still diverge in MODE, at an item of
# the same kind as the original divergence?
diverges() {
	local s=$1 mode=$2 kind=$3 d=$WORK/shrink l t
	mkdir -p "$d"
	run_mode plain "$d/plain" --script "$s"
	# A timing-dependent divergence gets several tries at once (load helps).
	for ((t = 1; t <= TRIES; t++)); do
		run_mode "$mode" "$d/$mode.$t" --script "$s" &
	done
	wait
	for ((t = 1; t <= TRIES; t++)); do
		l=$(first_diff "$d/plain" "$d/$mode.$t")
		if [ -n "$l" ] && [ "$(line_kind "$d/plain" "$l")" = "$kind" ]; then
			cp "$d/$mode.$t" "$d/$mode"
			return 0
		fi
	done
	return 1
}

# shrink ID MODE LINE: prints the smallest script found.
shrink() {
	local id=$1 mode=$2 line=$3 w kind seedline
	w=$WORK/$(echo "$id" | tr / _)
	kind=$(line_kind "$w/plain" "$line")
	case $id in
	*/*) cp "$id" "$w/full.script" ;;
	*) "$FUZZ" --seed "$id" --nops "$NOPS" ${AVOID:+--avoid "$AVOID"} ${REUSE:+--fd-reuse} ${SSRC:+--sock-src} ${STDIO:+--stdio-pipe} --dump >"$w/full.script" ;;
	esac
	# The world's lines: its seed, and whether it has the --stdio-pipe FILEs.
	seedline=$(grep -m1 '^seed' "$w/full.script"; grep -m1 '^stdio-pipe' "$w/full.script")
	grep -v -e '^seed' -e '^stdio-pipe' "$w/full.script" | grep -v '^ *#' | grep -v '^ *$' >"$w/ops"
	mapfile -t cur <"$w/ops"
	local cand="$w/cand.script"
	write_cand() { { echo "$seedline"; printf '%s\n' "$@"; } >"$cand"; }
	TRIES=1
	write_cand "${cur[@]}"
	if ! diverges "$cand" "$mode" "$kind"; then
		TRIES=$((STRESS > 6 ? STRESS : 6))
		echo "  timing-dependent: every candidate is run $TRIES times at once"
		if ! diverges "$cand" "$mode" "$kind"; then
			echo "  (does not reproduce alone: not shrunk)"
			return
		fi
	fi
	# ddmin over the op lines: drop chunks while the divergence stays.
	local n=2 tests=0 deadline=$(($(date +%s) + SHRINK_SECONDS))
	while [ "${#cur[@]}" -ge 2 ] && [ "$(date +%s)" -lt "$deadline" ]; do
		local len=${#cur[@]} size i reduced=0
		size=$(((len + n - 1) / n))
		for ((i = 0; i < len; i += size)); do
			local rest=("${cur[@]:0:i}" "${cur[@]:i+size}")
			[ "${#rest[@]}" -gt 0 ] || continue
			write_cand "${rest[@]}"
			tests=$((tests + 1))
			if diverges "$cand" "$mode" "$kind"; then
				cur=("${rest[@]}")
				n=$((n > 2 ? n - 1 : 2))
				reduced=1
				break
			fi
		done
		if [ $reduced = 0 ]; then
			[ "$n" -ge "$len" ] && break
			n=$((2 * n > len ? len : 2 * n))
		fi
	done
	write_cand "${cur[@]}"
	cp "$cand" "$w/min.script"
	[ "$(date +%s)" -lt "$deadline" ] || echo "  (shrinking stopped after ${SHRINK_SECONDS}s)"
	echo "  shrunk to ${#cur[@]} ops in $tests runs (mode $mode); replay with:"
	local flag=
	[ "$IN_FLIGHT" = 1 ] && flag=" --in-flight"
	echo "    tests/fuzz/run.sh$flag --script $w/min.script"
	echo "  --- minimised script ---"
	sed 's/^/  /' "$w/min.script"
	if ! diverges "$cand" "$mode" "$kind"; then
		echo "  (the shrunk script no longer diverges the same way: a timing-dependent divergence)"
		return
	fi
	echo "  --- first divergence of the minimised script (plain vs $mode) ---"
	local l
	l=$(first_diff "$WORK/shrink/plain" "$WORK/shrink/$mode")
	echo "  plain: $(sed -n "${l}p" "$WORK/shrink/plain")"
	echo "  $mode: $(sed -n "${l}p" "$WORK/shrink/$mode")"
}

# ---- main -------------------------------------------------------------------
if [ "${1:-}" = --one ]; then
	one "$2"
	exit 0
fi

ids=()
while [ $# -gt 0 ]; do
	case $1 in
	-j) JOBS=$2; shift ;;
	--nops) NOPS=$2; shift ;;
	--fuzz) FUZZ=$2; shift ;;
	--lib) LIB=$2; shift ;;
	--tool) TOOL=$2; shift ;;
	--min-chunk) MIN_CHUNK=$2; shift ;;
	--minimise) MINIMISE=$2; shift ;;
	--require-engaged) REQUIRE=1 ;;
	--require-scenarios) REQUIRE_SCEN=1 ;;
	--keep) KEEP=$2; shift ;;
	--avoid) AVOID=$2; shift ;;
	--stress) STRESS=$2; shift ;;
	--in-flight) IN_FLIGHT=1 ;;
	--fd-reuse) REUSE=1 ;;
	--sock-src) SSRC=1 ;;
	--stdio-pipe) STDIO=1 ;;
	--script) ids+=("script:$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift ;;
	*-*) for ((s = ${1%-*}; s <= ${1#*-}; s++)); do ids+=("$s"); done ;;
	[0-9]*) ids+=("$1") ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ ${#ids[@]} -gt 0 ] || { echo "usage: run.sh [options] SEED|A-B ... | --script FILE" >&2; exit 2; }
for f in "$FUZZ" "$LIB" "$TOOL"; do
	[ -e "$f" ] || { echo "run.sh: $f missing (make all build/fuzz/fuzz)" >&2; exit 2; }
done

WORK=${KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/zcfuzz-run.XXXXXX")}
mkdir -p "$WORK"
# Every run of this invocation uses the same library, even if it is rebuilt
# meanwhile.
cp "$LIB" "$WORK/libzcopy.so" && LIB=$WORK/libzcopy.so
export WORK FUZZ LIB TOOL NOPS MIN_CHUNK TIMEOUT AVOID STRESS IN_FLIGHT REUSE SSRC STDIO
start=$(date +%s)
printf '%s\n' "${ids[@]}" | sed 's/^script://' | xargs -P "$JOBS" -I{} bash "$0" --one {}

seeds=0 ops=0 engaged=0 zc=0 div=0 sseng=0 sszc=0 shrunk=0 narm=0 npeer=0 nsig=0 nlim=0 nblk=0 njmp=0
fpseeds=0 fpreads=0 speng=0 spzc=0
for id in "${ids[@]}"; do
	id=${id#script:}
	read -r _ o z na np ns nl nb nj sz fp sp status <"$WORK/$(echo "$id" | tr / _)/result" 2>/dev/null ||
		{ o=0 z=0 na=0 np=0 ns=0 nl=0 nb=0 nj=0 sz=0 fp=0 sp=0 status=missing; }
	[ "$sp" -gt 0 ] && speng=$((speng + 1)) spzc=$((spzc + sp))
	[ "$fp" -gt 0 ] && fpseeds=$((fpseeds + 1)) fpreads=$((fpreads + fp))
	[ "$sz" -gt 0 ] && sseng=$((sseng + 1)) sszc=$((sszc + sz))
	seeds=$((seeds + 1)) ops=$((ops + o)) zc=$((zc + z))
	narm=$((narm + na)) npeer=$((npeer + np)) nsig=$((nsig + ns)) nlim=$((nlim + nl)) nblk=$((nblk + nb)) njmp=$((njmp + nj))
	[ "$z" -gt 0 ] && engaged=$((engaged + 1))
	[ "$status" = ok ] && continue
	div=$((div + 1))
	echo "DIVERGENCE: $id ($status)"
	w=$WORK/$(echo "$id" | tr / _)
	if [ "$status" = missing ]; then continue; fi
	IFS=: read -r what mode line <<<"$status"
	if [ "$what" = nondeterministic ]; then
		echo "  plain:  $(sed -n "${line}p" "$w/plain")"
		echo "  plain2: $(sed -n "${line}p" "$w/plain2")"
		continue
	fi
	echo "  plain: $(sed -n "${line}p" "$w/plain")"
	echo "  $mode: $(sed -n "${line}p" "$w/$mode")"
	if [ "$shrunk" -lt "$MINIMISE" ]; then
		shrunk=$((shrunk + 1))
		shrink "$id" "$mode" "$line"
	fi
done
pct=$((seeds ? 100 * engaged / seeds : 0))
echo "fuzz: $seeds seeds, $ops operations, engaged in $engaged seeds ($pct%)," \
	"$zc bytes zero-copy, $div divergent, $(($(date +%s) - start))s"
echo "fuzz: of those, $narm armed ops (the helper acted during $nblk blocked writes," \
	"$njmp left by a jump out of the handler)," \
	"$npeer peers quit, $nsig sig, $nlim rlimit"
echo "fuzz: reads into zcopy's pipe in $fpseeds seeds ($fpreads reads, ZCOPY_GUARD=1 run)"
[ -z "$SSRC" ] || echo "fuzz: the socket source was read by splice in $sseng seeds" \
	"($sszc bytes zero-copy, ZCOPY_GUARD=1 run)"
[ -z "$STDIO" ] || echo "fuzz: kernel transfers into the pipe or the stream socket in $speng seeds" \
	"($spzc bytes, ZCOPY_GUARD=0 run)"
if [ "$div" -ne 0 ]; then
	echo "fuzz: logs and shrunk scripts kept in $WORK"
	exit 1
fi
[ -n "$KEEP" ] || rm -rf "$WORK"

if [ "$REQUIRE" = 1 ] && [ "$engaged" -eq 0 ]; then
	echo "fuzz: no seed engaged zcopy: the fuzzer tested nothing" >&2
	exit 1
fi
if [ "$REQUIRE" = 1 ] && [ -n "$SSRC" ] && [ "$sseng" -eq 0 ]; then
	echo "fuzz: no seed read the socket source by splice: --sock-src tested nothing" >&2
	exit 1
fi
if [ "$REQUIRE" = 1 ] && [ -n "$STDIO" ] && [ "$speng" -eq 0 ]; then
	echo "fuzz: nothing went into the pipe or socket by kernel transfer: --stdio-pipe tested nothing" >&2
	exit 1
fi
if [ "$REQUIRE_SCEN" = 1 ] && { [ "$nblk" -eq 0 ] || [ "$njmp" -eq 0 ] || [ "$npeer" -eq 0 ] ||
	[ "$nlim" -eq 0 ]; }; then
	echo "fuzz: no armed write blocked, no handler jumped out of one, no reader quit or no rlimit ran:" \
		"the scenarios tested nothing" >&2
	exit 1
fi
if [ "$REQUIRE_SCEN" = 1 ] && [ "$fpseeds" -eq 0 ]; then
	echo "fuzz: no read went into zcopy's pipe: that strategy was not tested" >&2
	exit 1
fi
exit 0
