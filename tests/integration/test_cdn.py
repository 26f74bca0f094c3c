"""The CDN transport through real reverse proxies: Debian's nginx stands in for the CDN (TLS and
HTTP/2 to the clients, HTTP/1.1 to the origin), once with its default buffering and once with
request and response buffering off; a second nginx is cut (reloaded with a 1 s shutdown limit)
every few seconds under a transfer; nghttpd is the reference for Chromium's HTTP/2 shape.

Run by CTest with CULVERT_BIN pointing at the binary under test. Loopback only.
"""
import concurrent.futures
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import (CULVERT as CULVERT_BIN, MIB, Origin, Process, curl, free_port, make_test_ca, pattern, run, sha,
                     start_nginx, wait_for_port)

PEERS = os.path.join(os.path.dirname(__file__), "netns_peers.py")
CAPTURE = os.path.join(os.path.dirname(__file__), "..", "..", "lab", "data", "h2", "chromium-156-fetch.txt")

LOG_FORMAT = "log_format cdn '$connection $request_method $request_uri $status \"$request_body\"';"


def edge_block(tmp, name, port, origin_port, extra=""):
    """An nginx server block standing in for a CDN edge in front of the origin."""
    return f"""listen 127.0.0.1:{port} ssl http2;
  ssl_certificate {tmp}/chain.pem; ssl_certificate_key {tmp}/leaf.key; ssl_protocols TLSv1.2 TLSv1.3;
  client_body_buffer_size 2m; client_max_body_size 16m;
  access_log {tmp}/{name}.log cdn;
  location / {{ proxy_pass http://127.0.0.1:{origin_port}; proxy_http_version 1.1; proxy_set_header Connection "";
               {extra} }}"""


def unescape_nginx(text):
    """nginx's log escaping (\\xHH) undone."""
    return re.sub(rb"\\x([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode("latin-1"))


def entropy(data):
    counts = [0] * 256
    for b in data:
        counts[b] += 1
    return -sum(c / len(data) * math.log2(c / len(data)) for c in counts if c)


def raw_http(port, request, timeout=10):
    """Sends raw bytes to 127.0.0.1:port and reads the answer until the peer closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data


def status_and_body(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = [l for l in lines[1:] if not l.lower().startswith(b"date:")]
    return lines[0], headers, body


class Cdn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-cdn-")
        cls.procs = []
        make_test_ca(cls.tmp)
        cls.origin = Origin()
        cls.origin_port = free_port()
        cls.edges = {"buffered": free_port(), "streaming": free_port(), "cut": free_port()}
        # The DNS resolver the server uses, and a UDP echo: both on loopback.
        cls.dns_port, cls.echo_port = free_port(), free_port()
        cls.dns_log = os.path.join(cls.tmp, "dns.log")
        cls.spawn(["python3", PEERS, "dns", "127.0.0.1", str(cls.dns_port), "192.0.2.77", cls.dns_log])
        cls.spawn(["python3", PEERS, "udp-echo", "127.0.0.1", str(cls.echo_port)])
        cls.dir = os.path.join(cls.tmp, "server")
        init = run(["server", "init", "--dir", cls.dir, "--transport", "cdn", "--listen",
                    f"127.0.0.1:{cls.origin_port}", "--sni", "localhost", "--front",
                    f"127.0.0.1:{cls.edges['buffered']}", "--allow-private", "--no-qr", "--admin-listen", ""])
        assert init.returncode == 0, init.stderr
        cls.link = init.stdout.strip().splitlines()[-1]
        cls.prefix = re.search(r"path=([^&#]+)", cls.link).group(1).replace("%2F", "/")
        config = os.path.join(cls.dir, "config.toml")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace('dns_resolver = ""', f'dns_resolver = "127.0.0.1:{cls.dns_port}"'))
        cls.server = Process(["server", "run", "--dir", cls.dir], os.path.join(cls.tmp, "server.log"))
        # Three stand-ins: default buffering; no buffering either way; and one that is cut.
        cls.nginx = {}
        for name, extra in (("buffered", ""), ("streaming", "proxy_request_buffering off; proxy_buffering off;"),
                            ("cut", "")):
            directory = os.path.join(cls.tmp, "nginx-" + name)
            os.makedirs(directory)
            for part in ("chain.pem", "leaf.key"):
                shutil.copy(os.path.join(cls.tmp, part), directory)
            cls.nginx[name] = start_nginx(directory, edge_block(directory, "edge", cls.edges[name], cls.origin_port,
                                                                extra), LOG_FORMAT)
            cls.nginx_dirs = getattr(cls, "nginx_dirs", {})
            cls.nginx_dirs[name] = directory
        cls.env = dict(os.environ, SSL_CERT_FILE=os.path.join(cls.tmp, "ca.pem"))
        cls.clients = {}
        for name in cls.edges:
            link = cls.link.replace(f"127.0.0.1:{cls.edges['buffered']}", f"127.0.0.1:{cls.edges[name]}")
            if name == "streaming":
                link = link.replace("up=packet", "up=stream")
            dns_port = free_port()
            client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none", "--dns",
                              f"127.0.0.1:{dns_port}"], os.path.join(cls.tmp, f"client-{name}.log"), env=cls.env)
            client.dns_port = dns_port
            cls.clients[name] = client

    @classmethod
    def spawn(cls, args):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout.readline().strip() == b"up"
        cls.procs.append(proc)
        return proc

    @classmethod
    def tearDownClass(cls):
        for c in cls.clients.values():
            c.stop()
        cls.server.stop()
        for n in cls.nginx.values():
            n.terminate()
            n.wait(10)
        for p in cls.procs:
            p.terminate()
            p.wait(10)
        cls.origin.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def proxy(self, name):
        return ["-x", f"socks5h://127.0.0.1:{self.clients[name].port}"]

    def url(self, path):
        return f"http://127.0.0.1:{self.origin.port}{path}"

    def edge_log(self, name):
        with open(os.path.join(self.nginx_dirs[name], "edge.log"), "rb") as f:
            return f.read().decode("latin-1")

    # --- carrying data ---

    def test_64_mib_each_way_through_each_stand_in(self):
        data = pattern(64 * MIB)
        upload = os.path.join(self.tmp, "up-64.bin")
        with open(upload, "wb") as f:
            f.write(data)
        for name in ("buffered", "streaming"):
            with self.subTest(edge=name):
                down = curl(*self.proxy(name), self.url(f"/bytes/{64 * MIB}"))
                self.assertEqual(down.returncode, 0, down.stderr)
                self.assertEqual(sha(down.stdout), sha(data))
                up = curl(*self.proxy(name), "-T", upload, self.url("/upload"))
                self.assertEqual(up.returncode, 0, up.stderr)
                self.assertEqual(up.stdout.decode(), sha(data))

    def test_a_hundred_parallel_streams(self):
        def fetch(i):
            n = 200_000 + i * 1000
            r = curl(*self.proxy("buffered"), self.url(f"/bytes/{n}"), timeout=120)
            return r.returncode == 0 and r.stdout == pattern(n)

        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            results = list(pool.map(fetch, range(100)))
        self.assertEqual(results.count(True), 100)

    def test_udp_and_dns_through_each_stand_in(self):
        import json
        for name in ("buffered", "streaming"):
            with self.subTest(edge=name):
                r = subprocess.run(["python3", PEERS, "socks-udp", str(self.clients[name].port), "127.0.0.1",
                                    str(self.echo_port), "40", "1200"], capture_output=True, text=True, timeout=60)
                result = json.loads(r.stdout)
                self.assertGreaterEqual(result["intact"], 36, result)  # UDP: a few may be dropped, never changed
                query_name = f"through-{name}.example"
                r = subprocess.run(["python3", PEERS, "dns-query", "127.0.0.1", str(self.clients[name].dns_port),
                                    query_name, "A", "udp"], capture_output=True, text=True, timeout=30)
                answer = json.loads(r.stdout)
                self.assertEqual(answer.get("addresses"), ["192.0.2.77"], answer)
                with open(self.dns_log) as f:
                    self.assertIn(query_name, f.read())

    def test_cut_connections_lose_no_byte(self):
        # 4 MiB/s from the origin through the stand-in, which is reloaded every 1.5 s with a 200 ms
        # shutdown limit: each reload ends (GOAWAY, then a cut) the connection and its requests.
        directory = self.nginx_dirs["cut"]
        conf = os.path.join(directory, "nginx.conf")
        with open(conf) as f:
            text = f.read()
        if "worker_shutdown_timeout" not in text:
            with open(conf, "w") as f:
                f.write(text.replace("worker_processes 1;", "worker_processes 1;\nworker_shutdown_timeout 200ms;"))
        master = self.nginx["cut"]
        master.send_signal(signal.SIGHUP)
        size = 20 * MIB
        stop = threading.Event()
        reloads = []

        def cutter():
            while not stop.wait(1.5):
                master.send_signal(signal.SIGHUP)
                reloads.append(time.monotonic())

        thread = threading.Thread(target=cutter)
        thread.start()
        try:
            down = curl(*self.proxy("cut"), self.url(f"/slow/{size}/{4 * MIB}"), timeout=120)
        finally:
            stop.set()
            thread.join()
        self.assertEqual(down.returncode, 0, down.stderr)
        self.assertEqual(sha(down.stdout), sha(pattern(size)))
        # It really was cut: the downloads came over several connections.
        connections = {line.split()[0] for line in self.edge_log("cut").splitlines() if "/d/" in line}
        self.assertGreaterEqual(len(reloads), 3)
        self.assertGreaterEqual(len(connections), 3, "the stand-in's reloads did not cut the transfer")

    # --- what the CDN sees ---

    def test_the_stand_in_sees_only_the_secret_path_and_ciphertext(self):
        marker = b"CULVERT-PLAINTEXT-MARKER-" * 4000
        upload = os.path.join(self.tmp, "marker.bin")
        with open(upload, "wb") as f:
            f.write(marker)
        r = curl(*self.proxy("buffered"), "-T", upload, self.url("/upload"))
        self.assertEqual(r.returncode, 0, r.stderr)
        log = self.edge_log("buffered")
        self.assertTrue(log)
        bodies = 0
        for line in log.splitlines():
            m = re.match(r'(\d+) (\S+) (\S+) (\d+) "(.*)"$', line)
            self.assertIsNotNone(m, line)
            self.assertTrue(m.group(3).startswith(self.prefix + "/"), line[:120])
            body = unescape_nginx(m.group(5)) if m.group(5) != "-" else b""
            self.assertNotIn(b"CULVERT-PLAINTEXT", body)
            if len(body) >= 16384:
                bodies += 1
                self.assertGreater(entropy(body), 7.9, "a body that is not ciphertext")
        self.assertGreater(bodies, 0)

    def test_probes_at_the_secret_path_meet_the_cover(self):
        def ask(method, path, body=b""):
            request = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            if method == "POST":
                request += f"Content-Length: {len(body)}\r\n"
            return status_and_body(raw_http(self.origin_port, request.encode() + b"\r\n" + body))

        session = "A" * 22
        reference_get = ask("GET", "/no-such-file/d/x")
        reference_post = ask("POST", "/no-such-file", os.urandom(1300))
        self.assertIn(b"404", reference_get[0])
        for method, path, body in (("GET", f"{self.prefix}/{session}/d/AAAA", b""),
                                   ("POST", f"{self.prefix}/{session}", os.urandom(1300)),
                                   ("POST", f"{self.prefix}/{session}/u/1", os.urandom(500)),
                                   ("GET", f"{self.prefix}/", b""),
                                   ("POST", f"{self.prefix}/short", b"x")):
            got = ask(method, path, body)
            reference = reference_get if method == "GET" else reference_post
            self.assertEqual(got, reference, path)
        # Replays of requests the stand-in saw, and changed copies of them, meet the cover too.
        handshakes, uploads = [], []
        for line in self.edge_log("buffered").splitlines():
            m = re.match(r'\d+ POST (\S+) 200 "(.*)"$', line)
            if not m or m.group(2) == "-":
                continue
            (uploads if "/u/" in m.group(1) else handshakes).append((m.group(1), unescape_nginx(m.group(2))))
        self.assertTrue(handshakes and uploads)
        for path, body in handshakes[-1:] + uploads[-3:]:
            self.assertEqual(ask("POST", path, body), reference_post, "replayed " + path)
            changed = bytearray(body)
            changed[len(changed) // 2] ^= 1
            self.assertEqual(ask("POST", path, bytes(changed)), reference_post, "changed " + path)
        # A handshake replayed under another session id fails the binding: the cover again.
        path, body = handshakes[-1]
        other = path[:path.rindex("/") + 1] + "B" * 22
        self.assertEqual(ask("POST", other, body), reference_post)
        # The tunnel still works.
        r = curl(*self.proxy("buffered"), self.url("/bytes/1000"))
        self.assertEqual(r.stdout, pattern(1000))

    def test_the_censor_lab_passes_the_connection_to_the_cdn(self):
        # The censor's passive rules on what crosses the border: client to the CDN's edge, with
        # HTTPS and plain HTTP inside the tunnel.
        from test_lab import LabRelay, reasons, verdicts
        relay = LabRelay(self.tmp, self.edges["buffered"])
        link = self.link.replace(f"127.0.0.1:{self.edges['buffered']}", f"127.0.0.1:{relay.port}")
        client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"],
                         os.path.join(self.tmp, "client-lab.log"), env=self.env)
        try:
            for url in (f"https://127.0.0.1:{self.edges['streaming']}/", self.url("/bytes/300000")):
                r = curl("-k", "-x", f"socks5h://127.0.0.1:{client.port}", url, "-o", "/dev/null")
                self.assertIn(r.returncode, (0, 22), r.stderr)  # 22: an HTTP error page is still an exchange
        finally:
            client.stop()
        lines = relay.wait_lines(1)
        relay.stop()
        self.assertTrue(lines)
        for line in lines:
            v = verdicts(line)
            for rule in ("fully-encrypted", "cleartext-proxy", "name-blocklist", "tls-fingerprint", "tls-in-tls"):
                self.assertEqual(v[rule], "pass", f"{rule}: {reasons(line)[rule]}")
            self.assertEqual(line["classification"]["tls"]["sni"], "localhost")

    def test_the_subscription_is_served_through_the_cdn(self):
        r = run(["user", "subscription", "default", "--dir", self.dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        url = r.stdout.strip().splitlines()[-1]
        self.assertTrue(url.startswith(f"https://localhost:{self.edges['buffered']}/s/"), url)
        ca = os.path.join(self.tmp, "ca.pem")
        got = subprocess.run(["curl", "-sS", "--fail", "--cacert", ca, "-D", "-", url + "/plain"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn("subscription-userinfo: upload=", got.stdout.lower())
        self.assertIn("tr=cdn", got.stdout)
        self.assertIn(self.link.split("@")[0], got.stdout)  # the user's own key
        # A token nobody has: the cover's 404, as for any missing file.
        wrong = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
                                url[:url.rindex("/") + 1] + "A" * 24], capture_output=True, text=True, timeout=30)
        self.assertEqual(wrong.stdout, "404")
        # A client that knows only the subscription URL reaches the origin through it.
        env = dict(self.env, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        client = Process(["client", "--subscription", url, "--listen", "127.0.0.1:0", "--profile", "none"],
                         os.path.join(self.tmp, "client-sub.log"), env=env)
        try:
            ok = False
            for _ in range(40):
                r = curl("-x", f"socks5h://127.0.0.1:{client.port}", self.url("/bytes/5000"), timeout=15)
                if r.returncode == 0 and r.stdout == pattern(5000):
                    ok = True
                    break
                time.sleep(0.25)
            self.assertTrue(ok)
        finally:
            client.stop()
        cached = os.listdir(os.path.join(self.tmp, "cache", "culvert"))
        self.assertEqual(len(cached), 1)
        mode = os.stat(os.path.join(self.tmp, "cache", "culvert", cached[0])).st_mode & 0o777
        self.assertEqual(mode, 0o600)

    def test_a_wrong_key_is_told_as_a_rejected_link(self):
        import base64
        other_key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        bad = re.sub(r"pk=[^&]+", "pk=" + other_key, self.link)
        log = os.path.join(self.tmp, "client-bad.log")
        client = Process(["client", bad, "--listen", "127.0.0.1:0", "--profile", "none"], log, env=self.env)
        try:
            r = curl(*["-x", f"socks5h://127.0.0.1:{client.port}"], self.url("/bytes/10"), timeout=30)
            self.assertNotEqual(r.returncode, 0)
        finally:
            client.stop()
        with open(log) as f:
            self.assertIn("did not accept this link", f.read())

    def test_the_client_opens_http2_as_chromium_does(self):
        # nghttpd (nghttp2's reference server) as the edge prints every frame it receives; the
        # same program printed Chromium's (lab/data/h2/chromium-156-fetch.txt).
        nghttpd = shutil.which("nghttpd")
        if not nghttpd:
            self.skipTest("nghttpd is missing (scripts/setup.sh --tests installs nghttp2-server)")
        port = free_port()
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        trace = os.path.join(self.tmp, "nghttpd.txt")
        with open(trace, "w") as out:
            proc = subprocess.Popen([nghttpd, "-v", "-d", www, str(port), os.path.join(self.tmp, "leaf.key"),
                                     os.path.join(self.tmp, "chain.pem")], stdout=out, stderr=subprocess.STDOUT)
        try:
            self.assertTrue(wait_for_port(port))
            link = self.link.replace(f"127.0.0.1:{self.edges['buffered']}", f"127.0.0.1:{port}")
            client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"],
                             os.path.join(self.tmp, "client-ng.log"), env=self.env)
            curl("-x", f"socks5h://127.0.0.1:{client.port}", self.url("/bytes/10"), timeout=20)
            client.stop()
        finally:
            proc.terminate()
            proc.wait(10)
        with open(trace) as f:
            ours = f.read()
        with open(CAPTURE) as f:
            chromium = f.read()

        def first_connection(text):
            # The frames received on the first connection that spoke h2, in order.
            conn = re.search(r"\[id=(\d+)\] \[[ 0-9.]+\] recv SETTINGS frame", text).group(1)
            return [l for l in text.splitlines() if l.startswith(f"[id={conn}]") or l.startswith("          ")]

        def settings(lines):
            start = next(i for i, l in enumerate(lines) if "recv SETTINGS frame" in l)
            out = []
            for l in lines[start + 2:]:
                if not l.startswith("          ["):
                    break
                out.append(l.strip())
            return out

        def window_update(lines):
            i = next(i for i, l in enumerate(lines) if "recv WINDOW_UPDATE frame" in l and "stream_id=0" in l)
            return lines[i + 1].strip()

        def post(lines):
            names, flags = [], None
            for i, l in enumerate(lines):
                m = re.search(r"recv \(stream_id=(\d+)\) ([^:]+|:[a-z]+): ", l)
                if m:
                    names.append((m.group(1), m.group(2)))
                if "recv HEADERS frame" in l and names and any(n == ":method" for _, n in names):
                    stream = names[-1][0]
                    fields = [n for s, n in names if s == stream]
                    if "POST" in "".join(x for x in lines[i - len(fields):i]):
                        flags = (lines[i].split("flags=")[1].split(",")[0], lines[i + 2].strip())
                        return fields, flags
                    names = []
            return None, None

        ours_lines, chromium_lines = first_connection(ours), first_connection(chromium)
        self.assertEqual(settings(ours_lines), settings(chromium_lines))
        self.assertEqual(window_update(ours_lines), window_update(chromium_lines))
        our_fields, our_flags = post(ours_lines)
        their_fields, their_flags = post(chromium_lines)
        self.assertEqual(our_fields, their_fields)
        self.assertEqual(our_flags, their_flags)


if __name__ == "__main__":
    unittest.main()


FAILOVER_NET = "10.232.0"


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("ip"), "needs root and iproute2")
class CdnFailover(unittest.TestCase):
    """Network namespaces on one bridge: client .1, server .2 (a tls server and a cdn server on one
    PostgreSQL-less shared SQLite store), CDN stand-in .3. The client knows only its subscription.
    The censor then drops the server's address in the client's namespace; later the operator moves
    the server to .5 with one command."""

    @classmethod
    def setUpClass(cls):
        from test_routing import NsProcess
        cls.NsProcess = NsProcess
        cls.tmp = tempfile.mkdtemp(prefix="culvert-failover-")
        tag = f"cvf{os.getpid() % 100000}"
        cls.hub = f"{tag}h"
        cls.ns = {role: f"{tag}{role[0]}" for role in ("client", "server", "edge")}
        cls.procs = []
        try:
            cls.build()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def sh(cls, ns, *args, check=True):
        return subprocess.run(["ip", "netns", "exec", ns] + list(args), check=check, capture_output=True, text=True)

    @classmethod
    def spawn(cls, role, args, name, **kw):
        p = cls.NsProcess(cls.ns[role], args, os.path.join(cls.tmp, name + ".log"), **kw)
        cls.procs.append(p)
        return p

    @classmethod
    def build(cls):
        subprocess.run(["ip", "netns", "add", cls.hub], check=True)
        cls.sh(cls.hub, "ip", "link", "add", "br0", "type", "bridge")
        cls.sh(cls.hub, "ip", "link", "set", "br0", "up")
        for index, (role, ns) in enumerate(cls.ns.items(), start=1):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "link", "add", f"{ns}o", "netns", cls.hub, "type", "veth", "peer", "name",
                            f"{ns}i", "netns", ns], check=True)
            cls.sh(cls.hub, "ip", "link", "set", f"{ns}o", "master", "br0", "up")
            cls.sh(ns, "ip", "addr", "add", f"{FAILOVER_NET}.{index}/24", "dev", f"{ns}i")
            cls.sh(ns, "ip", "link", "set", f"{ns}i", "up")
            cls.sh(ns, "ip", "link", "set", "lo", "up")
        server_ip, edge_ip = f"{FAILOVER_NET}.2", f"{FAILOVER_NET}.3"
        make_test_ca(cls.tmp)
        # The origin, inside the server's namespace.
        cls.who_log = os.path.join(cls.tmp, "who.log")
        cls.spawn("server", ["python3", PEERS, "http", "127.0.0.1", "9090", cls.who_log], "origin")
        # The tls server (the fleet's "a-direct") and the cdn server ("b-cdn") share one user store.
        cls.tls_dir, cls.cdn_dir = os.path.join(cls.tmp, "tls"), os.path.join(cls.tmp, "cdn")
        r = run(["server", "init", "--dir", cls.tls_dir, "--listen", "0.0.0.0:8443", "--public-host", server_ip,
                 "--allow-private", "--no-qr", "--admin-listen", ""])
        assert r.returncode == 0, r.stderr
        r = run(["server", "init", "--dir", cls.cdn_dir, "--transport", "cdn", "--listen", f"{server_ip}:8080",
                 "--sni", "localhost", "--front", f"{edge_ip}:443", "--allow-private", "--no-qr", "--admin-listen",
                 ""])
        assert r.returncode == 0, r.stderr
        cdn_link = r.stdout.strip().splitlines()[-1]
        config = os.path.join(cls.cdn_dir, "config.toml")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace('users_db = "users.db"', f'users_db = "{cls.tls_dir}/users.db"'))
        for args in (["a-direct", "--self"], ["b-cdn", "--link", cdn_link]):
            r = run(["server", "fleet", "add", args[0], "--dir", cls.tls_dir] + args[1:])
            assert r.returncode == 0, r.stderr
        cls.spawn("server", [CULVERT_BIN, "server", "run", "--dir", cls.tls_dir], "tls-server")
        cls.spawn("server", [CULVERT_BIN, "server", "run", "--dir", cls.cdn_dir], "cdn-server")
        # The CDN stand-in.
        edge_dir = os.path.join(cls.tmp, "edge")
        os.makedirs(edge_dir)
        for part in ("chain.pem", "leaf.key"):
            shutil.copy(os.path.join(cls.tmp, part), edge_dir)
        cls.edge_log_path = os.path.join(edge_dir, "edge.log")
        with open(os.path.join(edge_dir, "nginx.conf"), "w") as f:
            f.write(f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {edge_dir}/nginx.pid;
error_log {edge_dir}/error.log;
events {{ worker_connections 768; }}
http {{
  {LOG_FORMAT}
  client_body_temp_path {edge_dir}/body; proxy_temp_path {edge_dir}/proxy; fastcgi_temp_path {edge_dir}/fcgi;
  uwsgi_temp_path {edge_dir}/uwsgi; scgi_temp_path {edge_dir}/scgi;
  server {{ {edge_block(edge_dir, "edge", 443, 8080).replace("127.0.0.1:443", edge_ip + ":443")
            .replace("127.0.0.1:8080", server_ip + ":8080")} }}
}}
""")
        cls.edge = subprocess.Popen(["ip", "netns", "exec", cls.ns["edge"], shutil.which("nginx") or "/usr/sbin/nginx",
                                     "-c", os.path.join(edge_dir, "nginx.conf"), "-p", edge_dir],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.procs.append(cls.edge)
        deadline = time.monotonic() + 10
        while cls.sh(cls.ns["client"], "curl", "-sk", "-o", "/dev/null", f"https://{edge_ip}/",
                     check=False).returncode != 0:
            assert time.monotonic() < deadline, "the CDN stand-in did not start"
            time.sleep(0.1)
        r = run(["user", "subscription", "default", "--dir", cls.tls_dir])
        assert r.returncode == 0, r.stderr
        cls.subscription = r.stdout.strip().splitlines()[-1]
        client_config = os.path.join(cls.tmp, "client.toml")
        with open(client_config, "w") as f:
            f.write(f"""listen = "127.0.0.1:1080"
[[subscription]]
name = "fleet"
url = "{cls.subscription}"
interval_ms = 3000
check_url = "http://127.0.0.1:9090/who"
check_interval_ms = 1000
[routing]
profile = "none"
""")
        env = dict(os.environ, SSL_CERT_FILE=os.path.join(cls.tmp, "ca.pem"), XDG_CACHE_HOME=cls.tmp)
        cls.client = cls.NsProcess(cls.ns["client"], ["env", f"SSL_CERT_FILE={env['SSL_CERT_FILE']}",
                                                      f"XDG_CACHE_HOME={cls.tmp}", CULVERT_BIN, "client", "--config",
                                                      client_config], os.path.join(cls.tmp, "client.log"),
                                   ready=(b"pac at", b"listening on"))
        cls.procs.append(cls.client)

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            if isinstance(p, subprocess.Popen):
                p.terminate()
                p.wait(10)
            else:
                p.stop()
        for ns in list(cls.ns.values()) + [cls.hub]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if not os.environ.get("CULVERT_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def fetch(self, limit=3):
        r = self.sh(self.ns["client"], "curl", "-s", "--max-time", str(limit), "-x", "socks5h://127.0.0.1:1080",
                    "http://127.0.0.1:9090/who", check=False)
        return r.returncode == 0 and r.stdout.startswith("peer=")

    def edge_requests(self):
        with open(self.edge_log_path) as f:
            return sum(1 for line in f if "/d/" in line or "/u/" in line)

    def seconds_until(self, check, limit):
        start = time.monotonic()
        while time.monotonic() - start < limit:
            if check():
                return time.monotonic() - start
            time.sleep(0.5)
        return None

    def test_blocked_address_falls_over_to_the_cdn_then_follows_the_move(self):
        # The subscription arrived and the direct server carries the traffic.
        self.assertIsNotNone(self.seconds_until(self.fetch, 20), "no request served from the subscription")
        # The censor drops the server's address.
        self.sh(self.ns["client"], "ip", "route", "add", "blackhole", f"{FAILOVER_NET}.2/32")
        before = self.edge_requests()
        took = self.seconds_until(lambda: self.fetch(2), 15)
        self.assertIsNotNone(took, "requests never reached the server through the CDN")
        self.assertLessEqual(took, 10.0)
        self.assertGreater(self.edge_requests(), before)  # it came through the CDN stand-in
        print(f"\nfailover to the CDN path: {took:.1f} s after the block", file=sys.stderr)
        # The operator gives the server a new address and says so with one command.
        self.sh(self.ns["server"], "ip", "addr", "add", f"{FAILOVER_NET}.5/24", "dev", f"{self.ns['server']}i")
        r = run(["server", "fleet", "add", "a-direct", "--dir", self.tls_dir, "--self", "--host", f"{FAILOVER_NET}.5"])
        self.assertEqual(r.returncode, 0, r.stderr)
        # Within a refresh (3 s, through the CDN path) the client knows the new address...
        client_log = os.path.join(self.tmp, "client.log")

        def refreshed():
            with open(client_log) as f:
                return "(1 new)" in f.read()

        took = self.seconds_until(refreshed, 15)
        self.assertIsNotNone(took, "the client did not read the changed subscription")
        print(f"read the move: {took:.1f} s after the fleet changed", file=sys.stderr)
        # ...and, its health checks passing, uses it: with the CDN blocked too, requests go through.
        self.sh(self.ns["client"], "ip", "route", "add", "blackhole", f"{FAILOVER_NET}.3/32")
        took = self.seconds_until(lambda: self.fetch(2), 15)
        self.assertIsNotNone(took, "the client did not follow the server to its new address")
        with open(client_log) as f:
            log = f.read()
        self.assertIn("subscription fleet", log)
