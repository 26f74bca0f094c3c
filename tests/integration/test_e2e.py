"""End to end: a real culvert server and client on loopback, a local origin, curl and raw sockets.

Run by CTest (tests/CMakeLists.txt) with CULVERT_BIN pointing at the binary under test.
"""
import concurrent.futures
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

from harness import (MIB, Origin, Process, curl, free_port, http_get_body, pattern, recv_exact, run, sha, socks5_connect,
                     start_nginx, start_tls_site)


def write_terminal_qr_as_png(rows, path, scale=6):
    """Turns the terminal rendering (half blocks; a drawn block is a light module) into a PNG."""
    halves = {"\u2588": (1, 1), "\u2580": (1, 0), "\u2584": (0, 1), " ": (0, 0)}
    grid = []
    for row in rows:
        pairs = [halves[ch] for ch in row]
        grid += [[p[0] for p in pairs], [p[1] for p in pairs]]
    raw = b""
    for r in grid:
        line = bytes(255 if v else 0 for v in r for _ in range(scale))
        raw += (b"\x00" + line) * scale

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", len(grid[0]) * scale, len(grid) * scale, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) +
                chunk(b"IEND", b""))


class ServerFixture:
    """A server initialised in a fresh data directory, on a port chosen by the OS."""

    def __init__(self, tmp, *init_args):
        self.tmp = tmp
        self.dir = os.path.join(tmp, "server")
        self.port = free_port()
        init = run(["server", "init", "--dir", self.dir, "--listen", f"127.0.0.1:{self.port}",
                    "--public-host", "127.0.0.1", "--allow-private", "--no-qr"] + list(init_args))
        assert init.returncode == 0, init.stderr
        self.link = init.stdout.strip().splitlines()[-1]
        self.log = os.path.join(tmp, "server.log")
        self.process = None
        self.start()

    def start(self):
        self.process = Process(["server", "run", "--dir", self.dir], self.log)
        assert self.process.port == self.port

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")


class EndToEnd(unittest.TestCase):
    # What non-users meet (the built-in cover site), and how the link names the server's key.
    COVER_PAGE = b"Ridgeline Notes"
    SERVER_KEY_PARAM = "pin="
    SERVER_KEY_ERROR = "does not match the pinned key"  # the client's log line, None if it has none

    @classmethod
    def start_site(cls):
        """Starts what the server stands in front of; returns extra `server init` arguments."""
        return []

    @classmethod
    def stop_site(cls):
        pass

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=f"culvert-{cls.__name__}-")
        cls.origin = Origin()
        cls.server = ServerFixture(cls.tmp, *cls.start_site())
        cls.client = Process(["client", cls.server.link, "--listen", "127.0.0.1:0", "--profile", "none"],
                             os.path.join(cls.tmp, "client.log"))
        cls.socks = f"socks5h://127.0.0.1:{cls.client.port}"
        cls.http_proxy = f"http://127.0.0.1:{cls.client.port}"

    @classmethod
    def tearDownClass(cls):
        client_rc = cls.client.stop()
        server_rc = cls.server.process.stop()
        cls.origin.close()
        cls.stop_site()
        logs = cls.server.log_text()[-3000:]
        shutil.rmtree(cls.tmp, ignore_errors=True)
        # SIGTERM is a clean shutdown: exit code 0 (and, in sanitizer builds, no leak report).
        if client_rc != 0 or server_rc != 0:
            raise AssertionError(f"client exited {client_rc}, server exited {server_rc}; server log tail:\n{logs}")

    def url(self, n):
        # "localhost" is resolved by the server: socks5h and the HTTP proxy pass names through.
        return f"http://localhost:{self.origin.port}/bytes/{n}"

    def fetch(self, proxy_args, n):
        r = curl(*proxy_args, self.url(n))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout), n)
        self.assertEqual(sha(r.stdout), sha(pattern(n)))

    def test_socks5_bodies_arrive_intact(self):
        for n in (1, MIB, 64 * MIB):
            with self.subTest(bytes=n):
                self.fetch(["-x", self.socks], n)

    def test_http_proxy_absolute_form_bodies_arrive_intact(self):
        for n in (1, MIB, 64 * MIB):
            with self.subTest(bytes=n):
                self.fetch(["-x", self.http_proxy], n)

    def test_http_proxy_connect_bodies_arrive_intact(self):
        for n in (1, MIB, 64 * MIB):
            with self.subTest(bytes=n):
                self.fetch(["-p", "-x", self.http_proxy], n)

    def test_upload_of_64_mib_arrives_intact(self):
        path = os.path.join(self.tmp, "upload.bin")
        with open(path, "wb") as f:
            f.write(pattern(64 * MIB))
        r = curl("-x", self.socks, "-T", path, f"http://localhost:{self.origin.port}/upload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), sha(pattern(64 * MIB)))

    def test_one_hundred_parallel_streams(self):
        n = 256 * 1024

        def one(_):
            s = socks5_connect(self.client.port, "localhost", self.origin.port)
            try:
                return sha(http_get_body(s, f"/bytes/{n}"))
            finally:
                s.close()

        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(one, range(100), timeout=120))
        self.assertEqual(results, [sha(pattern(n))] * 100)

    def test_stalled_stream_does_not_block_another(self):
        stalled = socks5_connect(self.client.port, "localhost", self.origin.port)
        try:
            stalled.sendall(f"GET /bytes/{64 * MIB} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            time.sleep(0.5)  # let the stalled stream fill its window (not a synchronisation point)
            started = time.monotonic()
            self.fetch(["-x", self.socks], 8 * MIB)
            self.assertLess(time.monotonic() - started, 30)
        finally:
            stalled.close()

    def test_malformed_socks_request_gets_the_rfc_reply_and_others_keep_working(self):
        s = socket.create_connection(("127.0.0.1", self.client.port), timeout=10)
        s.sendall(b"\x05\x01\x00")
        self.assertEqual(recv_exact(s, 2), b"\x05\x00")
        s.sendall(b"\x05\x01\x00\x09\x01\x02\x03\x04\x00\x50")
        self.assertEqual(recv_exact(s, 2), b"\x05\x08")
        s.close()
        s = socket.create_connection(("127.0.0.1", self.client.port), timeout=10)
        s.sendall(b"NONSENSE\r\n\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
        s.close()
        self.fetch(["-x", self.socks], 1000)

    def test_cover_site_answers_a_browser(self):
        r = curl("-k", f"https://127.0.0.1:{self.server.port}/")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.COVER_PAGE, r.stdout)
        r = curl("-k", "-o", "/dev/null", "-w", "%{http_code}", f"https://127.0.0.1:{self.server.port}/wp-login.php")
        self.assertEqual(r.stdout, b"404")

    def test_wrong_credential_is_served_the_cover_site(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw) as tls:
                # A well-formed preamble with a key id and tag nobody holds, then an HTTP request.
                tls.sendall(b"\x01" + os.urandom(40) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 Bad Request"), answer[:60])
        self.assertIn(b"<center>nginx", answer)  # the built-in cover or a real nginx (with version)

    def test_client_with_wrong_secret_gets_no_proxy(self):
        cred_start = len("culvert://")
        link = self.server.link
        # Flip one character of the secret part of the credential.
        i = cred_start + 20
        forged = link[:i] + ("A" if link[i] != "A" else "B") + link[i + 1:]
        bad = Process(["client", forged, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(self.tmp, "forged.log"))
        try:
            r = curl("-x", f"socks5h://127.0.0.1:{bad.port}", self.url(100), timeout=30)
            self.assertNotEqual(r.returncode, 0)
        finally:
            bad.stop()

    def test_wrong_pin_is_refused_by_the_client(self):
        link = self.server.link
        start = link.index(self.SERVER_KEY_PARAM) + len(self.SERVER_KEY_PARAM)
        forged = link[:start] + ("A" if link[start] != "A" else "B") + link[start + 1:]
        log = os.path.join(self.tmp, "pin.log")
        bad = Process(["client", forged, "--listen", "127.0.0.1:0", "--profile", "none"], log)
        try:
            r = curl("-x", f"socks5h://127.0.0.1:{bad.port}", self.url(100), timeout=30)
            self.assertNotEqual(r.returncode, 0)
        finally:
            bad.stop()
        if self.SERVER_KEY_ERROR:
            with open(log) as f:
                self.assertIn(self.SERVER_KEY_ERROR, f.read())

    def test_revoked_user_loses_access_without_restart(self):
        added = run(["user", "add", "revoke-me", "--dir", self.server.dir])
        self.assertEqual(added.returncode, 0, added.stderr)
        link = added.stdout.strip().splitlines()[-1]
        c = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(self.tmp, "revoke1.log"))
        try:
            r = curl("-x", f"socks5h://127.0.0.1:{c.port}", self.url(100))
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            c.stop()
        revoked = run(["user", "revoke", "revoke-me", "--dir", self.server.dir])
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        listed = run(["user", "list", "--dir", self.server.dir])
        self.assertRegex(listed.stdout, r"revoke-me\trevoked")
        c = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(self.tmp, "revoke2.log"))
        try:
            r = curl("-x", f"socks5h://127.0.0.1:{c.port}", self.url(100), timeout=30)
            self.assertNotEqual(r.returncode, 0)
        finally:
            c.stop()

    def test_logs_hold_no_destinations_or_secrets_at_info(self):
        c = Process(["client", self.server.link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(self.tmp, "logs.log"))
        try:
            r = curl("-x", f"socks5h://127.0.0.1:{c.port}", self.url(10))
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            c.stop()
        # The tunnel's one info line is written when it closes (the client just went away).
        deadline = time.monotonic() + 10
        while "tunnel closed user=default" not in self.server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = self.server.log_text()
        self.assertIn("tunnel closed user=default streams=1", text)
        self.assertNotIn("localhost", text)
        self.assertNotIn(str(self.origin.port), text)
        self.assertNotIn(self.server.link.split("@")[0][len("culvert://"):], text)


class EndToEndBorrow(EndToEnd):
    """Every end-to-end test above again, over the borrowed-site transport; a local nginx with a
    test-CA certificate for "localhost" is the borrowed site (so it is what non-users meet). A
    wrong server key in the link gets no tunnel: the server relays the hello to the target, whose
    Finished the client cannot verify."""

    COVER_PAGE = b"the borrowed site"
    SERVER_KEY_PARAM = "pk="
    SERVER_KEY_ERROR = None

    @classmethod
    def start_site(cls):
        cls.nginx, cls.target_port = start_tls_site(cls.tmp, "the borrowed site")
        return ["--transport", "borrow", "--target", f"localhost:{cls.target_port}"]

    @classmethod
    def stop_site(cls):
        cls.nginx.terminate()
        cls.nginx.wait(10)


class Probes(unittest.TestCase):
    """The server compared with a plain OpenSSL TLS server holding the same certificate."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-probe-")
        cls.server = ServerFixture(cls.tmp)
        cls.ref_port = free_port()
        cls.reference = subprocess.Popen(
            ["openssl", "s_server", "-quiet", "-www", "-accept", f"127.0.0.1:{cls.ref_port}",
             "-cert", os.path.join(cls.server.dir, "cert.pem"), "-key", os.path.join(cls.server.dir, "key.pem")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", cls.ref_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.reference.terminate()
        cls.reference.wait(10)
        cls.server.process.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @staticmethod
    def reaction(port, payload, wait):
        """What a prober sees: bytes returned and whether the server closed within `wait` seconds."""
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
            if payload:
                s.sendall(payload)
            got = b""
            closed = False
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
                got += chunk
            return got, closed

    def test_random_bytes_get_the_same_reaction_as_a_plain_tls_server(self):
        for length in (8, 13, 33, 49, 221, 1000):
            payload = os.urandom(length)
            # Make the first byte a non-TLS record type so both servers see the same kind of garbage.
            payload = b"\x99" + payload[1:]
            with self.subTest(length=length):
                self.assertEqual(self.reaction(self.server.port, payload, 3), self.reaction(self.ref_port, payload, 3))

    def test_one_byte_then_silence_is_held_open_like_a_plain_tls_server(self):
        ours = self.reaction(self.server.port, b"\x16", 3)
        ref = self.reaction(self.ref_port, b"\x16", 3)
        self.assertEqual(ours, ref)
        self.assertEqual(ours, (b"", False))

    def test_empty_connection_is_held_open(self):
        self.assertEqual(self.reaction(self.server.port, b"", 2), (b"", False))


class UpstreamCover(unittest.TestCase):
    """The cover is a real nginx: through Culvert, a prober gets nginx's own answers and timing."""

    HEADER_TIMEOUT = 3

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-nginx-")
        www = os.path.join(cls.tmp, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><title>Upstream</title><p>served by the upstream web server</p>\n")
        cls.nginx_port = free_port()
        cls.nginx = start_nginx(cls.tmp, f"listen 127.0.0.1:{cls.nginx_port}; root {www};",
                                f"client_header_timeout {cls.HEADER_TIMEOUT}s; keepalive_timeout {cls.HEADER_TIMEOUT}s;")
        cls.port = free_port()
        d = os.path.join(cls.tmp, "server")
        init = run(["server", "init", "--dir", d, "--listen", f"127.0.0.1:{cls.port}", "--public-host", "127.0.0.1",
                    "--cover-upstream", f"127.0.0.1:{cls.nginx_port}", "--no-qr"])
        assert init.returncode == 0, init.stderr
        cls.server = Process(["server", "run", "--dir", d], os.path.join(cls.tmp, "server.log"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.nginx.terminate()
        cls.nginx.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @staticmethod
    def tls_context():
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    @staticmethod
    def read_all(sock):
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            data += chunk
        return data

    @staticmethod
    def without_date(response):
        return b"\r\n".join(line for line in response.split(b"\r\n") if not line.startswith(b"Date: "))

    def test_pages_are_the_upstreams(self):
        through = curl("-k", f"https://127.0.0.1:{self.port}/")
        direct = curl(f"http://127.0.0.1:{self.nginx_port}/")
        self.assertEqual(through.returncode, 0, through.stderr)
        self.assertEqual(through.stdout, direct.stdout)
        self.assertIn(b"served by the upstream", through.stdout)

    def test_garbage_gets_the_upstreams_own_answer(self):
        probe = b"\x01" + os.urandom(40) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.tls_context().wrap_socket(raw) as tls:
                tls.sendall(probe)
                through = self.read_all(tls)
        with socket.create_connection(("127.0.0.1", self.nginx_port), timeout=10) as s:
            s.sendall(probe)
            direct = self.read_all(s)
        self.assertTrue(direct.startswith(b"HTTP/1.1 400"), direct[:40])
        self.assertEqual(self.without_date(through), self.without_date(direct))

    def test_silence_is_closed_on_the_upstreams_schedule(self):
        def seconds_until_closed(sock):
            start = time.monotonic()
            self.read_all(sock)
            return time.monotonic() - start

        with socket.create_connection(("127.0.0.1", self.nginx_port), timeout=20) as s:
            direct = seconds_until_closed(s)
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as raw:
            with self.tls_context().wrap_socket(raw) as tls:
                through = seconds_until_closed(tls)
        self.assertAlmostEqual(direct, self.HEADER_TIMEOUT, delta=0.5)
        self.assertAlmostEqual(through, direct, delta=0.5)


class CaChain(unittest.TestCase):
    """certificate_pinned = false: links carry no pin and clients check the CA chain and the name."""

    def test_client_checks_the_chain_and_name(self):
        tmp = tempfile.mkdtemp(prefix="culvert-ca-")
        origin = Origin()
        try:
            port = free_port()
            d = os.path.join(tmp, "server")
            init = run(["server", "init", "--dir", d, "--listen", f"127.0.0.1:{port}", "--public-host", "127.0.0.1",
                        "--allow-private", "--no-qr"])
            self.assertEqual(init.returncode, 0, init.stderr)

            def openssl(*args):
                subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=tmp)

            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=Test CA", "-keyout", "ca.key", "-out", "ca.pem")
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", os.path.join(d, "key.pem"), "-out", "leaf.csr")
            with open(os.path.join(tmp, "ext.cnf"), "w") as f:
                f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
            openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-days", "2", "-extfile", "ext.cnf", "-out", os.path.join(d, "cert.pem"))
            config = os.path.join(d, "config.toml")
            with open(config) as f:
                text = f.read().replace("certificate_pinned = true", "certificate_pinned = false")
            with open(config, "w") as f:
                f.write(text)
            link = run(["user", "link", "default", "--dir", d]).stdout.strip().splitlines()[-1]
            self.assertNotIn("pin=", link)
            server = Process(["server", "run", "--dir", d], os.path.join(tmp, "server.log"))
            try:
                trusting = dict(os.environ, SSL_CERT_FILE=os.path.join(tmp, "ca.pem"))
                good = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(tmp, "good.log"), trusting)
                try:
                    r = curl("-x", f"socks5h://127.0.0.1:{good.port}", f"http://localhost:{origin.port}/bytes/100")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout, pattern(100))
                finally:
                    good.stop()
                # The system trust store does not know the test CA: no tunnel.
                bad = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(tmp, "bad.log"))
                try:
                    r = curl("-x", f"socks5h://127.0.0.1:{bad.port}", f"http://localhost:{origin.port}/bytes/100",
                             timeout=30)
                    self.assertNotEqual(r.returncode, 0)
                finally:
                    bad.stop()
            finally:
                server.stop()
        finally:
            origin.close()
            shutil.rmtree(tmp, ignore_errors=True)


class Restart(unittest.TestCase):
    def test_client_recovers_after_server_is_killed_mid_transfer(self):
        tmp = tempfile.mkdtemp(prefix="culvert-restart-")
        origin = Origin()
        server = ServerFixture(tmp)
        client = Process(["client", server.link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(tmp, "client.log"))
        try:
            url = f"http://localhost:{origin.port}/bytes/{64 * MIB}"
            transfer = subprocess.Popen(["curl", "-sS", "--fail", "--limit-rate", "4M", "-o", "/dev/null",
                                         "-x", f"socks5h://127.0.0.1:{client.port}", url],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # let the transfer get going (it needs ~16 s in all)
            self.assertIsNone(transfer.poll())
            server.process.kill()
            # The interrupted transfer fails promptly instead of hanging.
            self.assertNotEqual(transfer.wait(15), 0)
            server.start()
            restarted = time.monotonic()
            ok = False
            while time.monotonic() - restarted < 2.0:
                r = curl("-x", f"socks5h://127.0.0.1:{client.port}", f"http://localhost:{origin.port}/bytes/1000",
                         timeout=10)
                if r.returncode == 0 and r.stdout == pattern(1000):
                    ok = True
                    break
            self.assertTrue(ok, "client did not serve a request within 2 s of the server's restart")
        finally:
            client.stop()
            server.process.stop()
            origin.close()
            shutil.rmtree(tmp, ignore_errors=True)


class CommandLine(unittest.TestCase):
    def test_version(self):
        r = run(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^culvert \d+\.\d+\.\d+")

    def test_malformed_link_is_a_clear_error(self):
        r = run(["client", "culvert://not-a-link"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("this share link cannot be used: the link is cut short", r.stderr)

    def test_missing_data_directory_is_a_clear_error(self):
        r = run(["server", "run", "--dir", "/nonexistent/culvert"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("config.toml", r.stderr)

    def test_unknown_subcommand_and_missing_arguments_fail(self):
        self.assertNotEqual(run(["frobnicate"]).returncode, 0)
        self.assertNotEqual(run(["user", "add", "x"]).returncode, 0)

    @unittest.skipUnless(shutil.which("zbarimg"), "zbar-tools not installed (scripts/setup.sh)")
    def test_qr_code_decodes_to_the_link(self):
        tmp = tempfile.mkdtemp(prefix="culvert-qr-")
        try:
            d = os.path.join(tmp, "s")
            self.assertEqual(run(["server", "init", "--dir", d, "--public-host", "vpn.example.org", "--no-qr"])
                             .returncode, 0)
            out = run(["user", "link", "default", "--dir", d, "--qr"]).stdout.splitlines()
            link, rows = out[-1], out[:-1]
            png = os.path.join(tmp, "qr.png")
            write_terminal_qr_as_png(rows, png)
            # QR only: a 1-D decoder can misread a run of modules as a short barcode.
            decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", png],
                                     capture_output=True, text=True)
            self.assertEqual(decoded.stdout.strip(), link)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_init_refuses_to_overwrite_and_user_add_prints_link_last(self):
        tmp = tempfile.mkdtemp(prefix="culvert-cli-")
        try:
            d = os.path.join(tmp, "s")
            first = run(["server", "init", "--dir", d, "--listen", "127.0.0.1:4443", "--public-host", "vpn.example.org"])
            self.assertEqual(first.returncode, 0, first.stderr)
            self.assertIn("\u2588", first.stdout)  # the QR code
            self.assertTrue(first.stdout.strip().splitlines()[-1].startswith("culvert://"))
            self.assertIn("sni=vpn.example.org", first.stdout)
            again = run(["server", "init", "--dir", d])
            self.assertEqual(again.returncode, 1)
            added = run(["user", "add", "alice", "--dir", d, "--qr"])
            self.assertEqual(added.returncode, 0)
            self.assertTrue(added.stdout.strip().splitlines()[-1].startswith("culvert://"))
            self.assertEqual(run(["user", "add", "bad name", "--dir", d]).returncode, 2)
            for name in ("config.toml", "key.pem", "static.key", "users.db"):
                self.assertEqual(os.stat(os.path.join(d, name)).st_mode & 0o777, 0o600, name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
