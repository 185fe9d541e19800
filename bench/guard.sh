#!/usr/bin/env bash
# bench/guard.sh - what the guard strategy (on by default) buys the programs it
# exists for: a perl sysread/syswrite loop, a python os.read/os.write copier,
# python's shutil.copyfileobj (64 KiB reads into two alternating blocks)
# and pv -C (no splice), each streaming a file into a pipe, and nginx with
# sendfile off (output_buffers 2 256k) under zcopy against the same nginx with
# sendfile on, serving one file to curl.
#
# Each scenario runs plain (no preload) and under zcopy at default settings,
# interleaved A B A B ..., after one run of each that checks the output is
# the source.  The medians and their ratio go to docs/bench-guard.md.
#
#   bench/guard.sh [--lib LIB] [--doc FILE]
# env: GUARD_BENCH_SIZE (MiB, default 1024), BENCH_RUNS (default 11), BENCH_DIR
# (parent of the work directory, default /tmp).  The defaults take about two
# minutes; at 256 MiB and 5 runs an nginx request took 0.1 s and its row moved
# between 0.73x and 1.19x from one run to the next.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
LIB=$root/build/libzcopy.so
DOC=$root/docs/bench-guard.md
while [ $# -gt 0 ]; do
	case $1 in
	--lib) LIB=$2; shift 2 ;;
	--doc) DOC=$2; shift 2 ;;
	*) echo "usage: bench/guard.sh [--lib LIB] [--doc FILE]" >&2; exit 2 ;;
	esac
done
case $LIB in /*) ;; *) LIB=$PWD/$LIB ;; esac
SIZE=${GUARD_BENCH_SIZE:-1024}
RUNS=${BENCH_RUNS:-11}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
unset ZCOPY_MODE ZCOPY_GUARD ZCOPY_STATS ZCOPY_LOG ZCOPY_MIN_CHUNK LD_PRELOAD

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/zcopy-guard-bench.XXXXXX")
NG_PID= pid_on= pid_off=
cleanup() {
	for p in "$NG_PID" "$pid_on" "$pid_off"; do
		[ -z "$p" ] || kill "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
SRC=$WORK/src
head -c $((SIZE * 1048576)) /dev/urandom >"$SRC"

PERL_SYSRW='open(my $i, "<", $ARGV[0]) or die; binmode $i; binmode STDOUT; my $b;
while (my $n = sysread($i, $b, 131072)) { my $o = 0; while ($o < $n) { $o += syswrite(STDOUT, $b, $n - $o, $o) } }'
PY_OSREAD='import os, sys
i = os.open(sys.argv[1], os.O_RDONLY)
while True:
    b = os.read(i, 131072)
    if not b:
        break
    while b:
        b = b[os.write(1, b):]'
PY_COPYFILEOBJ='import shutil, sys
shutil.copyfileobj(open(sys.argv[1], "rb"), sys.stdout.buffer)'

# now: monotonic seconds with nanoseconds.
now() { date +%s.%N; }

# time_pipe ENV... -- CMD...: seconds for CMD's stdout drained by cat, and
# the CPU seconds (user + system) of CMD itself: on a shared machine the
# wall time moves with the other work, the copier's CPU much less.
time_pipe() {
	local envs=() t0 t1 cpu
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	t0=$(now)
	{ TIMEFORMAT='%U %S'; time env "${envs[@]}" "$@" 2>/dev/null; } 2>"$WORK/cpu" | cat >/dev/null
	t1=$(now)
	cpu=$(awk '{ print $1 + $2 }' "$WORK/cpu")
	echo "$(echo "$t1 - $t0" | bc -l) $cpu"
}

check_pipe() { # check_pipe ENV... -- CMD...: the bytes are the source's
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$@" | cmp -s - "$SRC"
}

# median [COLUMN]: the median of a column (default 1) of the lines read.
median() { awk -v c="${1:-1}" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

RESULTS=$WORK/results
: >"$RESULTS"
ZON=("LD_PRELOAD=$LIB") # default settings: guard mode on

bench_pipe() { # bench_pipe NAME CMD...
	local name=$1 a b i
	shift
	check_pipe -u LD_PRELOAD -- "$@" || { echo "$name: plain output differs" >&2; exit 1; }
	check_pipe "${ZON[@]}" -- "$@" || { echo "$name: zcopy output differs" >&2; exit 1; }
	: >"$WORK/a" && : >"$WORK/b"
	for ((i = 0; i < RUNS; i++)); do
		time_pipe -u LD_PRELOAD -- "$@" >>"$WORK/a"
		time_pipe "${ZON[@]}" -- "$@" >>"$WORK/b"
	done
	a=$(median 1 <"$WORK/a")
	b=$(median 1 <"$WORK/b")
	local ca cb
	ca=$(median 2 <"$WORK/a")
	cb=$(median 2 <"$WORK/b")
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$a" "$b" "$ca" "$cb" >>"$RESULTS"
	printf '%-28s plain %.3f s  zcopy+guard %.3f s  %.2fx  CPU %.3f s / %.3f s\n' "$name" "$a" "$b" \
		"$(echo "$a / $b" | bc -l)" "$ca" "$cb"
}

bench_pipe "perl sysread loop" perl -e "$PERL_SYSRW" "$SRC"
bench_pipe "python os.read copier" "$PY" -c "$PY_OSREAD" "$SRC"
bench_pipe "python shutil.copyfileobj" "$PY" -c "$PY_COPYFILEOBJ" "$SRC"
bench_pipe "pv -q -C" pv -q -C "$SRC"

# nginx: sendfile off under zcopy (guards) against sendfile on without it.
port=$((20000 + $$ % 1000))
ngx() { # ngx SENDFILE ENV...: starts nginx serving $WORK on $port
	local sf=$1 d
	shift
	local A=$WORK/ngx-$sf
	for d in body proxy fastcgi uwsgi scgi; do mkdir -p "$A/$d"; done
	cat >"$A/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $A/nginx.pid;
error_log $A/error.log;
events { worker_connections 64; }
http {
    access_log off;
    sendfile $sf;
    output_buffers 2 256k;
    default_type application/octet-stream;
    client_body_temp_path $A/body;
    proxy_temp_path $A/proxy;
    fastcgi_temp_path $A/fastcgi;
    uwsgi_temp_path $A/uwsgi;
    scgi_temp_path $A/scgi;
    server { listen 127.0.0.1:$port; root $WORK; }
}
EOF
	env "$@" nginx -p "$A" -c "$A/nginx.conf" -e "$A/error.log" &
	NG_PID=$!
	for ((d = 0; d < 100; d++)); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
		sleep 0.05
	done
	echo "nginx did not start" >&2
	exit 1
}
ngx_stop() { kill "$NG_PID"; wait "$NG_PID" || true; NG_PID=; port=$((port + 1)); }
time_get() {
	local t0 t1
	t0=$(now)
	curl -s -o /dev/null "http://127.0.0.1:$port/src"
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
# Both servers run for the whole measurement, as a server does, and the
# requests alternate between them: a request to a server just started
# measured its start-up too, and moved by tens of percent run to run.
if command -v nginx >/dev/null && command -v curl >/dev/null; then
	: >"$WORK/a" && : >"$WORK/b"
	ngx on -u LD_PRELOAD
	port_on=$port pid_on=$NG_PID
	port=$((port + 1))
	ngx off "${ZON[@]}"
	port_off=$port pid_off=$NG_PID
	for p in "$port_on" "$port_off"; do
		curl -s "http://127.0.0.1:$p/src" | cmp -s - "$SRC" || { echo "nginx on port $p: differs" >&2; exit 1; }
	done
	for ((i = 0; i < RUNS; i++)); do
		port=$port_on time_get >>"$WORK/a"
		port=$port_off time_get >>"$WORK/b"
	done
	NG_PID=$pid_on ngx_stop
	NG_PID=$pid_off ngx_stop
	pid_on= pid_off=
	a=$(median <"$WORK/a")
	b=$(median <"$WORK/b")
	printf '%s\t%s\t%s\t-\t-\n' "nginx: sendfile on vs sendfile off under zcopy" "$a" "$b" >>"$RESULTS"
	printf '%-28s sendfile on %.3f s  sendfile off+zcopy %.3f s  %.2fx\n' nginx "$a" "$b" "$(echo "$a / $b" | bc -l)"
fi

{
	echo '# The guard strategy on the programs it is for'
	echo
	echo "Produced by \`make bench-guard\` (bench/guard.sh) on $(date -u '+%Y-%m-%d %H:%M UTC');"
	echo "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores, kernel $(uname -r);"
	echo "a ${SIZE} MiB file on $(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || echo '?'), warm page cache;"
	echo "medians of $RUNS interleaved runs (plain, zcopy, plain, zcopy, ...), after one run of each whose output was compared with the source."
	echo "*zcopy* is \`LD_PRELOAD=build/libzcopy.so\` at default settings (guard mode on); the copiers write into a pipe drained by \`cat\`."
	echo "For nginx, *plain* is nginx with \`sendfile on\` without zcopy, *zcopy* the same nginx with \`sendfile off\` under zcopy"
	echo "(both with \`output_buffers 2 256k\`), serving the file to curl over loopback; both servers run throughout, the requests alternate between them."
	echo "On a machine doing other work these rows vary by tens of percent from one run to the next, and even on an idle one"
	echo "by about a tenth (the plain copiers' own time moves most): compare runs with the CPU columns, and check the load before quoting them."
	echo
	echo "The CPU columns are the copier's own user + system seconds (medians), which other work on the machine moves less than the wall time."
	echo
	echo '| scenario | plain (s) | zcopy, guards (s) | speed-up | plain CPU (s) | zcopy CPU (s) |'
	echo '|---|---:|---:|---:|---:|---:|'
	while IFS=$'\t' read -r name a b ca cb; do
		printf '| %s | %.3f | %.3f | %.2fx | %s | %s |\n' "$name" "$a" "$b" "$(echo "$a / $b" | bc -l)" \
			"$ca" "$cb"
	done <"$RESULTS"
} >"$DOC"
echo "bench-guard: wrote ${DOC#"$root"/}"
