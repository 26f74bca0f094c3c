#!/usr/bin/env python3
"""What QUIC alone gives on the emulated China-abroad link, before Culvert's QUIC transport exists.

Issue 19 asks for congestion control that tolerates random loss. This measures the reference we
would build on — ngtcp2's own example server and client (Debian's ngtcp2-server / ngtcp2-client:
ngtcp2 + GnuTLS + nghttp3, HTTP/3) with each congestion controller ngtcp2 ships — against a plain
TCP download (curl from a Python HTTP server, the kernel's BBR) on the same `culvert lab link`
path (90 ms each way, 100 Mbit/s, 1 MiB queue, random loss server->client), rounds interleaved,
medians reported. Every body's size is checked. Stops only the processes it started.

    python3 bench/quic_link.py --binary build/culvert --loss 0.05,0.15 --mib 32 --reps 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare"))
import hosts  # noqa: E402

MIB = 1024 * 1024
GTLSSERVER = "/usr/sbin/gtlsserver"
GTLSCLIENT = "/usr/bin/gtlsclient"


def quic_download(link, port, tmp, timeout):
    """Seconds for one HTTP/3 download of /bulk with gtlsclient, or None if it failed."""
    out = tempfile.mkdtemp(dir=tmp)
    start = time.monotonic()
    try:
        r = link.client.run([GTLSCLIENT, "--quiet", "--exit-on-all-streams-close", f"--download={out}",
                             "--timeout=30s", link.server.addr, str(port), f"https://{link.server.addr}/bulk"],
                            timeout=timeout)
    except subprocess.TimeoutExpired:  # run() has killed the client
        r = None
    seconds = time.monotonic() - start
    path = os.path.join(out, "bulk")
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if os.path.exists(path):
        os.remove(path)
    os.rmdir(out)
    return seconds if r is not None and r.returncode == 0 and size == link.bulk else None


def tcp_download(link, port, timeout):
    start = time.monotonic()
    r = link.client.run(["curl", "-sS", "--fail", "--max-time", str(timeout), "-o", "/dev/null", "-w",
                         "%{size_download}", f"http://{link.server.addr}:{port}/bulk"], timeout=timeout + 30)
    seconds = time.monotonic() - start
    ok = r.returncode == 0 and r.stdout.decode().strip() == str(link.bulk)
    return seconds if ok else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="culvert (for `lab link`)")
    ap.add_argument("--loss", default="0.05,0.15")
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cc", default="cubic,bbr,bbr2", help="ngtcp2's congestion controllers to run")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--out", help="write the raw figures as JSON here")
    a = ap.parse_args()
    for tool in (GTLSSERVER, GTLSCLIENT):
        if not os.path.exists(tool):
            sys.exit(f"{tool} missing: apt-get install ngtcp2-server ngtcp2-client")
    tmp = tempfile.mkdtemp(prefix="culvert-quic-link-")
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    with open(os.path.join(www, "bulk"), "wb") as f:
        f.write(os.urandom(a.mib * MIB))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=bench.example", "-keyout", "key.pem", "-out", "cert.pem"],
                   cwd=tmp, check=True, capture_output=True)
    link = hosts.Link(os.path.abspath(a.binary), "q", tmp)
    link.bulk = a.mib * MIB
    ccs = a.cc.split(",")
    results = {}
    procs = []
    try:
        for loss in [float(x) for x in a.loss.split(",")]:
            link.start(90, 100, loss, 1024 * 1024)
            procs = []
            tcp_port = hosts.free_port()
            procs.append(link.server.popen(["python3", "-m", "http.server", "--bind", link.server.addr, str(tcp_port),
                                            "--directory", www], os.path.join(tmp, "http.log")))
            quic_ports = {}
            for cc in ccs:
                port = hosts.free_port()
                quic_ports[cc] = port
                procs.append(link.server.popen([GTLSSERVER, "--quiet", f"--cc={cc}", "-d", www, link.server.addr,
                                                str(port), os.path.join(tmp, "key.pem"),
                                                os.path.join(tmp, "cert.pem")], os.path.join(tmp, f"{cc}.log")))
            if not link.server.wait_for_port(tcp_port):
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.5)  # gtlsserver binds UDP at once; nothing to poll for
            rows = {"tcp bbr (curl)": [], **{f"quic {cc} (ngtcp2)": [] for cc in ccs}}
            for rep in range(a.reps):
                rows["tcp bbr (curl)"].append(tcp_download(link, tcp_port, a.timeout))
                for cc in ccs:
                    rows[f"quic {cc} (ngtcp2)"].append(quic_download(link, quic_ports[cc], tmp, a.timeout))
                print(f"  loss {loss:.0%} round {rep + 1}/{a.reps} done", file=sys.stderr, flush=True)
            for p in procs:
                hosts.stop(p)
            procs = []
            results[f"{loss:g}"] = {name: [None if s is None else a.mib / s for s in secs] for name, secs in rows.items()}
            print(f"loss {loss:.0%}, {a.mib} MiB, MiB/s per round (median):")
            for name, speeds in results[f"{loss:g}"].items():
                ok = [s for s in speeds if s is not None]
                median = f"{statistics.median(ok):.2f}" if ok else "-"
                rounds = ", ".join("fail" if s is None else f"{s:.2f}" for s in speeds)
                print(f"  {name:22} {rounds}  ({median})")
            sys.stdout.flush()
    finally:
        for p in procs:
            hosts.stop(p)
        link.close()
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"mib": a.mib, "reps": a.reps, "mib_s": results}, f, indent=1)


if __name__ == "__main__":
    main()
