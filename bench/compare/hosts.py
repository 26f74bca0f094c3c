"""Where the compared programs run: the local machine (loopback), or two network namespaces joined by
`culvert lab link` (the emulated China-abroad path). Every process started here is stopped by PID."""
import os
import resource
import signal
import socket
import subprocess
import time

def fd_limit():
    """The hard limit on descriptors (this workplace: 20,000; root may not raise it in a container)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


FD_LIMIT = fd_limit()


def raise_fd_limit():
    """10,000 streams need more descriptors than the usual soft limit of 1,024: take the hard limit.
    A proxy that holds two descriptors per stream (peers without a mux) meets it near 10,000."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


class Host:
    """A place to run commands: the root namespace (ns=None) or a named network namespace."""

    def __init__(self, ns=None, addr="127.0.0.1"):
        self.ns = ns
        self.addr = addr

    def command(self, argv):
        return (["ip", "netns", "exec", self.ns] if self.ns else []) + list(argv)

    def popen(self, argv, log_path, stdout=None):
        # `ip netns exec` execs the command, so the PID is the program's own (for CPU and RSS).
        log = open(log_path, "ab")
        proc = subprocess.Popen(self.command(argv), stdout=stdout or log, stderr=log, preexec_fn=raise_fd_limit)
        log.close()
        return proc

    def run(self, argv, timeout=600, **kwargs):
        return subprocess.run(self.command(argv), timeout=timeout, capture_output=True, **kwargs)

    def wait_for_port(self, port, seconds=15, addr=None):
        """True once addr:port (default: this host's address) accepts a TCP connection from inside this host."""
        addr = addr or self.addr
        if self.ns is None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    socket.create_connection((addr, port), timeout=1).close()
                    return True
                except OSError:
                    time.sleep(0.05)
            return False
        probe = ("import socket,sys,time\n"
                 "d=time.monotonic()+float(sys.argv[3])\n"
                 "while time.monotonic()<d:\n"
                 "  try:\n    socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1).close();sys.exit(0)\n"
                 "  except OSError: time.sleep(0.05)\n"
                 "sys.exit(1)\n")
        return self.run(["python3", "-c", probe, addr, str(port), str(seconds)],
                        timeout=seconds + 10).returncode == 0


def stop(proc, grace=10):
    """SIGTERM, then SIGKILL after `grace` seconds; only this process."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


_handed_out = set()


def free_port():
    """A port free on this host's loopback and not handed out before in this run: the servers bind
    in the namespaces, where the kernel cannot see what another tool was given (a repeat once let
    two servers race for one port, and the loser's client timed out against the winner)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class Link:
    """Two namespaces, `client` and `server` sides, joined by `culvert lab link` (server->client loss)."""

    def __init__(self, culvert, tag, tmp):
        self.culvert = culvert
        self.tmp = tmp
        self.names = [f"cvc{tag}", f"cvs{tag}"]
        self.client = Host(self.names[0], "10.203.0.1")
        self.server = Host(self.names[1], "10.203.0.2")
        self.proc = None
        for ns in self.names:
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)

    def start(self, delay_ms, rate_mbit, loss_server_to_client, queue_bytes, seed=1):
        self.stop()
        self.proc = subprocess.Popen(
            [self.culvert, "lab", "link", "--ns-a", self.names[0], "--ns-b", self.names[1], "--delay-ms",
             str(delay_ms), "--rate-mbit", str(rate_mbit), "--queue-bytes", str(queue_bytes), "--loss-b-to-a",
             str(loss_server_to_client), "--seed", str(seed)], stdout=subprocess.PIPE, text=True)
        if not self.proc.stdout.readline().startswith("ready"):
            raise RuntimeError("culvert lab link did not start")
        for host in (self.client, self.server):
            for cmd in (["ip", "addr", "add", f"{host.addr}/30", "dev", "cvlink0"], ["ip", "link", "set", "cvlink0",
                                                                                        "up"]):
                subprocess.run(["ip", "netns", "exec", host.ns] + cmd, check=True)

    def stop(self):
        if self.proc is not None:
            stop(self.proc)
            self.proc.stdout.close()
            self.proc = None

    def close(self):
        self.stop()
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns])
