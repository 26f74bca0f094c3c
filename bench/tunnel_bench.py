#!/usr/bin/env python3
"""Tunnel vs direct on loopback, measured in the same run (interleaved, medians).

  bench/tunnel_bench.py [--binary build/culvert] [--rounds 5] [--size-mib 64] [--streams 100]
                        [--baseline-binary OTHER/culvert]

Prints a Markdown table: time to fetch SIZE MiB directly, through the tunnel (SOCKS5) and through
a second client with the first-records padding off (--padding off), interleaved; the ratios; and
the RSS of client and server with N idle open streams. With --baseline-binary, a server and client
of that other build (e.g. the previous commit's) run beside them and every round fetches through
both: tunnel time and CPU seconds per GiB (server + client) of this build against that one.
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


def cpu_seconds(*processes):
    """User + system CPU time so far of the given harness processes."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in processes:
        with open(f"/proc/{p.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start_baseline(a, tmp):
    """A server and client of the baseline build, on their own port and data directory."""
    saved = harness.CULVERT
    harness.CULVERT = os.path.abspath(a.baseline_binary)
    try:
        port = harness.free_port()
        init = harness.run(["server", "init", "--dir", f"{tmp}/b", "--listen", f"127.0.0.1:{port}", "--public-host",
                            "127.0.0.1", "--allow-private", "--no-qr"])
        link = init.stdout.strip().splitlines()[-1]
        server = harness.Process(["server", "run", "--dir", f"{tmp}/b", "--log-level", "warn"], f"{tmp}/bserver.log")
        client = harness.Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none", "--log-level",
                                  "warn"], f"{tmp}/bclient.log")
        return server, client
    finally:
        harness.CULVERT = saved


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="build/culvert")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size-mib", type=int, default=64)
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--baseline-binary", default="")
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
        baseline = start_baseline(a, tmp) if a.baseline_binary else None
        base_times, cpu_new, cpu_base = [], [], []
        if baseline:
            timed_fetch(["-x", f"socks5h://127.0.0.1:{baseline[1].port}"], url)  # warm-up
        for _ in range(a.rounds):
            direct.append(timed_fetch([], url))
            before = cpu_seconds(server, client)
            tunnel.append(timed_fetch(["-x", f"socks5h://127.0.0.1:{client.port}"], url))
            cpu_new.append(cpu_seconds(server, client) - before)
            plain.append(timed_fetch(["-x", f"socks5h://127.0.0.1:{unpadded.port}"], url))
            if baseline:
                before = cpu_seconds(*baseline)
                base_times.append(timed_fetch(["-x", f"socks5h://127.0.0.1:{baseline[1].port}"], url))
                cpu_base.append(cpu_seconds(*baseline) - before)
        if baseline:
            gib = a.size_mib / 1024
            mt, mb = statistics.median(tunnel), statistics.median(base_times)
            cn, cb = statistics.median(cpu_new) / gib, statistics.median(cpu_base) / gib
            print(f"| build | {a.size_mib} MiB fetch, median of {a.rounds} (s) | MiB/s | CPU s/GiB (server+client) |")
            print("|---|---|---|---|")
            print(f"| this ({a.binary}) | {mt:.3f} | {a.size_mib / mt:.0f} | {cn:.2f} |")
            print(f"| baseline ({a.baseline_binary}) | {mb:.3f} | {a.size_mib / mb:.0f} | {cb:.2f} |")
            print(f"| this / baseline | {mt / mb:.3f}x time | | {cn / cb:.3f}x CPU |")
            print()
            for p in baseline:
                p.stop()
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
