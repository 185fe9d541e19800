#!/usr/bin/env python3
# tests/syscalls/tcp_relay.py - runs COMMAND... with its standard input and
# output two loopback TCP connections: a thread sends the file `src` into
# the first (sendfile), another writes what arrives on the second to `out`.
# Exits with the command's status.  (syscalls.sh: a socket relay counted.)
# With --out first, only the output is a connection (standard input is
# /dev/null): a file copied into a socket.
import socket, subprocess, sys, threading
out_only = sys.argv[1] == "--out"
if out_only:
    del sys.argv[1]
def pair():
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    c = socket.create_connection(l.getsockname()); a, _ = l.accept(); l.close()
    return c, a
feed, cin = (None, subprocess.DEVNULL) if out_only else pair()
cout, sink = pair()
def send():
    with open("src", "rb") as f:
        feed.sendfile(f)
    feed.close()
def receive():
    with open("out", "wb") as f:
        while True:
            b = sink.recv(1 << 20)
            if not b:
                break
            f.write(b)
t = [threading.Thread(target=receive)] + ([] if out_only else [threading.Thread(target=send)])
for x in t:
    x.start()
p = subprocess.Popen(sys.argv[1:], stdin=cin, stdout=cout)
if not out_only:
    cin.close()
cout.close()
rc = p.wait()
for x in t:
    x.join()
sys.exit(rc)
