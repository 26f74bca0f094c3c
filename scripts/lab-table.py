#!/usr/bin/env python3
"""Renders the lab's verdict table (written by the `lab` CTest test) as Markdown.

  ctest --test-dir build -R '^lab$' && scripts/lab-table.py build/lab-verdicts.json
"""
import json
import sys

RULES = ["fully-encrypted", "tls-fingerprint", "name-blocklist", "cleartext-proxy", "tls-in-tls"]
ORDER = ["shadowsocks-aes-128-gcm", "shadowsocks-chacha20-ietf-poly1305", "vmess", "trojan", "cleartext-socks5",
         "culvert"]


def main():
    results = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "build/lab-verdicts.json"))
    print("| tool (connections) | " + " | ".join(RULES) + " |")
    print("|---|" + "---|" * len(RULES))
    for name in [n for n in ORDER if n in results] + sorted(set(results) - set(ORDER)):
        conns = results[name]
        cells = []
        for rule in RULES:
            values = [c[rule] for c in conns]
            cell = ", ".join(sorted(set(values)))
            if "block" in values:
                cell += f" ({values.count('block')}/{len(values)})"
            cells.append(cell)
        print(f"| {name} ({len(conns)}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
