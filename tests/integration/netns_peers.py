"""Small peers for the routing tests, run inside a network namespace (`ip netns exec NS python3 ...`).

  http ADDR PORT LOG            GET /who answers "peer=IP"; GET /bytes/N, N bytes; each request's
                                peer and Host are appended to LOG
  udp-echo ADDR PORT            echoes datagrams; "WHO" is answered with "peer=IP"
  dns ADDR PORT ANSWER LOG      UDP+TCP DNS: A questions get ANSWER (TTL 300), others no records;
                                each question's name is appended to LOG; also answers "WHO" over UDP
  dns-query HOST PORT NAME TYPE udp|tcp       prints the answer as JSON (rcode, addresses)
  socks-udp PROXYPORT HOST PORT COUNT SIZE    SOCKS5 UDP ASSOCIATE, COUNT echo datagrams of SIZE
                                bytes, prints JSON (sent, received, intact, peer)
  socks-dns PROXYPORT HOST PORT NAME          a DNS question through SOCKS5 UDP; prints JSON
"""
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import http.server


def serve_http(addr, port, log):
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock, open(log, "a") as f:
                f.write(f"{self.client_address[0]} {self.headers.get('Host', '')} {self.path}\n")
            if self.path.startswith("/bytes/"):
                body = b"x" * int(self.path[7:])
            else:
                body = f"peer={self.client_address[0]}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server((addr, int(port)), Handler)
    print("up", flush=True)
    server.serve_forever()


def serve_udp_echo(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, int(port)))
    print("up", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(f"peer={peer[0]}".encode() if data == b"WHO" else data, peer)


def parse_question(msg):
    at, labels = 12, []
    while msg[at]:
        labels.append(msg[at + 1:at + 1 + msg[at]].decode())
        at += msg[at] + 1
    qtype = struct.unpack(">H", msg[at + 1:at + 3])[0]
    return ".".join(labels).lower(), qtype, at + 5


def dns_answer(msg, answer_ip, log, lock):
    name, qtype, end = parse_question(msg)
    with lock, open(log, "a") as f:
        f.write(f"{name} {qtype}\n")
    flags = 0x8180
    answers = b""
    count = 0
    if qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + socket.inet_aton(answer_ip)
        count = 1
    return msg[:2] + struct.pack(">HHHHH", flags, 1, count, 0, 0) + msg[12:end] + answers


def serve_dns(addr, port, answer_ip, log):
    lock = threading.Lock()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((addr, int(port)))
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, int(port)))
    tcp.listen(16)

    def tcp_loop():
        while True:
            c, _ = tcp.accept()
            try:
                n = struct.unpack(">H", c.recv(2))[0]
                msg = b""
                while len(msg) < n:
                    msg += c.recv(n - len(msg))
                reply = dns_answer(msg, answer_ip, log, lock)
                c.sendall(struct.pack(">H", len(reply)) + reply)
            finally:
                c.close()

    threading.Thread(target=tcp_loop, daemon=True).start()
    print("up", flush=True)
    while True:
        msg, peer = udp.recvfrom(65535)
        if msg == b"WHO":
            udp.sendto(f"peer={peer[0]}".encode(), peer)
            continue
        udp.sendto(dns_answer(msg, answer_ip, log, lock), peer)


def build_query(name, qtype, qid=0x4242):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", {"A": 1, "AAAA": 28, "TXT": 16}[qtype], 1)


def parse_answer(msg):
    rcode = msg[3] & 0xF
    ancount = struct.unpack(">H", msg[6:8])[0]
    if struct.unpack(">H", msg[4:6])[0] == 0:
        return {"rcode": rcode, "addresses": [], "id": struct.unpack(">H", msg[:2])[0]}
    _, _, at = parse_question(msg)
    addresses = []
    for _ in range(ancount):
        if msg[at] & 0xC0 == 0xC0:
            at += 2
        else:
            while msg[at]:
                at += msg[at] + 1
            at += 1
        rtype, _, ttl, rdlen = struct.unpack(">HHIH", msg[at:at + 10])
        at += 10
        if rtype == 1:
            addresses.append(socket.inet_ntoa(msg[at:at + rdlen]))
        at += rdlen
    return {"rcode": rcode, "addresses": addresses, "id": struct.unpack(">H", msg[:2])[0]}


def dns_query(host, port, name, qtype, proto):
    q = build_query(name, qtype)
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(8)
        s.sendto(q, (host, int(port)))
        msg, _ = s.recvfrom(65535)
    else:
        s = socket.create_connection((host, int(port)), timeout=8)
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", s.recv(2))[0]
        msg = b""
        while len(msg) < n:
            msg += s.recv(n - len(msg))
    print(json.dumps(parse_answer(msg)))


def socks_associate(proxy_port):
    control = socket.create_connection(("127.0.0.1", int(proxy_port)), timeout=10)
    control.sendall(b"\x05\x01\x00")
    assert control.recv(2) == b"\x05\x00"
    control.sendall(b"\x05\x03\x00\x01\0\0\0\0\0\0")
    reply = control.recv(10)
    assert reply[1] == 0, reply
    relay = (socket.inet_ntoa(reply[4:8]), struct.unpack(">H", reply[8:10])[0])
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return control, udp, relay


def socks_header(host, port):
    return b"\0\0\0\x01" + socket.inet_aton(host) + struct.pack(">H", int(port))


def strip_header(data):
    atyp = data[3]
    at = 4 + (4 if atyp == 1 else 16 if atyp == 4 else 1 + data[4])
    return data[:at + 2], data[at + 2:]


def socks_udp(proxy_port, host, port, count, size):
    control, udp, relay = socks_associate(proxy_port)
    udp.settimeout(3)
    header = socks_header(host, port)
    udp.sendto(header + b"WHO", relay)
    peer = strip_header(udp.recvfrom(65535)[0])[1].decode()
    count, size = int(count), int(size)
    sent = received = intact = 0
    window = 50
    started = time.monotonic()
    for first in range(0, count, window):
        batch = min(window, count - first)
        for i in range(batch):
            payload = struct.pack(">I", first + i) + bytes([(first + i) & 0xFF]) * (size - 4)
            udp.sendto(header + payload, relay)
            sent += 1
        udp.settimeout(0.5)
        got = 0
        while got < batch:
            try:
                data, _ = udp.recvfrom(65535)
            except socket.timeout:
                break
            _, payload = strip_header(data)
            got += 1
            n = struct.unpack(">I", payload[:4])[0]
            intact += payload == struct.pack(">I", n) + bytes([n & 0xFF]) * (size - 4)
        received += got
    print(json.dumps({"sent": sent, "received": received, "intact": intact, "peer": peer,
                      "seconds": round(time.monotonic() - started, 3)}))
    control.close()


def socks_dns(proxy_port, host, port, name):
    control, udp, relay = socks_associate(proxy_port)
    udp.settimeout(8)
    udp.sendto(socks_header(host, port) + build_query(name, "A"), relay)
    data, _ = udp.recvfrom(65535)
    source, payload = strip_header(data)
    result = parse_answer(payload)
    result["source"] = socket.inet_ntoa(source[4:8]) if source[3] == 1 else source.hex()
    print(json.dumps(result))
    control.close()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"http": serve_http, "udp-echo": serve_udp_echo, "dns": serve_dns, "dns-query": dns_query,
     "socks-udp": socks_udp, "socks-dns": socks_dns}[mode](*args)
