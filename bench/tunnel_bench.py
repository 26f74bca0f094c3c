#!/usr/bin/env python3
"""Tunnel vs direct on loopback, measured in the same run (interleaved, medians).

  bench/tunnel_bench.py [--binary build/culvert] [--rounds 5] [--size-mib 64] [--streams 100]

Prints a Markdown table: time to fetch SIZE MiB directly, through the tunnel (SOCKS5) and through
a second client with the first-records padding off (--padding off), interleaved; the ratios; and
the RSS of client and server with N idle open streams.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402


def timed_fetch(args, url):
    start = time.monotonic()
    r = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null"] + args + [url], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return time.monotonic() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="build/culvert")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size-mib", type=int, default=64)
    p.add_argument("--streams", type=int, default=100)
    a = p.parse_args()
    harness.CULVERT = os.path.abspath(a.binary)

    tmp = tempfile.mkdtemp(prefix="culvert-bench-")
    origin = harness.Origin()
    port = harness.free_port()
    init = harness.run(["server", "init", "--dir", f"{tmp}/s", "--listen", f"127.0.0.1:{port}", "--public-host",
                        "127.0.0.1", "--allow-private", "--no-qr"])
    link = init.stdout.strip().splitlines()[-1]
    server = harness.Process(["server", "run", "--dir", f"{tmp}/s", "--log-level", "warn"], f"{tmp}/server.log")
    client = harness.Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none", "--log-level", "warn"], f"{tmp}/client.log")
    unpadded = harness.Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none", "--log-level", "warn", "--padding", "off"],
                               f"{tmp}/client-unpadded.log")
    try:
        size = a.size_mib * harness.MIB
        harness.pattern(size)
        url = f"http://127.0.0.1:{origin.port}/bytes/{size}"
        # Memory first, before bulk transfers grow the heaps: one small request sets up the tunnel.
        timed_fetch(["-x", f"socks5h://127.0.0.1:{client.port}"], f"http://127.0.0.1:{origin.port}/bytes/1")
        base_client, base_server = harness.rss_kib(client.proc.pid), harness.rss_kib(server.proc.pid)
        socks = []
        for _ in range(a.streams):
            s = harness.socks5_connect(client.port, "127.0.0.1", origin.port)
            socks.append(s)
        time.sleep(1.0)  # let the server dial every stream (measurement settling, not synchronisation)
        open_client, open_server = harness.rss_kib(client.proc.pid), harness.rss_kib(server.proc.pid)
        for s in socks:
            s.close()
        direct, tunnel, plain = [], [], []
        timed_fetch(["-x", f"socks5h://127.0.0.1:{client.port}"], url)  # warm-up
        timed_fetch(["-x", f"socks5h://127.0.0.1:{unpadded.port}"], url)
        for _ in range(a.rounds):
            direct.append(timed_fetch([], url))
            tunnel.append(timed_fetch(["-x", f"socks5h://127.0.0.1:{client.port}"], url))
            plain.append(timed_fetch(["-x", f"socks5h://127.0.0.1:{unpadded.port}"], url))
        md, mt, mp = statistics.median(direct), statistics.median(tunnel), statistics.median(plain)
        print(f"| measure | direct | tunnel | tunnel, padding off | tunnel/direct | padding on/off |")
        print(f"|---|---|---|---|---|---|")
        print(f"| {a.size_mib} MiB fetch, median of {a.rounds} (s) | {md:.3f} | {mt:.3f} | {mp:.3f} | {mt / md:.2f}x "
              f"| {mt / mp:.3f}x |")
        print(f"| throughput (MiB/s) | {a.size_mib / md:.0f} | {a.size_mib / mt:.0f} | {a.size_mib / mp:.0f} | | |")
        print()
        print(f"| process | RSS idle (KiB) | RSS with {a.streams} open streams (KiB) | per stream (KiB) |")
        print(f"|---|---|---|---|")
        print(f"| client | {base_client} | {open_client} | {(open_client - base_client) / a.streams:.1f} |")
        print(f"| server | {base_server} | {open_server} | {(open_server - base_server) / a.streams:.1f} |")
    finally:
        unpadded.stop()
        client.stop()
        server.stop()
        origin.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
