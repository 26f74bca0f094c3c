#!/usr/bin/env python3
"""Server-side helpers of the comparison harness (the origin's side of the path):

  sink.py --listen ADDR --upload-port P --hold-port Q [--hash]

- upload port: `PUT /upload` with a Content-Length is read to the end and answered with
  "<bytes> <sha256 or ->" (hashing only with --hash, as it costs CPU the proxies need);
  `GET /held` answers the number of connections held open on the hold port.
- hold port: accepts connections and keeps them, silent, until the peer closes (idle streams).
Prints "ready" once both ports listen.
"""
import argparse
import hashlib
import resource
import selectors
import socket
import socketserver
import threading

held = 0
held_lock = threading.Lock()


class Upload(socketserver.StreamRequestHandler):
    hash_bodies = False

    def handle(self):
        line = self.rfile.readline(8192)
        headers = {}
        while True:
            h = self.rfile.readline(8192)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if line.startswith(b"GET /held"):
            with held_lock:
                body = str(held).encode()
        else:
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            remaining = int(headers.get("content-length", "0"))
            digest = hashlib.sha256() if self.hash_bodies else None
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            total = 0
            while remaining > 0:
                n = self.rfile.readinto(view[:min(remaining, len(buffer))])
                if not n:
                    break
                if digest:
                    digest.update(view[:n])
                total += n
                remaining -= n
            body = f"{total} {digest.hexdigest() if digest else '-'}".encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def hold_forever(listener):
    global held
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, OSError):
                        break
                    conn.setblocking(False)
                    selector.register(conn, selectors.EVENT_READ)
                    with held_lock:
                        held += 1
            else:
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    with held_lock:
                        held -= 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--upload-port", type=int, required=True)
    p.add_argument("--hold-port", type=int, required=True)
    p.add_argument("--hash", action="store_true")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    Upload.hash_bodies = a.hash
    server = Server((a.listen, a.upload_port), Upload)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((a.listen, a.hold_port))
    listener.listen(4096)
    threading.Thread(target=hold_forever, args=(listener,), daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
