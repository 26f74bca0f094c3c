"""Helpers for end-to-end tests: real culvert processes, a local origin, a SOCKS5 client.

Everything runs on loopback. Processes are started by the tests and stopped by PID.
"""
import hashlib
import http.server
import os
import random
import re
import select
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time

CULVERT = os.environ.get("CULVERT_BIN", "culvert")
MIB = 1024 * 1024
# `lab probe`/`lab audit`: how far apart two closes may be and still count as the same. A sanitizer
# build runs the server several times slower and stalls it for hundreds of ms on a loaded machine;
# timing parity is asserted by the release build.
PROBE_JITTER = ["--jitter-ms", "1500" if os.environ.get("CULVERT_SANITIZED") == "1" else "300"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_patterns = {}


def pattern(n):
    """Deterministic pseudo-random bytes of length n (cached)."""
    if n not in _patterns:
        _patterns[n] = random.Random(n).randbytes(n)
    return _patterns[n]


def rss_kib(pid):
    """Resident memory of a process, in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_until(check, limit, step=0.1):
    """Seconds until check() was true, polling every `step`; None if it never was within `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if check():
            return time.monotonic() - start
        time.sleep(step)
    return None


def init_server(directory, port, host="127.0.0.1"):
    """`culvert server init` for HOST:PORT (private destinations allowed); returns the first link."""
    init = run(["server", "init", "--dir", directory, "--listen", f"{host}:{port}", "--public-host", host,
                "--allow-private", "--no-qr"])
    assert init.returncode == 0, init.stderr
    return init.stdout.strip().splitlines()[-1]


def scrape_metrics(admin_port, token):
    """The server's /metrics as {"name{labels}": value}."""
    import urllib.request
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/metrics",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        values = {}
        for line in response.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Process:
    """A culvert process whose stdout announces 'listening on HOST:PORT'."""

    def __init__(self, args, log_path, env=None):
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([CULVERT] + args, stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.port = None
        deadline = time.monotonic() + 30
        line = b""
        poller = select.poll()  # not select(): descriptors may be above 1024 (flood tests)
        poller.register(self.proc.stdout, select.POLLIN)
        while time.monotonic() < deadline:
            if poller.poll(500):
                line = self.proc.stdout.readline()
                if line.startswith(b"listening on "):
                    self.port = int(line.strip().rsplit(b":", 1)[1])
                    return
                if not line:
                    break
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"culvert {' '.join(args)} did not start (see {log_path}); last line {line!r}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close_files()

    def _close_files(self):
        if not self.proc.stdout.closed:
            self.proc.stdout.close()
        if not self.log.closed:
            self.log.close()

    def stop(self):
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_files()
        return self.proc.returncode


def curl(*args, timeout=180):
    return subprocess.run(["curl", "-sS", "--fail", "--max-time", str(timeout - 5)] + list(args),
                          capture_output=True, timeout=timeout)


def run(args, timeout=30):
    return subprocess.run([CULVERT] + args, capture_output=True, text=True, timeout=timeout)


class OriginHandler(http.server.BaseHTTPRequestHandler):
    """GET /bytes/N: N pattern bytes; GET /slow/N/RATE: the same at RATE bytes/s. PUT /upload:
    answers the body's SHA-256."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow/"):
            self.send_slowly(*(int(x) for x in self.path[len("/slow/"):].split("/")))
            return
        if not self.path.startswith("/bytes/"):
            self.send_error(404)
            return
        n = int(self.path[len("/bytes/"):])
        body = pattern(n)
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        view = memoryview(body)
        try:
            for off in range(0, n, MIB):
                self.wfile.write(view[off:off + MIB])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_slowly(self, n, per_second):
        """GET /slow/N/RATE: N pattern bytes at RATE bytes per second (64 KiB at a time)."""
        body = pattern(n)
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        start, step = time.monotonic(), 64 * 1024
        try:
            for off in range(0, n, step):
                delay = start + off / per_second - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.wfile.write(body[off:off + step])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, MIB))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        answer = h.hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class Origin:
    def __init__(self):
        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), OriginHandler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def socks5_connect(proxy_port, host, port, timeout=30):
    """Opens a SOCKS5 CONNECT (domain address type) through the client; returns the socket."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    name = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
    reply = recv_exact(s, 10)
    if reply[1] != 0:
        s.close()
        raise ConnectionError("SOCKS5 reply %d" % reply[1])
    return s


def http_get_body(sock, path, host="localhost"):
    """HTTP/1.0 GET over an open socket; returns the body (read to end of stream)."""
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
        raise ConnectionError("bad response head %r" % head[:80])
    return body


def start_nginx(tmp, server_block, http_extra=""):
    """Runs Debian's nginx in the foreground from a config in `tmp` holding `server_block`; returns
    the process once `listen` accepts. The caller terminates it."""
    user = "user root;" if os.geteuid() == 0 else ""
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 768; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  {http_extra}
  server {{ {server_block} }}
}}
""")
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+)", server_block).group(1))
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_port(port):
        proc.terminate()
        raise RuntimeError("nginx did not start")
    return proc


def wait_for_port(port, seconds=10):
    """True once 127.0.0.1:port accepts a connection, False after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def make_test_ca(tmp, name="localhost"):
    """A test CA (ca.pem) and an RSA leaf for DNS `name` signed by it (leaf.pem, leaf.key, and
    chain.pem = leaf + CA) in `tmp`, made with the openssl command line."""
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=tmp)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=Culvert Test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", "leaf.key", "-out", "leaf.csr")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "ext.cnf", "-out", "leaf.pem")
    with open(os.path.join(tmp, "chain.pem"), "w") as out:
        for part in ("leaf.pem", "ca.pem"):
            with open(os.path.join(tmp, part)) as f:
                out.write(f.read())


def start_tls_site(tmp, page_text):
    """An nginx HTTPS site for "localhost" with a test-CA certificate (make_test_ca) and TLS 1.3
    (Debian 12's nginx defaults to TLS 1.2 only) whose index page holds `page_text`; returns
    (process, port). The borrowed site of the borrow tests and the peer of the interop tests."""
    make_test_ca(tmp)
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write(f"<!DOCTYPE html><title>Test site</title><p>{page_text}</p>\n")
    port = free_port()
    proc = start_nginx(tmp, f"""listen 127.0.0.1:{port} ssl; root {www};
    ssl_certificate {tmp}/chain.pem; ssl_certificate_key {tmp}/leaf.key; ssl_protocols TLSv1.2 TLSv1.3;""")
    return proc, port


def tls_records(data):
    """(content type, length) of each whole TLS record in `data`."""
    out, pos = [], 0
    while pos + 5 <= len(data):
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        if pos + 5 + length > len(data):
            break
        out.append((data[pos], length))
        pos += 5 + length
    return out


def exchange(port, payload, quiet=0.5):
    """Sends `payload` to 127.0.0.1:port and returns what comes back until `quiet` seconds pass."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        s.settimeout(quiet)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        return got


def start_stock_nginx(tmp, certificate, key, root, port=None, extra_server="", http2=True, plain_port=None):
    """A stock Debian nginx 1.22 serving `root` over TLS 1.2+1.3 and HTTP/2 on 127.0.0.1:port with
    `certificate`/`key`: the reference a Culvert server must be indistinguishable from. The http
    block is Debian's /etc/nginx/nginx.conf (sendfile, tcp_nopush, types_hash_max_size, mime.types,
    ssl_protocols, ssl_prefer_server_ciphers, gzip) and the server block Debian's default site
    (root, index, server_name _, try_files), with `listen ... ssl http2` and the certificate
    added (`http2=False`: without HTTP/2; `plain_port`: also plain HTTP there, as the upstream of
    an upstream-cover server); logs and temp paths go to `tmp`. Returns (process, port); the caller
    terminates it."""
    port = port or free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    conf = os.path.join(tmp, f"nginx-stock-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"""{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx-stock-{port}.pid;
error_log {tmp}/nginx-stock-error-{port}.log;
events {{ worker_connections 768; }}
http {{
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
  ssl_prefer_server_ciphers on;
  access_log off;
  gzip on;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl{" http2" if http2 else ""} default_server;
    {f"listen 127.0.0.1:{plain_port} default_server;" if plain_port else ""}
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    root {root};
    index index.html index.htm index.nginx-debian.html;
    server_name _;
    location / {{
      try_files $uri $uri/ =404;
    }}
    {extra_server}
  }}
}}
""")
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_port(port):
        proc.terminate()
        raise RuntimeError("nginx did not start")
    return proc, port
