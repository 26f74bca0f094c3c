"""What a newcomer hit (issue 20), each situation as a user meets it: the real binaries, curl, raw
sockets, the commands the README and docs give. Run by CTest with CULVERT_BIN set.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Origin, Process, free_port, init_server, recv_exact, run, wait_until

CULVERT = os.environ.get("CULVERT_BIN", "culvert")


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5)] + list(args), capture_output=True,
                          timeout=timeout)


def socks5_request(port, host, dport):
    """The SOCKS5 reply code for CONNECT host:dport, and the socket (open when the reply is 0)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    name = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", dport))
    reply = recv_exact(s, 10)
    return reply[1], s


def ending(sock, limit=20):
    """How a connection ends from the application's side: 'reset', 'fin' or 'timeout'."""
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(65536):
                return "fin"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"


class DestinationFailures(unittest.TestCase):
    """Failures look like failures: resets, error pages that name the reason, SOCKS5 reply codes."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-newcomer-")
        cls.port = free_port()
        cls.dir = os.path.join(cls.tmp, "server")
        # A server that does not let users reach private addresses, as on a public host.
        init = run(["server", "init", "--dir", cls.dir, "--listen", f"127.0.0.1:{cls.port}", "--public-host",
                    "127.0.0.1", "--no-qr"])
        assert init.returncode == 0, init.stderr
        cls.link = init.stdout.strip().splitlines()[-1]
        cls.server = Process(["server", "run", "--dir", cls.dir], os.path.join(cls.tmp, "server.log"))
        cls.client_log = os.path.join(cls.tmp, "client.log")
        cls.client = Process(["client", cls.link, "--listen", "127.0.0.1:0", "--profile", "none"], cls.client_log)

    @classmethod
    def tearDownClass(cls):
        cls.client.stop()
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_unknown_host_is_a_reset_not_an_empty_reply(self):
        r = curl("-x", f"socks5h://127.0.0.1:{self.client.port}", "http://no-such-name.invalid/")
        self.assertNotEqual(r.returncode, 52, r.stderr)  # "Empty reply from server" was the old tell
        self.assertEqual(r.returncode, 56, r.stderr)     # "Recv failure: Connection reset by peer"
        code, s = socks5_request(self.client.port, "no-such-name.invalid", 80)
        self.assertEqual(code, 0)  # answered before the server dialed (no round trip)...
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(ending(s), "reset")  # ...and the failure arrives as a reset
        s.close()

    def test_http_proxy_request_gets_a_page_naming_the_reason(self):
        r = curl("-x", f"http://127.0.0.1:{self.client.port}", "http://no-such-name.invalid/")
        self.assertIn(b"502", subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
                                              f"http://127.0.0.1:{self.client.port}",
                                              "http://no-such-name.invalid/"], capture_output=True).stdout)
        self.assertIn(b"could not be reached", r.stdout)
        private = curl("-x", f"http://127.0.0.1:{self.client.port}", "http://127.0.0.1:9/")
        self.assertIn(b"refused", private.stdout)  # the server's policy: no private addresses

    def test_reason_classes_are_logged_without_destinations(self):
        curl("-x", f"socks5h://127.0.0.1:{self.client.port}", "http://another-missing-name.invalid/")
        self.assertIsNotNone(wait_until(lambda: "could not" in open(self.client_log).read(), 10))
        text = open(self.client_log).read()
        self.assertNotIn("another-missing-name", text)


class BrokenStreams(unittest.TestCase):
    """A stream that dies is reset, not closed as if complete (item 2)."""

    def test_dying_tunnel_resets_the_application(self):
        tmp = tempfile.mkdtemp(prefix="culvert-reset-")
        try:
            port = free_port()
            link = init_server(os.path.join(tmp, "server"), port)
            server = Process(["server", "run", "--dir", os.path.join(tmp, "server")], os.path.join(tmp, "server.log"))
            client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"],
                             os.path.join(tmp, "client.log"))
            # An origin that sends forever, with no length: only the ending tells complete from cut.
            origin = socket.socket()
            origin.bind(("127.0.0.1", 0))
            origin.listen(1)

            def serve():
                conn, _ = origin.accept()
                try:
                    while True:
                        conn.sendall(b"x" * 65536)
                except OSError:
                    pass

            threading.Thread(target=serve, daemon=True).start()
            code, s = socks5_request(client.port, "127.0.0.1", origin.getsockname()[1])
            self.assertEqual(code, 0)
            s.recv(65536)
            server.kill()
            self.assertEqual(ending(s, 60), "reset")
            s.close()
            client.stop()
            origin.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class LinkProblems(unittest.TestCase):
    """Messages that say what is wrong (item 3)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-links-")
        cls.port = free_port()
        cls.dir = os.path.join(cls.tmp, "server")
        cls.link = init_server(cls.dir, cls.port)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def client_error(self, link):
        r = subprocess.run([CULVERT, "client", link, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 2, r.stdout)
        return r.stderr

    def test_malformed_links_say_what_is_wrong(self):
        self.assertIn('starts with "culvrt://"', self.client_error(self.link.replace("culvert://", "culvrt://")))
        cut = self.link.split("?")[0]
        self.assertIn("cut short", self.client_error(cut))
        self.assertIn("54", self.client_error("culvert://abc@127.0.0.1:443?tr=tls"))
        self.assertIn("port", self.client_error(self.link.replace(f":{self.port}?", ":99999?")))

    def test_a_link_pasted_with_quotes_works(self):
        for quoted in (f'"{self.link}"', f"'{self.link}'", f"  {self.link}\n"):
            client = Process(["client", quoted, "--listen", "127.0.0.1:0", "--profile", "none"],
                             os.path.join(self.tmp, "quoted.log"))
            client.stop()

    def test_unreachable_server_is_named_and_socks_says_network_unreachable(self):
        dead_port = free_port()
        log = os.path.join(self.tmp, "dead.log")
        client = Process(["client", self.link.replace(f":{self.port}?", f":{dead_port}?"), "--listen",
                          "127.0.0.1:0", "--profile", "none"], log)
        try:
            code, s = socks5_request(client.port, "example.com", 80)
            s.close()
            self.assertEqual(code, 3)  # network unreachable: the reply had not been sent yet
        finally:
            client.stop()
        text = open(log).read()
        self.assertIn(f"cannot reach the server 127.0.0.1:{dead_port}", text)
        self.assertIn("connect", text.lower())

    def test_revoked_link_is_reported_as_not_accepted(self):
        tmp = tempfile.mkdtemp(prefix="culvert-revoked-")
        try:
            port = free_port()
            d = os.path.join(tmp, "server")
            link = init_server(d, port)
            server = Process(["server", "run", "--dir", d], os.path.join(tmp, "server.log"))
            self.assertEqual(run(["user", "revoke", "default", "--dir", d]).returncode, 0)
            log = os.path.join(tmp, "client.log")
            client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"], log)
            try:
                first = curl("-x", f"socks5h://127.0.0.1:{client.port}", "http://example.com/")
                self.assertNotEqual(first.returncode, 0)
                self.assertIsNotNone(wait_until(lambda: "did not accept this link" in open(log).read(), 10))
                code, s = socks5_request(client.port, "example.com", 80)
                s.close()
                self.assertEqual(code, 1)  # general failure, told at once while the server refuses
                self.assertNotIn("input too large", open(log).read())
            finally:
                client.stop()
                server.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_link_without_pin_explains_the_certificate_check(self):
        # The server's certificate is self-signed: a link without its pin cannot trust it.
        server = Process(["server", "run", "--dir", self.dir], os.path.join(self.tmp, "server.log"))
        try:
            unpinned = "&".join(part for part in self.link.split("&") if not part.startswith("pin="))
            unpinned = unpinned.replace("?pin=", "?")
            log = os.path.join(self.tmp, "unpinned.log")
            client = Process(["client", unpinned, "--listen", "127.0.0.1:0", "--profile", "none"], log)
            try:
                socks5_request(client.port, "example.com", 80)[1].close()
            finally:
                client.stop()
            text = open(log).read()
            self.assertIn("certificate is not trusted", text)
            self.assertIn("self-signed", text)
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()


class OperatorCommands(unittest.TestCase):
    """Install, run, configure and administer as the docs say (items 4, 6, 8, 9, 10)."""

    def test_server_setup_installs_no_test_toolchain(self):
        script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "setup.sh")
        base = subprocess.run([script, "--print"], capture_output=True, text=True, check=True).stdout.split()
        full = subprocess.run([script, "--tests", "--print"], capture_output=True, text=True, check=True).stdout.split()
        for tool in ("chromium", "postgresql", "v2ray", "shadowsocks-libev", "trojan", "clang", "nodejs",
                     "nginx-light", "pebble"):
            self.assertNotIn(tool, base)
            self.assertIn(tool, full)
        self.assertIn("libssl-dev", base)

    def test_init_takes_admin_listen_and_check_validates_without_starting(self):
        tmp = tempfile.mkdtemp(prefix="culvert-check-")
        try:
            d = os.path.join(tmp, "s")
            admin = free_port()
            init = run(["server", "init", "--dir", d, "--listen", f"127.0.0.1:{free_port()}", "--public-host",
                        "127.0.0.1", "--admin-listen", f"127.0.0.1:{admin}", "--no-qr"])
            self.assertEqual(init.returncode, 0, init.stderr)
            with open(os.path.join(d, "config.toml")) as f:
                self.assertIn(f'admin_listen = "127.0.0.1:{admin}"', f.read())
            ok = run(["server", "check", "--dir", d])
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn("OK", ok.stdout)
            with open(os.path.join(d, "config.toml"), "a") as f:
                f.write("max_tunels = 5\n")
            bad = run(["server", "check", "--dir", d])
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn('unknown key "max_tunels"', bad.stderr)
            # Appended after the last [section], TOML puts it there: the message says where it belongs.
            self.assertIn('did you mean "max_tunnels"? it belongs at the top of the file', bad.stderr)
            self.assertRegex(bad.stderr, r"config\.toml:\d+:")
            link = init.stdout.strip().splitlines()[-1]
            self.assertEqual(run(["client", link, "--check"]).returncode, 0)
            client_file = os.path.join(tmp, "client.toml")
            with open(client_file, "w") as f:
                f.write(f'[[server]]\nname = "home"\nlink = "{link}"\n\n[routing]\nfinale = "home"\n')
            typo = run(["client", "--config", client_file, "--check"])
            self.assertEqual(typo.returncode, 2)
            self.assertIn('did you mean "final"', typo.stderr)
            self.assertIn(client_file, typo.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_quickstart_says_when_options_are_not_applied(self):
        script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "quickstart.sh")
        with open(script) as f:
            text = f.read()
        # The re-run branch names the options it did not apply and how to change them.
        self.assertIn("these options were not applied", text)
        self.assertIn("edit $dir/config.toml", text)

    def test_every_user_example_in_the_operations_doc_works_as_written(self):
        doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")
        with open(doc) as f:
            text = f.read()
        start = text.index("```sh\nculvert user add alice")
        block = text[start + len("```sh\n"):text.index("```", start + 6)]
        tmp = tempfile.mkdtemp(prefix="culvert-docs-")
        try:
            port, admin = free_port(), free_port()
            data = os.path.join(tmp, "data")
            init = run(["server", "init", "--dir", data, "--listen", f"127.0.0.1:{port}", "--public-host",
                        "127.0.0.1", "--admin-listen", f"127.0.0.1:{admin}", "--no-qr"])
            self.assertEqual(init.returncode, 0, init.stderr)
            server = Process(["server", "run", "--dir", data], os.path.join(tmp, "server.log"))
            bin_dir = os.path.join(tmp, "bin")
            os.makedirs(bin_dir)
            os.symlink(os.path.abspath(CULVERT), os.path.join(bin_dir, "culvert"))
            env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
            try:
                self.assertIsNotNone(wait_until(lambda: os.path.exists(os.path.join(data, "admin.token")), 10))
                for line in block.strip().splitlines():
                    command = line.replace("127.0.0.1:9190", f"127.0.0.1:{admin}")
                    r = subprocess.run(["bash", "-c", command], cwd=tmp, env=env, capture_output=True, text=True,
                                       timeout=60)
                    self.assertEqual(r.returncode, 0, f"{line}\n{r.stdout}\n{r.stderr}")
            finally:
                server.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class ServerResolver(unittest.TestCase):
    """dns_resolver serves streams' names too, and a dead one is named in the log (item 12)."""

    def test_stream_names_resolve_at_the_configured_resolver(self):
        tmp = tempfile.mkdtemp(prefix="culvert-resolver-")
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dns.bind(("127.0.0.1", 0))
        asked = []

        def answer():
            # A tiny authoritative stand-in: every A question is 127.0.0.1, AAAA has no answer.
            while True:
                try:
                    query, peer = dns.recvfrom(4096)
                except OSError:
                    return
                qtype = struct.unpack(">H", query[-4:-2])[0]
                name_end = query.index(b"\x00", 12) + 5
                asked.append(qtype)
                header = query[:2] + b"\x81\x80" + b"\x00\x01" + (b"\x00\x01" if qtype == 1 else b"\x00\x00") + \
                    b"\x00\x00\x00\x00"
                body = query[12:name_end]
                if qtype == 1:
                    body += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01"
                dns.sendto(header + body, peer)

        threading.Thread(target=answer, daemon=True).start()
        origin = Origin()
        try:
            port = free_port()
            d = os.path.join(tmp, "server")
            link = init_server(d, port)
            with open(os.path.join(d, "config.toml")) as f:
                text = f.read()
            with open(os.path.join(d, "config.toml"), "w") as f:
                f.write(text.replace('dns_resolver = ""', f'dns_resolver = "127.0.0.1:{dns.getsockname()[1]}"'))
            log = os.path.join(tmp, "server.log")
            server = Process(["server", "run", "--dir", d], log)
            client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"],
                             os.path.join(tmp, "client.log"))
            try:
                # A name only the configured resolver knows.
                r = subprocess.run(["curl", "-sS", "--max-time", "20", "-x", f"socks5h://127.0.0.1:{client.port}",
                                    f"http://only-at-the-resolver.test:{origin.port}/bytes/100"], capture_output=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(len(r.stdout), 100)
                self.assertIn(1, asked)
                self.assertIn("answers; clients' names are resolved there", open(log).read())
            finally:
                client.stop()
                server.stop()
        finally:
            origin.close()
            dns.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_a_resolver_that_does_not_answer_is_named(self):
        tmp = tempfile.mkdtemp(prefix="culvert-deadresolver-")
        try:
            port = free_port()
            d = os.path.join(tmp, "server")
            init_server(d, port)
            silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
            silent.bind(("127.0.0.1", 0))
            with open(os.path.join(d, "config.toml")) as f:
                text = f.read()
            with open(os.path.join(d, "config.toml"), "w") as f:
                f.write(text.replace('dns_resolver = ""', f'dns_resolver = "127.0.0.1:{silent.getsockname()[1]}"'))
            log = os.path.join(tmp, "server.log")
            server = Process(["server", "run", "--dir", d], log)
            try:
                self.assertIsNotNone(wait_until(lambda: "did not answer" in open(log).read(), 10))
            finally:
                server.stop()
                silent.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
