"""The programs compared: a direct connection (the ceiling), shadowsocks-libev (two ciphers), trojan,
v2ray VMess and Culvert (each transport), all from Debian packages except Culvert itself; and the
origin they all fetch from (nginx from /dev/shm, plus sink.py for uploads and idle streams).

Each tool runs its server on the server host and its client (a SOCKS5 port on 127.0.0.1) on the
client host; `pids` are the client and server processes whose CPU and memory are measured."""
import json
import os
import shutil
import subprocess
import sys
import uuid

import hosts

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import harness  # noqa: E402  (make_test_ca)


class Origin:
    """nginx serving `files` over plain HTTP on host.addr:port and, for the borrowed-site transport,
    HTTPS for "localhost" on 127.0.0.1:tls_port of the same host; sink.py for uploads and idle streams."""

    def __init__(self, host, tmp, files, hash_uploads):
        self.host = host
        self.tmp = os.path.join(tmp, f"origin-{host.ns or 'local'}")
        os.makedirs(self.tmp, exist_ok=True)
        harness.make_test_ca(self.tmp)
        self.port, self.tls_port, self.upload_port, self.hold_port = (hosts.free_port() for _ in range(4))
        user = "user root;" if os.geteuid() == 0 else ""
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""{user}
worker_processes 1;
worker_rlimit_nofile {hosts.FD_LIMIT};
daemon off;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/error.log crit;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  sendfile on; tcp_nopush on;
  keepalive_timeout 75s; client_header_timeout 300s;
  client_body_temp_path {self.tmp}/body; proxy_temp_path {self.tmp}/proxy; fastcgi_temp_path {self.tmp}/fcgi;
  uwsgi_temp_path {self.tmp}/uwsgi; scgi_temp_path {self.tmp}/scgi;
  default_type application/octet-stream;
  server {{ listen {host.addr}:{self.port} backlog=8192; root {files}; }}
  server {{ listen 127.0.0.1:{self.tls_port} ssl; root {files};
    ssl_certificate {self.tmp}/chain.pem; ssl_certificate_key {self.tmp}/leaf.key; ssl_protocols TLSv1.2 TLSv1.3; }}
}}
""")
        self.nginx = host.popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", self.tmp],
                                os.path.join(self.tmp, "nginx.log"))
        sink_args = ["python3", os.path.join(HERE, "sink.py"), "--listen", host.addr, "--upload-port",
                     str(self.upload_port), "--hold-port", str(self.hold_port)] + (["--hash"] if hash_uploads else [])
        self.sink = host.popen(sink_args, os.path.join(self.tmp, "sink.log"), stdout=subprocess.PIPE)
        if self.sink.stdout.readline().strip() != b"ready" or not host.wait_for_port(self.port):
            self.close()
            raise RuntimeError(f"origin did not start (see {self.tmp})")

    def close(self):
        hosts.stop(self.nginx)
        hosts.stop(self.sink)
        if self.sink.stdout:
            self.sink.stdout.close()


class Tool:
    """Base: a client process and a server process; subclasses say how to start them."""
    name = "?"
    transport = ""

    def __init__(self):
        self.procs = []
        self.helpers = []  # started and stopped with the tool, not measured
        self.socks_port = 0
        self.server_port = 0

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def start(self, client, server, origin, tmp):
        self.dir = os.path.join(tmp, self.name.replace(" ", "-"))
        os.makedirs(self.dir, exist_ok=True)
        self.server_port, self.socks_port = hosts.free_port(), hosts.free_port()
        self.launch(client, server, origin)
        if not server.wait_for_port(self.server_port):
            raise RuntimeError(f"{self.name}: server did not start (see {self.dir})")
        if not client.wait_for_port(self.socks_port, addr="127.0.0.1"):
            raise RuntimeError(f"{self.name}: client did not start (see {self.dir})")

    def spawn(self, host, argv, log):
        proc = host.popen(argv, os.path.join(self.dir, log))
        self.procs.append(proc)
        return proc

    def write_json(self, name, value):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(value, f)
        return path

    def stop(self):
        for p in reversed(self.procs + self.helpers):
            hosts.stop(p)
        self.procs = []
        self.helpers = []


class Direct(Tool):
    name = "direct"

    def start(self, client, server, origin, tmp):
        self.socks_port = 0


class DirectAgain(Direct):
    """A second plain download in the same round: how far two fresh connections on the same link
    differ, the noise floor for every per-round ratio. Runs only when named (--only "direct again")."""
    name = "direct again"


class Shadowsocks(Tool):
    def __init__(self, method):
        super().__init__()
        self.method = method
        self.name = f"shadowsocks-libev {method}"

    def launch(self, client, server, origin):
        key = ["-k", "culvert-compare-password", "-m", self.method]
        self.spawn(server, ["ss-server", "-s", server.addr, "-p", str(self.server_port)] + key, "server.log")
        self.spawn(client, ["ss-local", "-s", server.addr, "-p", str(self.server_port), "-b", "127.0.0.1", "-l",
                            str(self.socks_port)] + key, "client.log")


class Trojan(Tool):
    name = "trojan"

    def launch(self, client, server, origin):
        password = ["culvert-compare-password"]
        server_config = self.write_json("server.json", {
            "run_type": "server", "local_addr": server.addr, "local_port": self.server_port,
            "remote_addr": server.addr, "remote_port": origin.port, "password": password, "log_level": 3,
            "ssl": {"cert": os.path.join(origin.tmp, "chain.pem"), "key": os.path.join(origin.tmp, "leaf.key"),
                    "alpn": ["http/1.1"]}})
        client_config = self.write_json("client.json", {
            "run_type": "client", "local_addr": "127.0.0.1", "local_port": self.socks_port,
            "remote_addr": server.addr, "remote_port": self.server_port, "password": password, "log_level": 3,
            "ssl": {"verify": True, "verify_hostname": True, "cert": os.path.join(origin.tmp, "ca.pem"),
                    "sni": "localhost", "alpn": ["h2", "http/1.1"]}})
        self.spawn(server, ["trojan", "-c", server_config], "server.log")
        self.spawn(client, ["trojan", "-c", client_config], "client.log")


class Vmess(Tool):
    name = "v2ray vmess"

    def launch(self, client, server, origin):
        user = str(uuid.uuid4())
        server_config = self.write_json("server.json", {
            "log": {"loglevel": "warning"},
            "inbounds": [{"listen": server.addr, "port": self.server_port, "protocol": "vmess",
                          "settings": {"clients": [{"id": user, "alterId": 0}]}}],
            "outbounds": [{"protocol": "freedom"}]})
        client_config = self.write_json("client.json", {
            "log": {"loglevel": "warning"},
            "inbounds": [{"listen": "127.0.0.1", "port": self.socks_port, "protocol": "socks",
                          "settings": {"auth": "noauth", "udp": False}}],
            "outbounds": [{"protocol": "vmess", "settings": {"vnext": [{
                "address": server.addr, "port": self.server_port,
                "users": [{"id": user, "alterId": 0, "security": "aes-128-gcm"}]}]}}]})
        self.spawn(server, ["v2ray", "-config", server_config], "server.log")
        self.spawn(client, ["v2ray", "-config", client_config], "client.log")


class Culvert(Tool):
    def __init__(self, binary, transport):
        super().__init__()
        self.binary = binary
        self.transport = transport
        self.name = f"culvert {transport}"

    def launch(self, client, server, origin):
        if self.transport == "cdn":
            return self.launch_cdn(client, server, origin)
        init = [self.binary, "server", "init", "--dir", os.path.join(self.dir, "s"), "--listen",
                f"{server.addr}:{self.server_port}", "--public-host", server.addr, "--allow-private", "--no-qr"]
        if self.transport == "borrow":
            init += ["--transport", "borrow", "--target", f"localhost:{origin.tls_port}"]
        made = server.run(init, timeout=60, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"culvert server init failed: {made.stderr}")
        link = made.stdout.strip().splitlines()[-1]
        self.spawn(server, [self.binary, "server", "run", "--dir", os.path.join(self.dir, "s"), "--log-level", "info"],
                   "server.log")
        # CULVERT_BENCH_CLIENT_ARGS: extra client options to compare (e.g. "--streams-per-tunnel 2").
        extra = os.environ.get("CULVERT_BENCH_CLIENT_ARGS", "").split()
        self.spawn(client, [self.binary, "client", link, "--listen", f"127.0.0.1:{self.socks_port}", "--profile",
                            "none", "--log-level", "warn"] + extra, "client.log")


    def launch_cdn(self, client, server, origin):
        """The CDN transport through an nginx stand-in for the CDN (TLS + HTTP/2 to the client,
        HTTP/1.1 to the origin, default buffering) on the server's host: `server_port` is the
        stand-in's; Culvert's server listens behind it on plain HTTP."""
        origin_port = hosts.free_port()
        init = [self.binary, "server", "init", "--dir", os.path.join(self.dir, "s"), "--transport", "cdn", "--listen",
                f"{server.addr}:{origin_port}", "--sni", "localhost", "--front", f"{server.addr}:{self.server_port}",
                "--allow-private", "--no-qr", "--admin-listen", ""]
        made = server.run(init, timeout=60, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"culvert server init failed: {made.stderr}")
        link = made.stdout.strip().splitlines()[-1]
        self.spawn(server, [self.binary, "server", "run", "--dir", os.path.join(self.dir, "s"), "--log-level", "info"],
                   "server.log")
        edge = os.path.join(self.dir, "edge")
        os.makedirs(edge, exist_ok=True)
        user = "user root;" if os.geteuid() == 0 else ""
        with open(os.path.join(edge, "nginx.conf"), "w") as f:
            f.write(f"""{user}
worker_processes 1;
worker_rlimit_nofile {hosts.FD_LIMIT};
daemon off;
pid {edge}/nginx.pid;
error_log {edge}/error.log crit;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  client_body_temp_path {edge}/body; proxy_temp_path {edge}/proxy; fastcgi_temp_path {edge}/fcgi;
  uwsgi_temp_path {edge}/uwsgi; scgi_temp_path {edge}/scgi;
  client_body_buffer_size 2m; client_max_body_size 16m;
  server {{ listen {server.addr}:{self.server_port} ssl http2;
    ssl_certificate {origin.tmp}/chain.pem; ssl_certificate_key {origin.tmp}/leaf.key; ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ proxy_pass http://{server.addr}:{origin_port}; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }} }}
}}
""")
        # The stand-in is the CDN's machine, not Culvert's: not among the measured processes.
        self.helpers.append(server.popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c",
                                          os.path.join(edge, "nginx.conf"), "-p", edge], os.path.join(edge, "edge.log")))
        self.spawn(client, ["env", f"SSL_CERT_FILE={origin.tmp}/ca.pem", self.binary, "client", link, "--listen",
                            f"127.0.0.1:{self.socks_port}", "--profile", "none", "--log-level", os.environ.get("CULVERT_BENCH_LOG", "warn")], "client.log")


def all_tools(binary):
    return [Direct(), DirectAgain(), Culvert(binary, "tls"), Culvert(binary, "borrow"), Culvert(binary, "cdn"),
            Shadowsocks("aes-256-gcm"), Shadowsocks("chacha20-ietf-poly1305"), Trojan(), Vmess()]
