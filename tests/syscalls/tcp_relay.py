#!/usr/bin/env python3
# tests/syscalls/tcp_relay.py - runs COMMAND... with its standard input and
# output two loopback TCP connections: a thread sends the file `src` into
# the first (sendfile), another writes what arrives on the second to `out`.
# Exits with the command's status.  (syscalls.sh: a socket relay counted.)
import socket, subprocess, sys, threading
def pair():
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    c = socket.create_connection(l.getsockname()); a, _ = l.accept(); l.close()
    return c, a
feed, cin = pair()
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
t = [threading.Thread(target=send), threading.Thread(target=receive)]
for x in t:
    x.start()
p = subprocess.Popen(sys.argv[1:], stdin=cin, stdout=cout)
cin.close(); cout.close()
rc = p.wait()
for x in t:
    x.join()
sys.exit(rc)
