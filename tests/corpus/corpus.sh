#!/usr/bin/env bash
# tests/corpus/corpus.sh - real tools, run three ways, compared.
#
# Every scenario (one `scenario` line in the table below) runs without zcopy,
# with LD_PRELOAD=build/libzcopy.so ZCOPY_MODE=on ZCOPY_GUARD=0 (the map
# strategy alone), and with default settings (guard mode on: the `guard`
# run).  A scenario fails when the three runs differ in any output
# (every file the run left in its directory, stdout, stderr) or in the exit
# status of any process under test, when a process under test left no stats
# record (the shim was not active, so a no-op shim cannot pass), or when a
# scenario marked `zc` moved no byte by a kernel transfer, or a scenario
# marked `zg` moved less than 80% of its bytes so in the guard run.  Everything else
# zcopy did is recorded: with every scenario run, the table in docs/corpus.md
# is rewritten from the stats of the `on` runs.
#
#   corpus.sh [NAME...]     only the scenarios whose names match (glob
#                           patterns); docs/corpus.md is then left alone
# Environment: ZCOPY_LIB (default build/libzcopy.so), CORPUS_DOC (default
# docs/corpus.md; empty: do not write it), CORPUS_TIMEOUT (seconds per
# command, default 60), CORPUS_KEEP=1 (keep the work directory).
# The last line is `corpus: N passed, M failed`; exit status 1 if any failed.

# The scenarios' commands and programs are kept unexpanded until they run.
# shellcheck disable=SC2016
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LIB=${ZCOPY_LIB:-$root/build/libzcopy.so}
DOC=${CORPUS_DOC-$root/docs/corpus.md}
TMO=${CORPUS_TIMEOUT:-60}
# The distribution's interpreter: a version manager's python3 on PATH is a
# shell script, whose processes would crowd the stats of the python runs.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# The runs must not inherit settings from the caller: the plain run has no
# preload at all and the zcopy runs set exactly what they test.
unset ZCOPY_MODE ZCOPY_GUARD ZCOPY_STATS ZCOPY_LOG ZCOPY_LOG_FILE ZCOPY_MIN_CHUNK
unset LD_PRELOAD

[ -f "$LIB" ] || {
	echo "corpus: $LIB not found (make build/libzcopy.so)" >&2
	exit 2
}
case $LIB in /*) ;; *) LIB=$PWD/$LIB ;; esac

WORK=$(mktemp -d /tmp/zcopy-corpus.XXXXXX)
cleanup() {
	if [ "${CORPUS_KEEP:-0}" = 1 ]; then
		echo "corpus: work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- inputs ------------------------------------------------------------------
# Seeded pseudo-random bytes: deterministic, incompressible, no line structure.
gen() { # gen FILE BYTES SEED
	"$PY" -c 'import random, sys
sys.stdout.buffer.write(random.Random(int(sys.argv[2])).randbytes(int(sys.argv[1])))' \
		"$2" "$3" >"$1"
}
DATA=$WORK/data
mkdir -p "$DATA/tree/sub"
# 24 MiB and an odd tail, so the last chunk of every copy is a partial page.
SRC=$DATA/src
gen "$SRC" $((24 * 1048576 + 12345)) 1
TREE=$DATA/tree
gen "$TREE/a" $((8 * 1048576 + 1)) 2
gen "$TREE/b" $((3 * 1048576)) 3
gen "$TREE/sub/c" $((100 * 1024 + 7)) 4
: >"$TREE/empty"
# What the web servers serve (64 MiB, outside the tree the tar scenario reads).
mkdir -p "$DATA/www"
gen "$DATA/www/big" $((64 * 1048576)) 5

# ---- what the scenarios call -------------------------------------------------
# Set for each run by run_one: STATS (stats directory), STATUS (exit
# statuses of the processes under test), AUX (logs and configs, not
# compared), P (a free loopback port), ZENV (how z starts a process).
STATS='' STATUS='' AUX='' P=0
ZENV=()

# z CMD ARGS...: one process under test, run the way the current run says,
# bounded in time; its exit status is recorded for the comparison.
z() {
	local rc=0
	timeout -k 5 "$TMO" "${ZENV[@]}" "$@" || rc=$?
	echo "${1##*/} $rc" >>"$STATUS"
	return "$rc"
}

# zbg CMD ARGS...: the same, in the background (a server); zwait stops
# waiting for it and records its status, zstop asks it to end first.
BG_PID='' BG_NAME=''
zbg() {
	timeout -k 5 "$TMO" "${ZENV[@]}" "$@" &
	BG_PID=$!
	BG_NAME=${1##*/}
}
zwait() {
	local rc=0
	wait "$BG_PID" || rc=$?
	echo "$BG_NAME $rc" >>"$STATUS"
	return "$rc"
}
# timeout passes SIGTERM on to the server, whose orderly exit writes the
# stats record (a process killed by a signal writes none).
zstop() {
	kill -TERM "$BG_PID" 2>/dev/null || true
	zwait
}

# Helpers are never under test: they run without the preload.
H_PID=
# The state of TCP sockets on local port $1 (0A: listening), one a line.
port_states() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { print $4 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null || true
}
wait_listen() { # wait_listen PORT: up to 10 s
	local i
	for ((i = 0; i < 200; i++)); do
		port_states "$1" | grep -qx 0A && return 0
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}
PORT_NEXT=$((19000 + $$ % 1000))
next_port() {
	while [ -n "$(port_states "$PORT_NEXT")" ]; do PORT_NEXT=$((PORT_NEXT + 1)); done
	P=$PORT_NEXT
	PORT_NEXT=$((PORT_NEXT + 1))
}
# recv_tcp FILE: a listener on $P storing one connection's bytes in FILE.
recv_tcp() {
	timeout -k 5 "$TMO" socat -u "TCP-LISTEN:$P,bind=127.0.0.1,reuseaddr" "CREATE:$1" &
	H_PID=$!
	wait_listen "$P"
}
helper_wait() { wait "$H_PID"; }
# send_tcp FILE: sends FILE to the listener on $P.
send_tcp() { timeout -k 5 "$TMO" socat -u "FILE:$1" "TCP:127.0.0.1:$P"; }
# curl_get PATH FILE: GET with curl, the body into FILE.
curl_get() { timeout -k 5 "$TMO" curl -sf -o "$2" "http://127.0.0.1:$P/$1"; }
# fetch PATH FILE: GET http://127.0.0.1:$P/PATH, the body into FILE.
fetch() {
	timeout -k 5 "$TMO" "$PY" -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "http://127.0.0.1:$P/$1" "$2"
}
# Private configurations: loopback port, temp paths under $AUX, sendfile off
# so that the server streams the file with read and write.
nginx_conf() { # nginx_conf [DIRECTIVE...]: extra http-level directives
	local d
	for d in body proxy fastcgi uwsgi scgi; do mkdir -p "$AUX/$d"; done
	cat >"$AUX/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $AUX/nginx.pid;
error_log $AUX/error.log;
events { worker_connections 64; }
http {
    access_log off;
    sendfile off;
    $*
    default_type application/octet-stream;
    client_body_temp_path $AUX/body;
    proxy_temp_path $AUX/proxy;
    fastcgi_temp_path $AUX/fastcgi;
    uwsgi_temp_path $AUX/uwsgi;
    scgi_temp_path $AUX/scgi;
    server {
        listen 127.0.0.1:$P;
        root $DATA;
    }
}
EOF
}
lighttpd_conf() {
	cat >"$AUX/lighttpd.conf" <<EOF
server.document-root = "$DATA"
server.bind = "127.0.0.1"
server.port = $P
server.errorlog = "$AUX/error.log"
server.upload-dirs = ( "$AUX" )
server.network-backend = "writev"
mimetype.assign = ( "" => "application/octet-stream" )
EOF
}

# Small programs written the way such copies usually are (the commands use
# them when they run).
# shellcheck disable=SC2034
PERL_SYSRW='open(my $i, "<", $ARGV[0]) or die "$!"; open(my $o, ">", $ARGV[1]) or die "$!";
binmode $i; binmode $o; my $b;
while (1) { my $n = sysread($i, $b, 131072); die "$!" unless defined $n; last if $n == 0;
  my $off = 0; while ($off < $n) { my $w = syswrite($o, $b, $n - $off, $off); die "$!" unless defined $w; $off += $w } }
close $o or die "$!"'
# shellcheck disable=SC2034
PY_COPYFILEOBJ='import shutil, sys
with open(sys.argv[1], "rb") as i, open(sys.argv[2], "wb") as o:
    shutil.copyfileobj(i, o)'
# shellcheck disable=SC2034
PY_SENDALL='import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
with open(sys.argv[1], "rb", buffering=0) as f:
    while True:
        b = f.read(131072)
        if not b:
            break
        s.sendall(b)
s.close()'

# shellcheck disable=SC2034
PY_OSREAD='import os, sys
i = os.open(sys.argv[1], os.O_RDONLY)
o = 1 if sys.argv[2] == "-" else os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = os.read(i, 131072)
    if not b:
        break
    while b:
        b = b[os.write(o, b):]'
# shellcheck disable=SC2034
NODE_READSYNC='const fs = require("fs");
const i = fs.openSync(process.argv[1], "r"), o = fs.openSync(process.argv[2], "w");
const b = Buffer.alloc(131072);
let n;
while ((n = fs.readSync(i, b, 0, b.length, null)) > 0)
  for (let off = 0; off < n; ) off += fs.writeSync(o, b, off, n - off);
fs.closeSync(o);'
# python -m http.server, ended by SIGTERM with an orderly exit (so that it
# writes its stats record; timeout sends the signal to the process and to its
# group, and the second one must not kill the exiting interpreter).
# shellcheck disable=SC2034
PY_HTTP='import runpy, signal, sys
def bye(*a):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
sys.argv = ["http.server", sys.argv[1], "--bind", "127.0.0.1", "--directory", sys.argv[2]]
runpy.run_module("http.server", run_name="__main__", alter_sys=True)'

# ---- the scenarios -------------------------------------------------------------
# scenario NAME EXPECT TOOLS RUN CHECK
#   EXPECT  zc: the `on` and guard runs must move bytes by kernel transfer;
#           zg: the guard run must move at least 80% of the bytes so;
#           -: recorded only
#   TOOLS   executables (basenames, comma-separated) that must leave a stats
#           record in the zcopy runs: proof that the shim was loaded
#   RUN     shell commands, run in an empty directory; `z` marks the processes
#           under test, everything else runs without zcopy
#   CHECK   run after RUN without zcopy: proves the scenario did its job (the
#           plain run must pass it; the other runs are compared with it)
# The source is $SRC (24 MiB + 12345 bytes), $TREE a directory of a few files.
NAMES=()
declare -A EXPECT TOOLS CMD CHECK NOTE MOVED SHOW
scenario() {
	NAMES+=("$1")
	EXPECT[$1]=$2 TOOLS[$1]=$3 CMD[$1]=$4 CHECK[$1]=$5
}
{
scenario cat-pipe           zc  cat       'z cat "$SRC" | cat >out'                       'cmp out "$SRC"'
scenario cat-file           -   cat       'z cat "$SRC" >out'                             'cmp out "$SRC"'
scenario cat-devnull        zc  cat       'z cat "$SRC" >/dev/null'                       'true'
scenario cat-tcp            zc  cat       'recv_tcp out; z cat "$SRC" >"/dev/tcp/127.0.0.1/$P"; helper_wait' 'cmp out "$SRC"'
scenario cat-v              -   cat       'z cat -v "$SRC" >out'                          'test -s out'
scenario dd-4k              -   dd        'z dd if="$SRC" of=out bs=4k status=none'       'cmp out "$SRC"'
scenario dd-64k             zc  dd        'z dd if="$SRC" of=out bs=64k status=none'      'cmp out "$SRC"'
scenario dd-1m              zc  dd        'z dd if="$SRC" of=out bs=1M status=none'       'cmp out "$SRC"'
scenario dd-skip-seek       zc  dd        'z dd if="$SRC" of=out bs=1M skip=3 seek=2 status=none' 'cmp -i 2097152:3145728 out "$SRC"'
scenario dd-notrunc-self    zc  dd        'cp "$SRC" f; z dd if=f of=f bs=64k skip=1 seek=0 conv=notrunc status=none' 'cmp -n $(($(stat -c %s "$SRC") - 65536)) -i 0:65536 f "$SRC"'
scenario split              zc  split     'z split -b 3M "$SRC" part.'                    'cat part.* | cmp - "$SRC"'
scenario head-c             -   head      'z head -c 20000000 "$SRC" >out'                'cmp -n 20000000 out "$SRC"'
scenario tail-c             -   tail      'z tail -c 20000000 "$SRC" >out'                'test "$(wc -c <out)" = 20000000'
scenario tee                -   tee       'z tee t1 t2 <"$SRC" >/dev/null'                'cmp t1 "$SRC" && cmp t2 "$SRC"'
scenario tr                 -   tr        'z tr a-z A-Z <"$SRC" >out'                     'test -s out'
scenario sha256sum          -   sha256sum 'z sha256sum "$SRC" >out'                       'test -s out'
scenario gzip-gunzip        -   gzip      'z gzip -c "$SRC" >out.gz; z gunzip -c out.gz >out' 'cmp out "$SRC"'
scenario tar-cf-xf          -   tar       'z tar cf a.tar -C "$DATA" tree; mkdir x; z tar xf a.tar -C x' 'diff -r x/tree "$TREE"'
scenario busybox-cat        -   busybox   'z busybox cat "$SRC" | cat >out'               'cmp out "$SRC"'
scenario busybox-dd         zc  busybox   'z busybox dd if="$SRC" of=out bs=64k'          'cmp out "$SRC"'
scenario perl-file-copy     zg  perl      'z perl -MFile::Copy -e "copy(\$ARGV[0], \$ARGV[1]) or die \"\$!\"" "$SRC" out' 'cmp out "$SRC"'
scenario perl-sysread       zg  perl      'z perl -e "$PERL_SYSRW" "$SRC" out'            'cmp out "$SRC"'
scenario py-copyfileobj     zg  python3   'z "$PY" -c "$PY_COPYFILEOBJ" "$SRC" out'       'cmp out "$SRC"'
scenario py-sendall         zg  python3   'recv_tcp out; z "$PY" -c "$PY_SENDALL" "$SRC" "$P"; helper_wait' 'cmp out "$SRC"'
scenario socat-file-tcp     zc  socat     'recv_tcp out; z socat -u -b 131072 "FILE:$SRC" "TCP:127.0.0.1:$P"; helper_wait' 'cmp out "$SRC"'
scenario socat-tcp-file     -   socat     'zbg socat -u -b 131072 "TCP-LISTEN:$P,bind=127.0.0.1,reuseaddr" CREATE:out; wait_listen "$P"; send_tcp "$SRC"; zwait' 'cmp out "$SRC"'
scenario nc                 -   nc        'zbg nc -l 127.0.0.1 "$P" >out; wait_listen "$P"; z nc -N 127.0.0.1 "$P" <"$SRC"; zwait' 'cmp out "$SRC"'
scenario pv-pipe            -   pv        'z pv -q "$SRC" | cat >out'                     'cmp out "$SRC"'
scenario pv-no-splice       zg  pv        'z pv -q -C "$SRC" | cat >out'                  'cmp out "$SRC"'
scenario mbuffer-file       -   mbuffer   'z mbuffer -q -i "$SRC" -o out'                 'cmp out "$SRC"'
scenario mbuffer-pipe       -   mbuffer   'z mbuffer -q <"$SRC" | cat >out'               'cmp out "$SRC"'
scenario rsync-whole-file   -   rsync     'z rsync --whole-file "$SRC" out'               'cmp out "$SRC"'
scenario nginx              -   nginx     'nginx_conf; zbg nginx -p "$AUX" -c "$AUX/nginx.conf" -e "$AUX/error.log"; wait_listen "$P"; fetch src body; zstop' 'cmp body "$SRC"'
scenario py-osread          zg  python3   'z "$PY" -c "$PY_OSREAD" "$SRC" out'             'cmp out "$SRC"'
scenario py-osread-pipe     zg  python3   'z "$PY" -c "$PY_OSREAD" "$SRC" - | cat >out'   'cmp out "$SRC"'
scenario node-readsync      zg  node      'z node -e "$NODE_READSYNC" "$SRC" out'          'cmp out "$SRC"'
scenario py-http-server     zg  python3   'zbg "$PY" -c "$PY_HTTP" "$P" "$DATA/www" >"$AUX/http.log" 2>&1; wait_listen "$P"; curl_get big body; zstop' 'cmp body "$DATA/www/big"'
scenario nginx-buffers      zg  nginx     'nginx_conf "output_buffers 2 256k;"; zbg nginx -p "$AUX" -c "$AUX/nginx.conf" -e "$AUX/error.log"; wait_listen "$P"; curl_get www/big body; zstop' 'cmp body "$DATA/www/big"'
scenario lighttpd           -   lighttpd  'lighttpd_conf; zbg lighttpd -D -f "$AUX/lighttpd.conf"; wait_listen "$P"; fetch src body; zstop' 'cmp body "$SRC"'
}

# How the documentation shows the commands that need helpers.
SHOW[cat-tcp]='cat src >/dev/tcp/127.0.0.1/PORT (a listener stores the bytes)'
SHOW[perl-file-copy]='perl -MFile::Copy -e (copy($ARGV[0], $ARGV[1])) src out'
SHOW[perl-sysread]='perl -e (sysread/syswrite loop, 128 KiB) src out'
SHOW[py-copyfileobj]='python3 -c (shutil.copyfileobj from src to out)'
SHOW[py-sendall]='python3 -c (read 128 KiB, socket.sendall, to a listener) src PORT'
SHOW[socat-file-tcp]='socat -u -b 131072 FILE:src TCP:127.0.0.1:PORT (a listener stores the bytes)'
SHOW[socat-tcp-file]='socat -u -b 131072 TCP-LISTEN:PORT,bind=127.0.0.1,reuseaddr CREATE:out (a client sends src)'
SHOW[nc]='nc -l 127.0.0.1 PORT >out; nc -N 127.0.0.1 PORT <src (both under test)'
SHOW[nginx]='nginx (master_process off, sendfile off); GET /src'
SHOW[py-osread]='python3 -c (os.read 128 KiB / os.write loop) src out'
SHOW[py-osread-pipe]='python3 -c (os.read 128 KiB / os.write loop) src - | cat >out'
SHOW[node-readsync]='node -e (fs.readSync/fs.writeSync loop, 128 KiB Buffer) src out'
SHOW[py-http-server]='python3 -m http.server; curl GET /big (64 MiB)'
SHOW[nginx-buffers]='nginx (sendfile off, output_buffers 2 256k); curl GET /www/big (64 MiB)'
SHOW[lighttpd]='lighttpd -D (server.network-backend = "writev": no sendfile); GET /src'

# Output that leaves no file: the bytes written are the source's.
MOVED[cat-devnull]=$(stat -c %s "$SRC")
MOVED[tee]=$((3 * $(stat -c %s "$SRC")))
# Files that held data before the tool ran: only what it wrote counts.
MOVED[dd-skip-seek]=$(($(stat -c %s "$SRC") - 3145728))
MOVED[dd-notrunc-self]=$(($(stat -c %s "$SRC") - 65536))

# Why a scenario moves little or nothing by kernel transfer, for the
# documentation (the reason key itself comes from the stats).
NOTE[cat-file]='coreutils cat copies a file to a regular file with copy_file_range(2) itself: no read/write to redirect.'
NOTE[cat-v]='cat -v rewrites every byte into its own output buffer: there is no read->write pair of the same bytes.'
NOTE[dd-4k]='4 KiB reads are below ZCOPY_MIN_CHUNK (64 KiB): not examined, by design (small chunks gain nothing).'
NOTE[head-c]='head reads 8 KiB at a time (below ZCOPY_MIN_CHUNK) and writes 4 KiB pieces.'
NOTE[tail-c]='tail reads 8 KiB at a time (below ZCOPY_MIN_CHUNK).'
NOTE[tee]='tee reads 8 KiB at a time (below ZCOPY_MIN_CHUNK) and writes each chunk three times.'
NOTE[tr]='tr reads 8 KiB and writes translated bytes: the data changes.'
NOTE[sha256sum]='sha256sum only reads (32 KiB reads): nothing is written.'
NOTE[gzip-gunzip]='gzip and gunzip transform the data (32 KiB reads): nothing is copied unchanged.'
NOTE[tar-cf-xf]='tar moves 10 KiB records (below ZCOPY_MIN_CHUNK) and adds headers.'
NOTE[busybox-cat]='busybox cat already sends the file with sendfile(2) itself: no read/write to redirect.'
NOTE[perl-file-copy]='File::Copy copies with sysread/syswrite of 2 MiB through a perl string, whose buffer is malloc memory starting 16 bytes into a page: its alignment never matches the file offset, so the map strategy refuses it (`alignment`). At default settings (guard mode on) the whole pages inside the buffer are guarded instead (see *guard share*).'
NOTE[perl-sysread]='The perl string buffer is malloc memory starting 16 bytes into a page: its alignment never matches the file offset, so the map strategy refuses it (`alignment`). At default settings (guard mode on) the whole pages inside the buffer are guarded instead (see *guard share*).'
NOTE[py-copyfileobj]='shutil.copyfileobj reads 64 KiB at a time into a new bytes object each time, whose data starts 32 bytes into malloc memory (`alignment`). At default settings (guard mode on) each new buffer takes over the stream of the freed one and is guarded (see *guard share*).'
NOTE[py-sendall]='Each 128 KiB read returns a new bytes object, whose data starts 32 bytes into malloc memory (`alignment`). At default settings (guard mode on) each new buffer takes over the stream of the freed one and is guarded (see *guard share*).'
NOTE[socat-tcp-file]='The source is a TCP socket: its 128 KiB reads are spliced into a pipe of zcopy'"'"'s and from there into the file, which needs guard mode (the run with ZCOPY_GUARD=0 stays plain). See *guard share*.'
NOTE[nc]='nc reads 16 KiB at a time (below ZCOPY_MIN_CHUNK); the listening side reads a socket.'
NOTE[pv-pipe]='pv already moves file->pipe with splice(2) itself: no read/write to redirect.'
NOTE[pv-no-splice]='pv -C (no splice) reads 128 KiB into a malloc buffer whose alignment does not match the file offset (`alignment`). At default settings (guard mode on) its whole pages are guarded instead (see *guard share*).'
NOTE[mbuffer-file]='mbuffer opens its output file with O_DIRECT.'
NOTE[mbuffer-pipe]='mbuffer reads into a ring of blocks in one thread and writes them from another: each block is a different buffer, so no (file, buffer) stream gets past its warm-up.'
NOTE[rsync-whole-file]='rsync reads 32 KiB at a time (below ZCOPY_MIN_CHUNK) and sends it through a pipe between its processes, framed.'
NOTE[nginx]='nginx with sendfile off reads the file with pread into its 32 KiB output buffers (below ZCOPY_MIN_CHUNK) and sends them with writev.'
NOTE[py-osread]='os.read returns a new bytes object for every read, its data 32 bytes into malloc memory (`alignment`). At default settings (guard mode on) each new buffer takes over the stream and is guarded (see *guard share*).'
NOTE[py-osread-pipe]='As py-osread, into a pipe (`alignment`; see *guard share* for the default settings).'
NOTE[node-readsync]='A node Buffer of 128 KiB is malloc memory that starts inside a page (`alignment`). At default settings (guard mode on) its whole pages are guarded (see *guard share*).'
NOTE[py-http-server]='http.server sends a file with shutil.copyfileobj (64 KiB reads into new bytes objects, `alignment`); at default settings they are guarded and sent with sendfile (see *guard share*).'
NOTE[nginx-buffers]='nginx with sendfile off and 256 KiB output buffers reads the file with pread into malloc memory that starts inside a page (`alignment`); at default settings the buffers are guarded and written with sendfile (see *guard share*).'
NOTE[lighttpd]='lighttpd with the writev backend (no sendfile) reads the file with pread, 16 KiB at a time (below ZCOPY_MIN_CHUNK), and writes each piece.'

# ---- one run, one scenario -----------------------------------------------------
# The summary of a run's stats records, one line of tab-separated fields:
# records, records of the tools, bytes_zero_copy, bytes_copied, main fallback
# reason and its bytes, settings problems (records whose mode or guard is not
# the run's) - sums over the records of the tools.
STATS_PY='import json, os, sys
d, tools, guard = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
recs = []
for n in sorted(os.listdir(d)):
    with open(os.path.join(d, n)) as f:
        recs += [json.loads(l) for l in f if l.strip()]
mine = [r for r in recs if os.path.basename(r.get("exe", "")) in tools]
zc = sum(r.get("bytes_zero_copy", 0) for r in mine)
cp = sum(r.get("bytes_copied", 0) for r in mine)
fb = {}
for r in mine:
    for k, v in r.get("fallback_bytes", {}).items():
        fb[k] = fb.get(k, 0) + v
reason, rbytes = max(fb.items(), key=lambda kv: (kv[1], kv[0])) if fb else ("-", 0)
bad = sum(1 for r in recs if guard != "-" and (r.get("mode") != "on" or str(r.get("guard")) != guard))
print(len(recs), len(mine), zc, cp, reason, rbytes, bad, sep="\t")'

# run_one NAME MODE: runs the scenario once; leaves $WORK/NAME/MODE (the
# compared directory), MODE.out, MODE.err, MODE.status, MODE.stats/.
run_one() {
	local name=$1 mode=$2 base=$WORK/$1
	STATS=$base/$mode.stats
	STATUS=$base/$mode.status
	AUX=$base/$mode.aux
	mkdir -p "$base/$mode" "$STATS" "$AUX"
	: >"$STATUS"
	case $mode in
	plain) ZENV=(env -u LD_PRELOAD "ZCOPY_STATS=$STATS/stats.%p") ;;
	on) ZENV=(env "LD_PRELOAD=$LIB" ZCOPY_MODE=on ZCOPY_GUARD=0 "ZCOPY_STATS=$STATS/stats.%p") ;;
	guard) ZENV=(env "LD_PRELOAD=$LIB" "ZCOPY_STATS=$STATS/stats.%p") ;; # default settings
	esac
	next_port
	local rc=0
	(
		set +e
		cd "$base/$mode" || exit 99
		eval "${CMD[$name]}"
		rc=$?
		# A helper or server still running (the scenario failed half-way)
		# must not outlive its run: timeout passes the signal on.
		for p in $(jobs -p); do kill "$p" 2>/dev/null; done
		wait
		exit "$rc"
	) >"$base/$mode.out" 2>"$base/$mode.err" </dev/null || rc=$?
	echo "script $rc" >>"$STATUS"
	rc=0
	(cd "$base/$mode" && eval "${CHECK[$name]}") >"$base/$mode.check" 2>&1 || rc=$?
	echo "check $rc" >>"$STATUS"
	sort -o "$STATUS" "$STATUS"
}

# How two runs differ, in words; nothing if they do not.
differences() { # differences NAME A B
	local base=$WORK/$1 a=$2 b=$3 f
	if ! cmp -s "$base/$a.status" "$base/$b.status"; then
		echo "exit statuses differ: $a: $(paste -sd, "$base/$a.status"); $b: $(paste -sd, "$base/$b.status")"
	fi
	for f in out err; do
		cmp -s "$base/$a.$f" "$base/$b.$f" ||
			echo "std$f differs: $(cmp "$base/$a.$f" "$base/$b.$f" 2>&1 | head -1)"
	done
	(cd "$base/$a" && find . -mindepth 1 -printf '%P\n' | sort) >"$base/$a.list"
	(cd "$base/$b" && find . -mindepth 1 -printf '%P\n' | sort) >"$base/$b.list"
	if ! cmp -s "$base/$a.list" "$base/$b.list"; then
		echo "files differ: $(diff "$base/$a.list" "$base/$b.list" | grep '^[<>]' | paste -sd' ' | cut -c1-300)"
	fi
	while IFS= read -r f; do
		if [ ! -f "$base/$a/$f" ] || [ ! -f "$base/$b/$f" ]; then continue; fi
		cmp -s "$base/$a/$f" "$base/$b/$f" ||
			echo "$f differs: $(cmp "$base/$a/$f" "$base/$b/$f" 2>&1 | head -1 |
				sed "s|$base/||g"), sizes $(stat -c %s "$base/$a/$f") and $(stat -c %s "$base/$b/$f")"
	done < <(comm -12 "$base/$a.list" "$base/$b.list")
	return 0
}

# The bytes a scenario moves: what its plain run left in its directory and
# wrote on stdout, unless MOVED says otherwise (output sent to /dev/null).
moved_bytes() {
	if [ -n "${MOVED[$1]:-}" ]; then
		echo "${MOVED[$1]}"
		return
	fi
	{
		find "$WORK/$1/plain" -type f -printf '%s\n'
		stat -c %s "$WORK/$1/plain.out"
	} | awk '{ t += $1 } END { print t + 0 }'
}

RESULTS=$WORK/results # name, verdict, bytes moved, summary of the `on` run
: >"$RESULTS"
passed=0 failed=0 skipped=0

run_scenario() {
	local name=$1 problems=() m sum line
	mkdir -p "$WORK/$name"
	for m in plain on guard; do run_one "$name" "$m"; done
	local base=$WORK/$name
	grep -qx 'check 0' "$base/plain.status" ||
		problems+=("the plain run fails its check (${CHECK[$name]}): $(head -c 300 "$base/plain.check") $(head -c 300 "$base/plain.err")")
	for m in on guard; do
		while IFS= read -r line; do problems+=("$m vs plain: $line"); done < <(differences "$name" plain "$m")
	done
	local nrec ntool zc cp reason rbytes bad ncalls gzc=0 moved
	moved=$(moved_bytes "$name")
	sum=$("$PY" -c "$STATS_PY" "$base/plain.stats" "${EXES[$name]}" -)
	IFS=$'\t' read -r nrec _ _ _ _ _ _ <<<"$sum"
	[ "$nrec" = 0 ] || problems+=("the plain run left $nrec stats records: it was not plain")
	for m in guard on; do # `on` last: its summary goes to the table
		sum=$("$PY" -c "$STATS_PY" "$base/$m.stats" "${EXES[$name]}" "$([ "$m" = guard ] && echo 1 || echo 0)")
		IFS=$'\t' read -r nrec ntool zc cp reason rbytes bad <<<"$sum"
		# One record at least per process started by z (a tool may fork more).
		ncalls=$(grep -cvE '^(script|check) ' "$base/$m.status" || true)
		[ "$ntool" -gt 0 ] && [ "$ntool" -ge "$ncalls" ] ||
			problems+=("$m run: $ntool stats records from ${TOOLS[$name]} for $ncalls processes under test ($nrec records in all): the shim was not active")
		[ "$bad" = 0 ] || problems+=("$m run: $bad records do not show the run's ZCOPY_MODE/ZCOPY_GUARD")
		if [ "${EXPECT[$name]}" = zc ] && [ "$zc" -le 0 ]; then
			problems+=("$m run: bytes_zero_copy is 0 (expected > 0); main fallback reason $reason ($rbytes bytes)")
		fi
		if [ "$m" = guard ]; then
			gzc=$zc
			if [ "${EXPECT[$name]}" = zg ] && [ $((zc * 100)) -lt $((moved * 80)) ]; then
				problems+=("guard run: bytes_zero_copy $zc is below 80% of $moved; main fallback reason $reason ($rbytes bytes)")
			fi
		fi
	done
	if [ ${#problems[@]} -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-18s zero-copy %s of %s bytes (guard %s), main fallback %s\n' "$name" "$zc" "$moved" "$gzc" "$reason"
		printf '%s\tpass\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$moved" "$zc" "$cp" "$reason" "$rbytes" "$gzc" >>"$RESULTS"
	else
		failed=$((failed + 1))
		printf 'FAIL %s: %s\n' "$name" "$(shown "$name")"
		for line in "${problems[@]}"; do printf '     %s\n' "$line"; done
		printf '%s\tFAIL\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$moved" "$zc" "$cp" "$reason" "$rbytes" "$gzc" >>"$RESULTS"
	fi
}

# ---- the documentation ---------------------------------------------------------
human() { # bytes in MiB with two decimals, small counts in bytes
	awk -v b="$1" 'BEGIN { if (b < 1048576) printf "%d B\n", b; else printf "%.2f MiB\n", b / 1048576 }'
}
# The scenario's command as a reader would type it.
shown() {
	if [ -n "${SHOW[$1]:-}" ]; then
		printf '%s' "${SHOW[$1]}" | sed -e 's/|/\\|/g'
		return
	fi
	printf '%s' "${CMD[$1]}" | sed -e 's/\(^\|; \|| \)z /\1/g' -e 's/"\$SRC"/src/g' -e 's/"\$TREE"/tree/g' \
		-e 's/"\$DATA"/data/g' -e 's/"\$PY"/python3/g' -e 's/\$P\b/PORT/g' -e 's/|/\\|/g'
}
reason_desc() { # the description of a fallback key, from shim/stats.h
	sed -n "s/.*X([A-Z_]*, \"$1\", \"\(.*\)\").*/\1/p" "$root/shim/stats.h" | head -1
}
version_of() { # version_of CMD...: the first version-like word CMD prints
	"$@" 2>&1 | head -2 | sed 's#[ /()]#\n#g' | grep -m1 -E '^(v?[0-9]+\.[0-9][0-9a-z.-]*|R[0-9]{8})$' | sed 's/^v//'
}

write_doc() {
	local tmp=$DOC.tmp name verdict moved zc cp reason rbytes gzc share gshare cpu fs
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	fs=$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")
	{
		echo '# zcopy on real tools'
		echo
		echo "Produced by \`make test-corpus\` (tests/corpus/corpus.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'); rerun it to regenerate this file."
		echo
		echo "- Machine: $cpu, $(nproc) online cores; kernel $(uname -sr) $(uname -m); work files on $fs."
		echo "- Tools: coreutils $(version_of cat --version), BusyBox $(version_of busybox), socat $(version_of socat -V),"
		echo "  netcat-openbsd $(version_of nc -h), perl $(version_of perl -e 'print $^V'), Python $(version_of "$PY" -V),"
		echo "  nginx $(version_of nginx -v), lighttpd $(version_of lighttpd -v), pv $(version_of pv --version),"
		echo "  mbuffer $(version_of mbuffer -V), rsync $(version_of rsync --version), GNU tar $(version_of tar --version), gzip $(version_of gzip --version)."
		echo "- Each scenario runs three times: without zcopy, with \`LD_PRELOAD=build/libzcopy.so ZCOPY_MODE=on ZCOPY_GUARD=0\` (the map strategy alone)"
		echo "  and with \`LD_PRELOAD=build/libzcopy.so\` at default settings (guard mode on)."
		echo "  Every output file, stdout, stderr and the exit status of every process under test must be the same in the three runs,"
		echo "  and each process under test must leave a stats record (\`ZCOPY_STATS\`), which proves the library was loaded."
		echo "  Scenarios marked * must also move bytes by a kernel transfer in both zcopy runs; those marked ** must move at least"
		echo "  80% of their bytes so at default settings."
		echo "  Web servers serve \`www/big\` (64 MiB) to curl."
		echo "  Node.js $(version_of node --version)."
		echo "- Source: 24 MiB + 12345 bytes of seeded pseudo-random data (\`src\`); \`tree\`: a directory of four files (8 MiB + 1, 3 MiB, 100 KiB + 7, empty)."
		echo "  Helpers (the TCP receivers and senders, the HTTP client, the consumer after a pipe) run without zcopy."
		echo "- Numbers are from the \`ZCOPY_GUARD=0\` run, summed over the processes under test:"
		echo "  *bytes moved* = the bytes the scenario's tools wrote (the size of every file the plain run left, of its stdout,"
		echo "  or of the source when the output went to /dev/null; for tee, three times the source),"
		echo "  *redirected* = bytes_zero_copy, *bytes_copied* = bytes written from user memory by writes zcopy examined,"
		echo "  *share* = redirected / bytes moved, *guard share* = the same in the run at default settings (guard mode on),"
		echo "  *main fallback reason* = the key with the largest fallback_bytes"
		echo "  (\`-\`: none recorded: no read of at least ZCOPY_MIN_CHUNK from a regular file was paired with a write)."
		echo
		echo '| scenario | command | bytes moved | redirected (bytes_zero_copy) | bytes_copied | share | guard share | main fallback reason | same output |'
		echo '|---|---|---:|---:|---:|---:|---:|---|---|'
		while IFS=$'\t' read -r name verdict moved zc cp reason rbytes gzc; do
			if [ "$moved" -gt 0 ]; then
				share=$(awk -v z="$zc" -v t="$moved" 'BEGIN { printf "%.1f%%", 100 * z / t }')
				gshare=$(awk -v z="$gzc" -v t="$moved" 'BEGIN { printf "%.1f%%", 100 * z / t }')
			else
				share=- gshare=-
			fi
			[ "$reason" = - ] || reason="\`$reason\` ($(human "$rbytes"))"
			printf '| %s%s | `%s` | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
				"$(case ${EXPECT[$name]} in zc) echo ' *' ;; zg) echo ' **' ;; esac)" "$(shown "$name")" \
				"$(human "$moved")" "$(human "$zc")" "$(human "$cp")" "$share" "$gshare" "$reason" \
				"$([ "$verdict" = pass ] && echo yes || echo '**NO: fails**')"
		done <"$RESULTS"
		echo
		echo '## Where zcopy did not engage, and why'
		echo
		while IFS=$'\t' read -r name verdict moved zc cp reason rbytes gzc; do
			[ "$zc" -gt 0 ] && continue
			printf -- '- **%s**: ' "$name"
			if [ "$reason" != - ]; then
				printf '`%s` (%s). ' "$reason" "$(reason_desc "$reason")"
			fi
			printf '%s\n' "${NOTE[$name]:-no fallback recorded.}"
		done <"$RESULTS"
	} >"$tmp"
	mv "$tmp" "$DOC"
	echo "corpus: wrote ${DOC#"$root"/}"
}

# ---- main ------------------------------------------------------------------------
all=1
selected=()
for name in "${NAMES[@]}"; do
	if [ $# -eq 0 ]; then
		selected+=("$name")
		continue
	fi
	all=0
	for pat in "$@"; do
		# shellcheck disable=SC2053 # the pattern is a glob on purpose
		if [[ $name == $pat ]]; then
			selected+=("$name")
			break
		fi
	done
done
[ ${#selected[@]} -gt 0 ] || {
	echo "corpus: no scenario matches: $*" >&2
	exit 2
}

# The records name the executable file, so each tool is also known by the
# file its command resolves to (nc is nc.openbsd, python3 is python3.11).
declare -A HAVE EXES
for name in "${selected[@]}"; do
	missing='' exes=${TOOLS[$name]}
	IFS=, read -ra tools <<<"${TOOLS[$name]}"
	for t in "${tools[@]}"; do
		case $t in python3) t=$PY ;; esac
		if path=$(command -v "$t"); then
			exes="$exes,$(basename "$(readlink -f "$path")")"
		else
			missing="$missing $t"
		fi
	done
	EXES[$name]=$exes
	if [ -n "$missing" ]; then
		echo "SKIP $name: not installed:$missing (tests/deps.sh installs it)"
		skipped=$((skipped + 1))
		HAVE[$name]=0
		all=0
	else
		HAVE[$name]=1
	fi
done

start=$SECONDS
for name in "${selected[@]}"; do
	[ "${HAVE[$name]}" = 1 ] || continue
	run_scenario "$name"
done

if [ "$all" = 1 ] && [ -n "$DOC" ]; then write_doc; fi
echo "corpus: $((SECONDS - start)) s"
echo "corpus: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
