"""Running a server for real: metrics, the admin API, quotas, expiry, key rotation, SIGHUP reload,
SIGTERM drain, certificate renewal, privilege drop, and two servers sharing one PostgreSQL.

Real processes on loopback; the PostgreSQL cluster is the test command's throwaway one (its
connection string in CULVERT_TEST_POSTGRES_FILE).
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import (MIB, Origin, Process, curl, free_port, init_server, pattern, run, scrape_metrics, sha,
                     socks5_connect, wait_until)


def set_keys(config_path, **values):
    with open(config_path) as f:
        text = f.read()
    for key, value in values.items():
        rendered = json.dumps(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {rendered}", text, flags=re.M)
        assert n == 1, key
    with open(config_path, "w") as f:
        f.write(text)


class Server:
    """A server in its own data directory; the admin API on a free port."""

    def __init__(self, tmp, name, **config):
        self.dir = os.path.join(tmp, name)
        self.port = free_port()
        self.admin_port = free_port()
        self.first_link = init_server(self.dir, self.port)
        self.config = os.path.join(self.dir, "config.toml")
        set_keys(self.config, admin_listen=f"127.0.0.1:{self.admin_port}", user_check_interval_ms=300,
                 usage_flush_interval_ms=300, **config)
        self.log = os.path.join(tmp, name + ".log")
        self.process = None

    def start(self):
        self.process = Process(["server", "run", "--dir", self.dir], self.log)
        assert self.process.port == self.port
        return self

    def stop(self):
        if self.process:
            rc = self.process.stop()
            self.process = None
            return rc
        return None

    def user(self, *args):
        r = run(["user"] + list(args) + ["--dir", self.dir])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def user_json(self, name):
        return json.loads(self.user("show", name, "--json"))

    def token(self):
        with open(os.path.join(self.dir, "admin.token")) as f:
            return f.read().strip()

    def admin(self, method, path, token=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", method=method)
        if token is not False:
            request.add_header("Authorization", f"Bearer {token or self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers.get("Content-Type"), response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()

    def metrics(self):
        return scrape_metrics(self.admin_port, self.token())

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")


def client(tmp, link, name):
    return Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(tmp, name + ".log"))


def fetch(proxy_port, origin, n, *extra, timeout=60):
    return curl("-x", f"socks5h://127.0.0.1:{proxy_port}", *extra, f"http://localhost:{origin.port}/bytes/{n}",
                timeout=timeout)


class Operations(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="culvert-ops-")
        self.origin = Origin()
        self.servers = []
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.stop()
        for s in self.servers:
            s.stop()
        self.origin.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, name="server", **config):
        s = Server(self.tmp, name, **config)
        self.servers.append(s)
        return s

    def client(self, link, name="client"):
        c = client(self.tmp, link, name)
        self.clients.append(c)
        return c

    def test_metrics_are_scraped_and_name_no_user_or_destination(self):
        s = self.server().start()
        c = self.client(s.first_link)
        self.assertEqual(fetch(c.port, self.origin, MIB).returncode, 0)
        # A prober: TLS, then an HTTP request instead of a preamble -> the cover site.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", s.port)) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertTrue(tls.recv(100).startswith(b"HTTP/1."))
        m = s.metrics()
        self.assertGreaterEqual(m["culvert_tunnels_opened_total"], 1)
        self.assertEqual(m["culvert_tunnels_open"], 1)
        self.assertGreaterEqual(m["culvert_streams_opened_total"], 1)
        self.assertGreaterEqual(m['culvert_tunnel_bytes_total{direction="out"}'], MIB)
        self.assertGreaterEqual(m["culvert_auth_failures_total"], 1)
        self.assertGreaterEqual(m["culvert_cover_relays_total"], 1)
        self.assertGreaterEqual(m["culvert_handshake_seconds_count"], 2)
        self.assertEqual(m['culvert_handshake_seconds_bucket{le="+Inf"}'], m["culvert_handshake_seconds_count"])
        self.assertGreaterEqual(m["culvert_dial_seconds_count"], 1)
        _, content_type, body = s.admin("GET", "/metrics")
        self.assertTrue(content_type.startswith("text/plain"))
        text = body.decode()
        for secret in ("default", "127.0.0.1", "localhost", str(self.origin.port)):
            self.assertNotIn(secret, text)

    def test_admin_api_needs_its_token_and_manages_users(self):
        s = self.server().start()
        self.assertEqual(s.admin("GET", "/api/users", token=False)[0], 401)
        self.assertEqual(s.admin("GET", "/api/users", token="wrong" * 9)[0], 401)
        self.assertEqual(s.admin("GET", "/metrics", token=False)[0], 401)
        status, _, body = s.admin("POST", "/api/users/erin?quota=2G&notes=two%20phones")
        self.assertEqual(status, 201)
        erin = json.loads(body)
        self.assertEqual(erin["quota_bytes"], 2 << 30)
        self.assertEqual(erin["notes"], "two phones")
        self.assertTrue(erin["link"].startswith("culvert://"))
        self.assertEqual(s.admin("POST", "/api/users/erin")[0], 409)
        status, content_type, png = s.admin("GET", "/api/users/erin/qr.png")
        self.assertEqual((status, content_type), (200, "image/png"))
        path = os.path.join(self.tmp, "erin.png")
        with open(path, "wb") as f:
            f.write(png)
        decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", path],
                                 capture_output=True, text=True)
        self.assertEqual(decoded.stdout.strip(), erin["link"])
        names = [u["name"] for u in json.loads(s.admin("GET", "/api/users")[2])]
        self.assertEqual(sorted(names), ["default", "erin"])
        self.assertNotIn("secret", s.admin("GET", "/api/users")[2].decode())
        status, _, body = s.admin("POST", "/api/users/erin/revoke")
        self.assertEqual(json.loads(body)["status"], "revoked")
        self.assertEqual(s.admin("GET", "/api/users/nobody")[0], 404)
        self.assertEqual(s.admin("GET", "/api/nothing")[0], 404)
        # A revocation can be undone; a deletion frees the name.
        status, _, body = s.admin("POST", "/api/users/erin/restore")
        self.assertEqual(json.loads(body)["status"], "active")
        self.assertEqual(s.admin("DELETE", "/api/users/erin")[0], 200)
        self.assertEqual(s.admin("GET", "/api/users/erin")[0], 404)
        self.assertEqual(s.admin("PUT", "/api/users/default")[0], 405)

    def test_quota_is_enforced_as_bytes_are_counted(self):
        s = self.server().start()
        link = s.user("add", "frank", "--quota", "10M").strip().splitlines()[-1]
        c = self.client(link)
        # One download far past the quota is cut within the quota's last share (1 MiB), not at the
        # next periodic check (it reached 28 MiB before).
        r = fetch(c.port, self.origin, 64 * MIB)
        self.assertNotEqual(r.returncode, 0)
        got = len(r.stdout)
        self.assertLessEqual(got, 11 * MIB, got)
        # The cut is a reset, so what curl had not yet read from its socket is dropped: the bytes
        # delivered fall short of what the server counted by up to a socket buffer.
        self.assertGreaterEqual(got, 6 * MIB, got)
        waited = wait_until(lambda: s.user_json("frank")["status"] == "over quota", 15)
        self.assertIsNotNone(waited, s.user_json("frank"))
        used = s.user_json("frank")
        # Not cut early: the server let (nearly) the whole quota through before it refused.
        self.assertGreaterEqual(used["used_down"] + used["used_up"], 9 * MIB, used)
        self.assertLessEqual(used["used_down"] + used["used_up"], 11 * MIB, used)
        self.assertNotEqual(fetch(c.port, self.origin, 1, timeout=10).returncode, 0)
        s.user("set-quota", "frank", "unlimited")
        self.assertIsNotNone(wait_until(lambda: fetch(c.port, self.origin, 1, timeout=10).returncode == 0, 15))
        print(f"\n  quota 10 MiB, 64 MiB asked: {got} B delivered, usage recorded "
              f"{used['used_down'] + used['used_up']} B; access back when lifted")

    def test_expiry_and_revocation_end_open_tunnels_within_seconds(self):
        s = self.server().start()
        for name, end in (("gina", ["set-expiry", "gina", "+0d"]), ("hank", ["revoke", "hank"])):
            link = s.user("add", name).strip().splitlines()[-1]
            c = self.client(link, name)
            self.assertEqual(fetch(c.port, self.origin, 1).returncode, 0)
            s.user(*end)
            gone = wait_until(lambda: f"tunnels of user {name}" in s.log_text(), 5)
            self.assertIsNotNone(gone, f"{name}'s tunnel stayed open")
            self.assertNotEqual(fetch(c.port, self.origin, 1, timeout=10).returncode, 0)
            print(f"\n  {name}: {end[0]} -> open tunnel closed after {gone:.2f} s")

    def test_rotation_keeps_the_old_link_for_its_grace_period(self):
        s = self.server().start()
        old = s.user("add", "iris").strip().splitlines()[-1]
        new = s.user("rotate", "iris", "--grace", "3s").strip().splitlines()[-1]
        self.assertNotEqual(old, new)
        rotated_at = time.monotonic()
        for link, name in ((old, "old"), (new, "new")):
            c = self.client(link, name)
            self.assertEqual(fetch(c.port, self.origin, 1).returncode, 0, name)
        time.sleep(max(0, 3.5 - (time.monotonic() - rotated_at)))
        late = self.client(old, "old-late")
        self.assertNotEqual(fetch(late.port, self.origin, 1, timeout=10).returncode, 0)
        again = self.client(new, "new-late")
        self.assertEqual(fetch(again.port, self.origin, 1).returncode, 0)

    def test_sighup_reload_during_a_transfer_keeps_it_intact(self):
        s = self.server().start()
        c = self.client(s.first_link)
        result = {}

        def download():
            result["r"] = fetch(c.port, self.origin, 24 * MIB, "--limit-rate", "8M")

        t = threading.Thread(target=download)
        t.start()
        time.sleep(1)
        set_keys(s.config, max_tunnels_per_user=8, stream_idle_timeout_ms=200000)
        s.process.proc.send_signal(signal.SIGHUP)
        t.join(60)
        r = result["r"]
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha(r.stdout), sha(pattern(24 * MIB)))
        self.assertIn("configuration reloaded", s.log_text())
        self.assertEqual(s.metrics()['culvert_reloads_total{result="ok"}'], 1)
        # A broken file changes nothing and says why.
        with open(s.config, "a") as f:
            f.write("this is not toml\n")
        s.process.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(wait_until(lambda: "reload failed" in s.log_text(), 5))
        self.assertEqual(fetch(c.port, self.origin, 1).returncode, 0)

    def test_sigterm_drains_open_streams_then_exits(self):
        s = self.server().start()
        c = self.client(s.first_link)
        result = {}

        def download():
            result["r"] = fetch(c.port, self.origin, 16 * MIB, "--limit-rate", "8M")

        t = threading.Thread(target=download)
        t.start()
        time.sleep(0.7)
        started = time.monotonic()
        s.process.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()  # no longer accepting
        t.join(60)
        r = result["r"]
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha(r.stdout), sha(pattern(16 * MIB)))
        s.process.proc.wait(40)
        took = time.monotonic() - started
        self.assertEqual(s.process.proc.returncode, 0)
        self.assertIn("draining 1 tunnels", s.log_text())
        # The closed listener is the end of accepting, not an error to repeat every 100 ms.
        self.assertNotIn("accept failed", s.log_text())
        s.process._close_files()
        s.process = None
        print(f"\n  SIGTERM during a 16 MiB transfer: it completed intact, server exited after {took:.1f} s")

    def test_renewed_certificate_files_are_used_without_a_restart(self):
        s = self.server().start()

        def fingerprint():
            pem = ssl.get_server_certificate(("127.0.0.1", s.port))
            return ssl.PEM_cert_to_DER_cert(pem)

        before = fingerprint()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "30", "-subj", "/CN=renewed.example", "-keyout", os.path.join(s.dir, "key.new"),
                        "-out", os.path.join(s.dir, "cert.new")], check=True, capture_output=True)
        os.replace(os.path.join(s.dir, "key.new"), os.path.join(s.dir, "key.pem"))
        os.replace(os.path.join(s.dir, "cert.new"), os.path.join(s.dir, "cert.pem"))
        took = wait_until(lambda: fingerprint() != before, 10, 0.2)
        self.assertIsNotNone(took)
        self.assertIn("new certificate in use", s.log_text())
        print(f"\n  renewed certificate served {took:.1f} s after the files changed")

    def test_memory_budget_refuses_new_streams_until_it_drains(self):
        s = self.server(memory_budget_mb=2).start()
        c = self.client(s.first_link)
        # A destination that accepts and never reads: the upload piles up in the server's mux queue.
        sink = socket.socket()
        sink.bind(("127.0.0.1", 0))
        sink.listen(1)
        stalled = socks5_connect(c.port, "localhost", sink.getsockname()[1])
        held, _ = sink.accept()
        held.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.settimeout(0.2)
        sent = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and s.metrics()["culvert_buffered_bytes"] <= 2 * MIB:
            try:
                sent += stalled.send(b"\0" * 65536)
            except socket.timeout:
                pass
        self.assertGreater(s.metrics()["culvert_buffered_bytes"], 2 * MIB)
        self.assertNotEqual(fetch(c.port, self.origin, 1, timeout=10).returncode, 0)
        self.assertGreaterEqual(s.metrics()['culvert_streams_refused_total{limit="memory"}'], 1)
        held.close()  # the destination goes away: its queue is dropped
        stalled.close()
        sink.close()
        self.assertIsNotNone(wait_until(lambda: fetch(c.port, self.origin, 1, timeout=10).returncode == 0, 10))
        print(f"\n  memory budget 2 MiB: {sent >> 20} MiB sent to a stalled destination, new streams refused, "
              "accepted again once it drained")

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_started_as_root_it_runs_as_the_configured_user(self):
        s = self.server(run_as="nobody")
        os.chmod(self.tmp, 0o755)
        s.start()
        with open(f"/proc/{s.process.proc.pid}/status") as f:
            ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid", "Gid"))}
        self.assertEqual(ids["Uid"], ["65534"] * 4)
        self.assertNotEqual(ids["Gid"][0], "0")
        c = self.client(s.first_link)
        self.assertEqual(fetch(c.port, self.origin, MIB).returncode, 0)
        # Still writes usage to its store as that user.
        self.assertIsNotNone(wait_until(lambda: s.user_json("default")["used_down"] >= MIB, 10))
        print(f"\n  started as root; running as uid {ids['Uid'][0]}; usage still recorded")


class Packaging(unittest.TestCase):
    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_unit_verifies_and_is_sandboxed(self):
        source = os.path.join(os.path.dirname(__file__), "..", "..", "packaging", "culvert.service")
        with open(source) as f:
            unit = f.read()
        for line in ("User=culvert", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                     "ExecReload=/bin/kill -HUP $MAINPID", "ReadWritePaths=/var/lib/culvert"):
            self.assertIn(line + "\n", unit)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "culvert.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/local/bin/culvert", os.path.abspath(os.environ.get("CULVERT_BIN", "culvert"))))
            r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "")


def postgres_conninfo():
    path = os.environ.get("CULVERT_TEST_POSTGRES_FILE", "")
    if path and os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    return ""


@unittest.skipUnless(postgres_conninfo(), "no PostgreSQL cluster (the test command starts one)")
class SharedPostgres(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="culvert-pg-")
        self.origin = Origin()
        schema = f"ops{os.getpid()}"
        base = postgres_conninfo()
        subprocess.run(["psql", base, "-q", "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"],
                       check=True, capture_output=True)
        self.schema, self.base = schema, base
        conninfo = f"{base} options='-csearch_path={schema}'"
        self.a = Server(self.tmp, "a", store="postgres", postgres=conninfo)
        self.b = Server(self.tmp, "b", store="postgres", postgres=conninfo)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.stop()
        self.a.stop()
        self.b.stop()
        self.origin.close()
        subprocess.run(["psql", self.base, "-q", "-c", f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"],
                       capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_two_servers_share_users_revocations_and_usage(self):
        self.a.start()
        self.b.start()
        self.a.user("add", "june")
        # Each server gives the same user a link to itself (its own address and certificate pin).
        links = {name: s.user("link", "june").strip().splitlines()[-1] for name, s in (("a", self.a), ("b", self.b))}
        clients = {}
        for name, link in links.items():
            clients[name] = client(self.tmp, link, f"june-{name}")
            self.clients.append(clients[name])
            self.assertEqual(fetch(clients[name].port, self.origin, 2 * MIB).returncode, 0, name)
        # Usage from both servers adds up in the shared store.
        total = wait_until(lambda: self.a.user_json("june")["used_down"] >= 4 * MIB, 10)
        self.assertIsNotNone(total, self.a.user_json("june"))
        # A revocation on one server reaches both within 5 s: both open tunnels close.
        self.b.user("revoke", "june")
        revoked_at = time.monotonic()
        for name, s in (("a", self.a), ("b", self.b)):
            closed = wait_until(lambda: "tunnels of user june: revoked" in s.log_text(), 5)
            self.assertIsNotNone(closed, f"server {name} kept june's tunnel")
        took = time.monotonic() - revoked_at
        for name in ("a", "b"):
            self.assertNotEqual(fetch(clients[name].port, self.origin, 1, timeout=10).returncode, 0)
        print(f"\n  PostgreSQL, two servers: usage {self.a.user_json('june')['used_down']} B from both; "
              f"revocation closed both tunnels within {took:.2f} s")

    def test_two_servers_each_take_a_share_of_one_quota(self):
        self.a.start()
        self.b.start()
        self.a.user("add", "kim", "--quota", "20M")
        links = {name: s.user("link", "kim").strip().splitlines()[-1] for name, s in (("a", self.a), ("b", self.b))}
        clients = {name: client(self.tmp, link, f"kim-{name}") for name, link in links.items()}
        self.clients.extend(clients.values())
        results = {}

        def download(name):
            results[name] = fetch(clients[name].port, self.origin, 64 * MIB)

        threads = [threading.Thread(target=download, args=(name,)) for name in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        delivered = sum(len(r.stdout) for r in results.values())
        # Each server carries at most one share (1 MiB here) past what the store says is left.
        self.assertLessEqual(delivered, 20 * MIB + 2 * MIB + MIB // 2, delivered)
        self.assertGreaterEqual(delivered, 16 * MIB, delivered)
        print(f"\n  PostgreSQL, two servers, quota 20 MiB, 2 x 64 MiB asked at once: {delivered} B delivered")


if __name__ == "__main__":
    unittest.main()
