#!/usr/bin/env python3
"""A vhost-user frontend that misbehaves, standing in for a broken DPDK pod.

It listens on SOCKET (the pod is the vhost-user server; vxrouted connects as
the client) and, for each connection, speaks one of these modes:
  features  asks for the backend's features, then sets every feature bit
            (most of which vxrouted's backend never offered)
  unknown   sends a request type no vhost-user version defines
  garbage   sends bytes that are not a vhost-user message at all
then closes the connection. It serves up to --connections connections (the
backend reconnects) and exits.
"""
import argparse
import os
import socket
import struct

GET_FEATURES = 1
SET_FEATURES = 2
VERSION_FLAG = 0x1


def msg(request, payload=b"", flags=VERSION_FLAG):
    return struct.pack("<III", request, flags, len(payload)) + payload


def serve(conn, mode):
    conn.settimeout(2)
    if mode == "features":
        conn.sendall(msg(GET_FEATURES, flags=VERSION_FLAG | 0x8))  # need reply
        try:
            conn.recv(64)
        except OSError:
            pass
        conn.sendall(msg(SET_FEATURES, struct.pack("<Q", 0xFFFFFFFFFFFFFFFF)))
    elif mode == "unknown":
        conn.sendall(msg(4242, struct.pack("<Q", 0)))
    else:
        conn.sendall(os.urandom(512))
    try:
        conn.recv(64)
    except OSError:
        pass
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("mode", choices=["features", "unknown", "garbage"])
    ap.add_argument("--connections", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    if os.path.exists(a.socket):
        os.unlink(a.socket)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(a.socket)
    srv.listen(1)
    srv.settimeout(a.timeout)
    served = 0
    try:
        while served < a.connections:
            conn, _ = srv.accept()
            serve(conn, a.mode)
            served += 1
    except socket.timeout:
        pass
    finally:
        srv.close()
        os.unlink(a.socket)
    print(f"served {served} connections in mode {a.mode}")


if __name__ == "__main__":
    main()
