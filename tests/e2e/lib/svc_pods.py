#!/usr/bin/env python3
"""Servers and clients that tests/e2e/services.sh runs inside pod namespaces.

  echo-server NAME PORT          TCP line echo: every line comes back as "NAME <line>"
  hold IP PORT STOP_FILE         one TCP connection to IP:PORT, a line "seq N" every
                                 0.2 s until STOP_FILE exists; each echo must come back
                                 within 3 s, in order, from the same backend. Prints
                                 "CONNECTED <backend>" after the first echo, "ECHO <n>"
                                 after each, then "DONE <lines> <backend>"; exits 1
                                 naming the line and what came back (or did not) on any
                                 failure.
  udp-server NAME PORT           UDP: every datagram is answered with "NAME" from the same
                                 socket, at once; logs "answered <ip>:<port>" after each
                                 send (flushed), so a lost answer shows which side lost it
  udp-query IP PORT COUNT        COUNT datagrams, each from a new socket (a new source
                                 port); prints one line per query: "<i> <answer>" or
                                 "<i> ERROR <what> (query from <src-ip>:<src-port>)" (no answer
                                 within 3 s, refused)
  refused tcp|udp IP PORT        a TCP connect, or one datagram on a connected UDP
                                 socket; exits 0 if the kernel reports ECONNREFUSED (an
                                 ICMP port unreachable came back) within 2 s, 1 otherwise
                                 (says what happened instead)
  pmtu-udp IP PORT MTU           a connected UDP socket with DF (IP_PMTUDISC_DO) sends one
                                 datagram filling the route's MTU; exits 0 once the kernel
                                 has learnt path MTU MTU for IP from an ICMP fragmentation
                                 needed (the next such send fails with EMSGSIZE, IP_MTU is
                                 MTU) within 3 s; 1 if the route's MTU was not above MTU to
                                 begin with, or nothing was learnt
  pmtu-tcp IP PORT LINES SIZE    one TCP connection to an echo-server: LINES lines of SIZE
                                 bytes each, all sent at once, must all come back in order
                                 within 15 s; prints the backend and the socket's IP_MTU
                                 ("BACKEND <name> MTU <n>")
"""

import errno
import os
import socket
import socketserver
import sys
import threading
import time


def echo_server(name, port):
    prefix = name.encode() + b" "

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(prefix + line)
                self.wfile.flush()

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    with Server(("0.0.0.0", int(port)), Handler) as srv:
        print("READY", flush=True)
        srv.serve_forever()


def hold(ip, port, stop_file):
    try:
        s = socket.create_connection((ip, int(port)), timeout=5)
    except OSError as e:
        sys.exit("connect %s:%s: %s" % (ip, port, e))
    s.settimeout(3)
    f = s.makefile("rb")
    backend = None
    n = 0
    t0 = time.monotonic()
    while n == 0 or not os.path.exists(stop_file):
        n += 1
        try:
            s.sendall(b"seq %d\n" % n)
            line = f.readline()
        except OSError as e:
            sys.exit("line %d (%.1f s after connecting): %s" % (n, time.monotonic() - t0, e))
        if not line:
            sys.exit("line %d (%.1f s after connecting): connection closed by the other end" % (n, time.monotonic() - t0))
        who, _, rest = line.decode(errors="replace").rstrip("\n").partition(" ")
        if rest != "seq %d" % n:
            sys.exit("line %d: sent 'seq %d', got back %r" % (n, n, line))
        if backend is None:
            backend = who
            print("CONNECTED " + backend, flush=True)
        elif who != backend:
            sys.exit("line %d: answered by %s, the connection started on %s" % (n, who, backend))
        print("ECHO %d" % n, flush=True)
        time.sleep(0.2)
    print("DONE %d %s" % (n, backend), flush=True)


def udp_server(name, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    print("READY", flush=True)
    answer = name.encode() + b"\n"
    while True:
        _, peer = s.recvfrom(2048)
        s.sendto(answer, peer)
        print("answered %s:%d" % peer, flush=True)


def udp_query(ip, port, count):
    for i in range(int(count)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        src = "?"
        try:
            s.connect((ip, int(port)))
            src = "%s:%d" % s.getsockname()
            s.send(b"query %d\n" % i)
            print("%d %s" % (i, s.recv(512).decode(errors="replace").strip()), flush=True)
        except socket.timeout:
            print("%d ERROR no answer within 3 s (query from %s)" % (i, src), flush=True)
        except OSError as e:
            print("%d ERROR %s (query from %s)" % (i, e, src), flush=True)
        finally:
            s.close()


def refused(proto, ip, port):
    tcp = proto == "tcp"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.settimeout(2)
    t0 = time.monotonic()
    try:
        s.connect((ip, int(port)))
        if tcp:
            sys.exit("connected to %s:%s, expected the connection refused" % (ip, port))
        s.send(b"query\n")
        data = s.recv(512)
    except ConnectionRefusedError:
        print("%s %s:%s: ECONNREFUSED after %.3f s" % (proto, ip, port, time.monotonic() - t0))
        return
    except socket.timeout:
        sys.exit("%s %s:%s: no answer and no ICMP error within 2 s" % (proto, ip, port))
    except OSError as e:
        sys.exit("%s %s:%s: %s, expected ECONNREFUSED" % (proto, ip, port, e))
    sys.exit("%s %s:%s: got an answer %r, expected port unreachable" % (proto, ip, port, data))


IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_MTU = 10, 2, 14  # <linux/in.h>; not all in Python's socket module


def pmtu_udp(ip, port, mtu):
    mtu = int(mtu)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    s.connect((ip, int(port)))
    first = s.getsockopt(socket.IPPROTO_IP, IP_MTU)
    if first <= mtu:
        sys.exit("the route to %s has MTU %d before any ICMP error: nothing for path MTU discovery to find" % (ip, first))
    payload = b"x" * (first - 28)
    s.send(payload)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            s.send(payload)
        except OSError as e:
            if e.errno != errno.EMSGSIZE:
                sys.exit("send of %d bytes to %s:%s: %s" % (len(payload), ip, port, e))
            got = s.getsockopt(socket.IPPROTO_IP, IP_MTU)
            if got != mtu:
                sys.exit("path MTU to %s: learnt %d, want %d" % (ip, got, mtu))
            print("path MTU to %s: %d at first, %d learnt from ICMP fragmentation needed" % (ip, first, got))
            return
    sys.exit("no ICMP fragmentation needed reached the socket within 3 s: path MTU to %s still %d"
             % (ip, s.getsockopt(socket.IPPROTO_IP, IP_MTU)))


def pmtu_tcp(ip, port, lines, size):
    lines, size = int(lines), int(size)
    s = socket.create_connection((ip, int(port)), timeout=15)
    sent = [b"%06d %s\n" % (i, b"y" * (size - 8)) for i in range(lines)]
    # Sent from a thread while this one reads: the echoes would otherwise
    # fill both directions' buffers and stop both ends.
    threading.Thread(target=s.sendall, args=(b"".join(sent),), daemon=True).start()
    f = s.makefile("rb")
    backend = None
    for i, want in enumerate(sent):
        try:
            line = f.readline()
        except OSError as e:
            sys.exit("line %d of %d: %s (path MTU %d)" % (i, lines, e, s.getsockopt(socket.IPPROTO_IP, IP_MTU)))
        who, _, rest = line.partition(b" ")
        if rest != want:
            sys.exit("line %d of %d: %d bytes back, want %d" % (i, lines, len(rest), len(want)))
        backend = backend or who.decode()
    print("BACKEND %s MTU %d" % (backend, s.getsockopt(socket.IPPROTO_IP, IP_MTU)), flush=True)


def main():
    cmds = {"echo-server": (echo_server, 2), "hold": (hold, 3), "udp-server": (udp_server, 2), "udp-query": (udp_query, 3),
            "refused": (refused, 3), "pmtu-udp": (pmtu_udp, 3), "pmtu-tcp": (pmtu_tcp, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) - 2 != cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = cmds[sys.argv[1]]
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
