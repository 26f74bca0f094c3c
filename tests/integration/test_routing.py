"""Everyday use: split routing, DNS, UDP and server groups, with real processes.

NetnsRouting (needs root; skipped otherwise) builds five network namespaces on one bridge:
  client 10.231.0.1   server 10.231.0.2   domestic origin 10.231.0.3   foreign origin 10.231.0.4
Each origin records the address every request came from: the client's own (routed direct) or the
server's (through the tunnel). Traffic never leaves these namespaces.

GroupFailover runs on loopback: two servers, the second behind a delaying forwarder, one url-test
group; which server carried a download is read from the servers' own I/O counters.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CULVERT, Origin, Process, free_port, init_server, rss_kib, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "netns_peers.py")
NET = "10.231.0"
CLIENT_IP, SERVER_IP, DOMESTIC_IP, FOREIGN_IP = (f"{NET}.{i}" for i in (1, 2, 3, 4))


def can_run():
    return os.geteuid() == 0 and shutil.which("ip") is not None


class NsProcess:
    """A process inside a namespace whose stdout announces readiness ('up' or 'listening on')."""

    def __init__(self, ns, args, log_path, ready=(b"up", b"listening on")):
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + args, stdout=subprocess.PIPE, stderr=self.log)
        self.port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith(b"listening on "):
                self.port = int(line.strip().rsplit(b":", 1)[1])
            if line.startswith(ready):
                if self.port is not None or line.startswith(b"up"):
                    # Keep reading stdout in the background so the process never blocks on it.
                    threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                    return
        self.stop()
        raise RuntimeError(f"{args} in {ns} did not start (see {log_path})")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def ns_run(ns, args, timeout=60):
    return subprocess.run(["ip", "netns", "exec", ns] + args, capture_output=True, text=True, timeout=timeout)


def peer_json(ns, *args, timeout=120):
    r = ns_run(ns, ["python3", PEERS] + [str(a) for a in args], timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"netns_peers {args} failed: {r.stderr}")
    return json.loads(r.stdout)


@unittest.skipUnless(can_run(), "needs root and iproute2")
class NetnsRouting(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-routing-")
        tag = f"cvr{os.getpid() % 100000}"
        cls.hub = f"{tag}h"
        cls.ns = {role: f"{tag}{role[0]}" for role in ("client", "server", "domestic", "foreign")}
        cls.procs = []
        cls.etc_dirs = []
        try:
            cls.build_topology()
            cls.start_peers()
            cls.start_server()
            cls.start_clients()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def build_topology(cls):
        subprocess.run(["ip", "netns", "add", cls.hub], check=True)
        hub = ["ip", "netns", "exec", cls.hub]
        subprocess.run(hub + ["ip", "link", "add", "br0", "type", "bridge"], check=True)
        subprocess.run(hub + ["ip", "link", "set", "br0", "up"], check=True)
        for index, (role, ns) in enumerate(cls.ns.items(), start=1):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            outer, inner = f"{ns}o", f"{ns}i"
            subprocess.run(["ip", "link", "add", outer, "netns", cls.hub, "type", "veth", "peer", "name", inner,
                            "netns", ns], check=True)
            subprocess.run(hub + ["ip", "link", "set", outer, "master", "br0", "up"], check=True)
            inside = ["ip", "netns", "exec", ns]
            subprocess.run(inside + ["ip", "addr", "add", f"{NET}.{index}/24", "dev", inner], check=True)
            subprocess.run(inside + ["ip", "link", "set", inner, "up"], check=True)
            subprocess.run(inside + ["ip", "link", "set", "lo", "up"], check=True)
        # Names as each side's own resolver knows them (`ip netns exec` mounts /etc/netns/NS/hosts).
        hosts = {
            "client": f"127.0.0.1 localhost\n{DOMESTIC_IP} www.domestic.test\n",
            "server": f"127.0.0.1 localhost\n{FOREIGN_IP} www.foreign.test\n{DOMESTIC_IP} www.domestic.test\n",
        }
        for role, text in hosts.items():
            d = f"/etc/netns/{cls.ns[role]}"
            os.makedirs(d, exist_ok=True)
            cls.etc_dirs.append(d)
            with open(f"{d}/hosts", "w") as f:
                f.write(text)

    @classmethod
    def spawn(cls, role, args, name, **kw):
        p = NsProcess(cls.ns[role], args, os.path.join(cls.tmp, name + ".log"), **kw)
        cls.procs.append(p)
        return p

    @classmethod
    def start_peers(cls):
        cls.logs = {k: os.path.join(cls.tmp, k) for k in ("domestic-http", "foreign-http", "server-dns",
                                                          "domestic-dns", "foreign-dns")}
        for path in cls.logs.values():
            open(path, "w").close()
        cls.spawn("domestic", ["python3", PEERS, "http", "0.0.0.0", "8080", cls.logs["domestic-http"]], "d-http")
        cls.spawn("foreign", ["python3", PEERS, "http", "0.0.0.0", "8080", cls.logs["foreign-http"]], "f-http")
        cls.spawn("domestic", ["python3", PEERS, "udp-echo", "0.0.0.0", "7"], "d-echo")
        cls.spawn("foreign", ["python3", PEERS, "udp-echo", "0.0.0.0", "7"], "f-echo")
        # The server's resolver (on its loopback) answers with the foreign origin; the domestic one
        # with the domestic origin; a third in the foreign namespace is a plain UDP destination.
        cls.spawn("server", ["python3", PEERS, "dns", "127.0.0.1", "5300", FOREIGN_IP, cls.logs["server-dns"]],
                  "s-dns")
        cls.spawn("domestic", ["python3", PEERS, "dns", "0.0.0.0", "53", DOMESTIC_IP, cls.logs["domestic-dns"]],
                  "d-dns")
        cls.spawn("foreign", ["python3", PEERS, "dns", "0.0.0.0", "53", FOREIGN_IP, cls.logs["foreign-dns"]],
                  "f-dns")

    @classmethod
    def start_server(cls):
        d = os.path.join(cls.tmp, "server")
        cls.link = init_server(d, 8443, SERVER_IP)
        config = os.path.join(d, "config.toml")
        with open(config) as f:
            text = f.read()
        assert 'dns_resolver = ""' in text
        with open(config, "w") as f:
            f.write(text.replace('dns_resolver = ""', 'dns_resolver = "127.0.0.1:5300"'))
        cls.server = cls.spawn("server", [CULVERT, "server", "run", "--dir", d], "server")

    @classmethod
    def client_config(cls, name, extra_dns=""):
        geoip = os.path.join(cls.tmp, "test.mmdb")
        subprocess.run(["python3", os.path.join(HERE, "mmdb_writer.py"), geoip, f"{DOMESTIC_IP}/32=CN",
                        f"{FOREIGN_IP}/32=US"], check=True)
        with open(os.path.join(cls.tmp, "ads.list"), "w") as f:
            f.write("# a rule set in the classical format\nDOMAIN-SUFFIX,ads.test\nDOMAIN-KEYWORD,tracker\n")
        path = os.path.join(cls.tmp, name + ".toml")
        with open(path, "w") as f:
            f.write(f"""listen = "127.0.0.1:0"
[[server]]
name = "abroad"
link = "{cls.link}"
[dns]
listen = "127.0.0.1:0"
direct_resolver = "{DOMESTIC_IP}:53"
{extra_dns}
[routing]
profile = "none"
geoip = "test.mmdb"
final = "abroad"
[[rule]]
rule_set = "ads.list"
action = "block"
[[rule]]
domain_suffix = "domestic.test"
action = "direct"
[[rule]]
geoip = "CN"
action = "direct"
""")
        return path

    @classmethod
    def start_clients(cls):
        cls.client = cls.spawn("client", [CULVERT, "client", "--config", cls.client_config("plain")], "client",
                               ready=(b"pac at",))
        cls.fake_client = cls.spawn("client", [CULVERT, "client", "--config",
                                               cls.client_config("fake", "fake_ip = true")], "fake-client",
                                    ready=(b"pac at",))
        cls.client.dns_port = cls.dns_port_of("client")
        cls.fake_client.dns_port = cls.dns_port_of("fake-client")

    @classmethod
    def dns_port_of(cls, name):
        # The client prints "dns on HOST:PORT" on stdout; the reader thread took it, so ask ss instead.
        pid = {"client": cls.client, "fake-client": getattr(cls, "fake_client", None)}[name].proc.pid
        out = ns_run(cls.ns["client"], ["ss", "-Hulnp"]).stdout
        for line in out.splitlines():
            if f"pid={pid}," in line:
                return int(line.split()[3].rsplit(":", 1)[1])
        raise RuntimeError("no DNS port for " + name)

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.stop()
        for ns in list(cls.ns.values()) + [cls.hub]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for d in cls.etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----

    def curl(self, url, port=None, socks="socks5h"):
        port = port or self.client.port
        return ns_run(self.ns["client"], ["curl", "-sS", "--max-time", "15", "--proxy", f"{socks}://127.0.0.1:{port}",
                                          url])

    def log_lines(self, name):
        with open(self.logs[name]) as f:
            return f.read().splitlines()

    # ---- tests ----

    def test_domestic_names_go_direct_and_foreign_through_the_server(self):
        r = self.curl("http://www.domestic.test:8080/who")
        self.assertEqual(r.stdout, f"peer={CLIENT_IP}", r.stderr)
        r = self.curl("http://www.foreign.test:8080/who")
        self.assertEqual(r.stdout, f"peer={SERVER_IP}", r.stderr)
        # The HTTP proxy inbound routes the same way.
        r = ns_run(self.ns["client"], ["curl", "-sS", "--max-time", "15", "--proxy",
                                       f"http://127.0.0.1:{self.client.port}", "http://www.foreign.test:8080/who"])
        self.assertEqual(r.stdout, f"peer={SERVER_IP}", r.stderr)
        print(f"\n  domestic name -> {CLIENT_IP} (direct), foreign name -> {SERVER_IP} (tunnel)")

    def test_geoip_routes_addresses_by_country(self):
        r = self.curl(f"http://{DOMESTIC_IP}:8080/who")  # CN in the test database: direct
        self.assertEqual(r.stdout, f"peer={CLIENT_IP}", r.stderr)
        r = self.curl(f"http://{FOREIGN_IP}:8080/who")  # US: the final outbound
        self.assertEqual(r.stdout, f"peer={SERVER_IP}", r.stderr)

    def test_blocked_names_are_refused_before_any_dial(self):
        before = len(self.log_lines("foreign-http")) + len(self.log_lines("domestic-http"))
        for url in ("http://www.ads.test:8080/who", "http://my-tracker.foreign.test:8080/who"):
            r = self.curl(url)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("connection to", r.stderr)
            self.assertTrue(r.stderr.rstrip().endswith("(2)"), r.stderr)  # SOCKS5 reply 2: not allowed by ruleset
        r = ns_run(self.ns["client"], ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "15",
                                       "--proxy", f"http://127.0.0.1:{self.client.port}",
                                       "http://www.ads.test:8080/who"])
        self.assertEqual(r.stdout, "403")
        after = len(self.log_lines("foreign-http")) + len(self.log_lines("domestic-http"))
        self.assertEqual(before, after)

    def test_dns_resolves_tunnel_names_at_the_server_and_direct_names_at_home(self):
        for proto in ("udp", "tcp"):
            name = f"www-{proto}.foreign.test"
            answer = peer_json(self.ns["client"], "dns-query", "127.0.0.1", self.client.dns_port, name, "A", proto)
            self.assertEqual(answer["addresses"], [FOREIGN_IP])
            self.assertIn(f"{name} 1", self.log_lines("server-dns"))
            self.assertNotIn(f"{name} 1", self.log_lines("domestic-dns"))
            home = f"www-{proto}.domestic.test"
            answer = peer_json(self.ns["client"], "dns-query", "127.0.0.1", self.client.dns_port, home, "A", proto)
            self.assertEqual(answer["addresses"], [DOMESTIC_IP])
            self.assertIn(f"{home} 1", self.log_lines("domestic-dns"))
            self.assertNotIn(f"{home} 1", self.log_lines("server-dns"))
        # Cached: asked again, the server's resolver is not asked again.
        asked = self.log_lines("server-dns").count("www-udp.foreign.test 1")
        peer_json(self.ns["client"], "dns-query", "127.0.0.1", self.client.dns_port, "www-udp.foreign.test", "A", "udp")
        self.assertEqual(self.log_lines("server-dns").count("www-udp.foreign.test 1"), asked)
        blocked = peer_json(self.ns["client"], "dns-query", "127.0.0.1", self.client.dns_port, "x.ads.test", "A", "udp")
        self.assertEqual(blocked["rcode"], 3)

    def test_fake_ip_answers_proxied_names_and_maps_them_back_on_connect(self):
        port = self.fake_client.dns_port
        answer = peer_json(self.ns["client"], "dns-query", "127.0.0.1", port, "fake.foreign.test", "A", "udp")
        self.assertEqual(len(answer["addresses"]), 1)
        fake = answer["addresses"][0]
        self.assertTrue(fake.startswith("198.18."), fake)
        self.assertNotIn("fake.foreign.test 1", self.log_lines("server-dns"))  # nobody was asked
        # The application connects to a fake address; the name travels to the server, which resolves it
        # itself (its hosts file knows www.foreign.test).
        answer = peer_json(self.ns["client"], "dns-query", "127.0.0.1", port, "www.foreign.test", "A", "udp")
        fake = answer["addresses"][0]
        r = self.curl(f"http://{fake}:8080/who", port=self.fake_client.port, socks="socks5")
        self.assertEqual(r.stdout, f"peer={SERVER_IP}", r.stderr)
        self.assertIn(f"{SERVER_IP} {fake}:8080 /who", self.log_lines("foreign-http"))
        # Direct names get real answers from the domestic resolver.
        home = peer_json(self.ns["client"], "dns-query", "127.0.0.1", port, "www.domestic.test", "A", "udp")
        self.assertEqual(home["addresses"], [DOMESTIC_IP])

    def test_udp_echo_and_dns_through_socks5_udp_associate(self):
        abroad = peer_json(self.ns["client"], "socks-udp", self.client.port, FOREIGN_IP, 7, 20, 1200)
        self.assertEqual(abroad["peer"], f"peer={SERVER_IP}")
        self.assertEqual(abroad["intact"], 20)
        home = peer_json(self.ns["client"], "socks-udp", self.client.port, DOMESTIC_IP, 7, 20, 1200)
        self.assertEqual(home["peer"], f"peer={CLIENT_IP}")  # GeoIP CN: direct
        self.assertEqual(home["intact"], 20)
        big = peer_json(self.ns["client"], "socks-udp", self.client.port, FOREIGN_IP, 7, 3, 60000)
        self.assertEqual(big["intact"], 3)  # four mux frames each, reassembled
        dns = peer_json(self.ns["client"], "socks-dns", self.client.port, FOREIGN_IP, 53, "udp-dns.foreign.test")
        self.assertEqual(dns["addresses"], [FOREIGN_IP])
        self.assertEqual(dns["source"], FOREIGN_IP)
        self.assertIn("udp-dns.foreign.test 1", self.log_lines("foreign-dns"))

    def test_ten_thousand_datagrams_with_loss_counted_and_memory_flat(self):
        pids = {"client": self.client.proc.pid, "server": self.server.proc.pid}
        peer_json(self.ns["client"], "socks-udp", self.client.port, FOREIGN_IP, 7, 1000, 512)  # warm-up
        before = {k: rss_kib(p) for k, p in pids.items()}
        result = peer_json(self.ns["client"], "socks-udp", self.client.port, FOREIGN_IP, 7, 10000, 512, timeout=300)
        after = {k: rss_kib(p) for k, p in pids.items()}
        lost = result["sent"] - result["received"]
        print(f"\n  10,000 datagrams of 512 B through the tunnel: {result['received']} back, {lost} lost "
              f"({100.0 * lost / result['sent']:.2f} %), {result['seconds']} s; RSS client {before['client']} -> "
              f"{after['client']} KiB, server {before['server']} -> {after['server']} KiB")
        self.assertEqual(result["sent"], 10000)
        self.assertEqual(result["intact"], result["received"])
        self.assertGreaterEqual(result["received"], 9500)
        if os.environ.get("CULVERT_SANITIZED") == "1":
            return  # freed memory sits in the sanitizer's quarantine: RSS says nothing here
        for k in pids:
            self.assertLess(after[k] - before[k], 4096, f"{k} grew by {after[k] - before[k]} KiB")

    def test_pac_file_sends_rule_matches_direct_and_the_rest_to_the_proxy(self):
        r = ns_run(self.ns["client"], ["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{self.client.port}/proxy.pac"])
        self.assertEqual(r.returncode, 0, r.stderr)
        pac = r.stdout
        if shutil.which("node") is None:
            self.skipTest("node is not installed")
        script = pac + """
function isInNet(host, net, mask) {
  function n(a) { return a.split('.').reduce(function (x, o) { return x * 256 + parseInt(o, 10); }, 0); }
  return (n(host) & n(mask)) >>> 0 === (n(net) & n(mask)) >>> 0;
}
var hosts = ["www.domestic.test", "a.b.domestic.test", "www.foreign.test", "www.ads.test", "%s", "%s"];
console.log(JSON.stringify(hosts.map(function (h) { return FindProxyForURL("http://" + h + "/", h); })));
""" % (DOMESTIC_IP, FOREIGN_IP)
        out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        answers = json.loads(out.stdout)
        proxy = f"SOCKS5 127.0.0.1:{self.client.port}; SOCKS 127.0.0.1:{self.client.port}; PROXY 127.0.0.1:{self.client.port}"
        # GeoIP cannot be evaluated in a PAC: IP hosts go to the proxy, which applies the rule.
        self.assertEqual(answers, ["DIRECT", "DIRECT", proxy, proxy, proxy, proxy])


class DelayingForwarder:
    """A TCP forwarder that holds every chunk for `delay` seconds: a server farther away."""

    def __init__(self, target_port, delay):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.target_port, self.delay = target_port, delay
        self.closed = False
        self.sockets = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                c.close()
                continue
            self.sockets += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                time.sleep(self.delay)
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        """Stops accepting and cuts every forwarded connection (the server becomes unreachable)."""
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept() and stops listening (Linux)
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def written_bytes(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


class GroupFailover(unittest.TestCase):
    INTERVAL_MS = 1000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="culvert-group-")
        self.origin = Origin()
        self.servers = {}
        self.links = {}
        for name in ("near", "far"):
            d = os.path.join(self.tmp, name)
            port = free_port()
            self.links[name] = (d, port, init_server(d, port))
            self.servers[name] = Process(["server", "run", "--dir", d], os.path.join(self.tmp, name + ".log"))
        far_dir, far_port, far_link = self.links["far"]
        self.forwarder = DelayingForwarder(far_port, 0.05)
        far_link = far_link.replace(f"127.0.0.1:{far_port}", f"127.0.0.1:{self.forwarder.port}")
        config = os.path.join(self.tmp, "client.toml")
        with open(config, "w") as f:
            f.write(f"""listen = "127.0.0.1:0"
[[server]]
name = "near"
link = "{self.links['near'][2]}"
[[server]]
name = "far"
link = "{far_link}"
[[group]]
name = "auto"
type = "url-test"
servers = ["far", "near"]
url = "http://127.0.0.1:{self.origin.port}/bytes/1"
interval_ms = {self.INTERVAL_MS}
timeout_ms = 2000
[routing]
profile = "none"
""")
        self.client = Process(["client", "--config", config], os.path.join(self.tmp, "client.log"))

    def tearDown(self):
        self.client.stop()
        for p in self.servers.values():
            p.stop()
        self.forwarder.close()
        self.origin.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fetch(self, size=1 << 20):
        r = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{size_download}",
                            "--proxy", f"socks5h://127.0.0.1:{self.client.port}",
                            f"http://127.0.0.1:{self.origin.port}/bytes/{size}"], capture_output=True, text=True,
                           timeout=10)
        return r.returncode == 0 and r.stdout == str(size)

    def carrier(self):
        """Which server carried a 1 MiB download (by the bytes it wrote), or None if it failed."""
        before = {n: written_bytes(p.proc.pid) for n, p in self.servers.items() if p.proc.poll() is None}
        if not self.fetch():
            return None
        grown = {n: written_bytes(self.servers[n].proc.pid) - b for n, b in before.items()}
        return max(grown, key=grown.get)

    def wait_for_carrier(self, name, limit):
        took = wait_until(lambda: self.carrier() == name, limit)
        if took is None:
            self.fail(f"traffic did not move to {name} within {limit} s")
        return took

    def test_fallback_uses_the_first_healthy_server_in_order(self):
        # Same servers, a fallback group listing far first: far carries while it is healthy.
        self.client.stop()
        config = os.path.join(self.tmp, "client.toml")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace('type = "url-test"', 'type = "fallback"'))
        self.client = Process(["client", "--config", config], os.path.join(self.tmp, "client-fallback.log"))
        self.wait_for_carrier("far", 10)
        self.forwarder.close()  # far becomes unreachable
        moved = self.wait_for_carrier("near", 10)
        print(f"\n  fallback: first server unreachable -> traffic on the next after {moved:.2f} s")
        self.assertLess(moved, self.INTERVAL_MS / 1000 * 3)

    def test_url_test_prefers_the_faster_server_fails_over_and_comes_back(self):
        # The first checks measure both; the near one (no forwarder) wins although it is listed second.
        self.wait_for_carrier("near", 10)
        near_dir = self.links["near"][0]
        self.servers["near"].kill()
        moved = self.wait_for_carrier("far", 10)
        self.servers["near"] = Process(["server", "run", "--dir", near_dir], os.path.join(self.tmp, "near2.log"))
        back = self.wait_for_carrier("near", 10)
        print(f"\n  url-test: near server killed -> traffic on far after {moved:.2f} s; near restarted -> back "
              f"after {back:.2f} s (health-check interval {self.INTERVAL_MS / 1000:.1f} s)")
        self.assertLess(moved, self.INTERVAL_MS / 1000 * 3)
        self.assertLess(back, self.INTERVAL_MS / 1000 * 3)


if __name__ == "__main__":
    unittest.main()


class UdpLimits(unittest.TestCase):
    """Per-user association limit and the server's UDP idle limit, seen through the client's DNS."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="culvert-udp-")
        self.resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.resolver.bind(("127.0.0.1", 0))
        self.echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.echo.bind(("127.0.0.1", 0))
        threading.Thread(target=self.answer_dns, daemon=True).start()
        threading.Thread(target=self.answer_echo, daemon=True).start()
        d = os.path.join(self.tmp, "server")
        link = init_server(d, free_port())
        config = os.path.join(d, "config.toml")
        with open(config) as f:
            text = f.read()
        text = text.replace('dns_resolver = ""', f'dns_resolver = "127.0.0.1:{self.resolver.getsockname()[1]}"')
        text = text.replace("max_udp_associations_per_user = 256", "max_udp_associations_per_user = 1")
        text = text.replace("udp_idle_timeout_ms = 60000", "udp_idle_timeout_ms = 1500")
        with open(config, "w") as f:
            f.write(text)
        self.server = Process(["server", "run", "--dir", d], os.path.join(self.tmp, "server.log"))
        self.client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none", "--dns",
                               "127.0.0.1:0"], os.path.join(self.tmp, "client.log"))
        line = self.client.proc.stdout.readline().decode()
        self.assertTrue(line.startswith("dns on "), line)
        self.dns_port = int(line.strip().rsplit(":", 1)[1])

    def tearDown(self):
        self.client.stop()
        self.server.stop()
        self.resolver.close()
        self.echo.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def answer_dns(self):
        import netns_peers
        while True:
            try:
                msg, peer = self.resolver.recvfrom(65535)
            except OSError:
                return
            self.resolver.sendto(netns_peers.dns_answer(msg, "192.0.2.44", os.devnull, threading.Lock()), peer)

    def answer_echo(self):
        while True:
            try:
                data, peer = self.echo.recvfrom(65535)
            except OSError:
                return
            self.echo.sendto(data, peer)

    def ask(self, name):
        import netns_peers
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(8)
        s.sendto(netns_peers.build_query(name, "A"), ("127.0.0.1", self.dns_port))
        answer = netns_peers.parse_answer(s.recvfrom(65535)[0])
        s.close()
        return answer

    def test_a_user_over_the_association_limit_is_refused_until_one_ends(self):
        self.assertEqual(self.ask("one.example")["addresses"], ["192.0.2.44"])  # its association ended
        import netns_peers
        control, udp, relay = netns_peers.socks_associate(self.client.port)
        udp.settimeout(5)
        udp.sendto(netns_peers.socks_header("127.0.0.1", self.echo.getsockname()[1]) + b"ping", relay)
        self.assertEqual(netns_peers.strip_header(udp.recvfrom(65535)[0])[1], b"ping")
        # The SOCKS association holds the user's one association: the tunnel DNS question is refused.
        self.assertEqual(self.ask("two.example")["rcode"], 2)  # SERVFAIL
        # After the server's 1.5 s idle limit the association is closed and its slot is free again.
        wait_until(lambda: self.ask("three.example")["rcode"] == 0, 10, 0.3)
        self.assertEqual(self.ask("four.example")["addresses"], ["192.0.2.44"])
        control.close()
        udp.close()
