#!/usr/bin/env python3
"""Compare two provider builds (or one build under two environments) with provider-load, in A B B A rounds.

On a shared 2-vCPU VM the machine's own capacity drifts by tens of percent within minutes, so two builds run
one after the other compare the machine's moments, not the builds. Each round here runs A, B, B, A; a linear
drift then falls on both equally, and each round's figure is the mean of its two runs of each side. A round in
which the machine could not keep up (fewer flows done than offered) is marked, since a step change inside a
round is not cancelled.

    cargo build --release -p portcullis-provider -p portcullis-load
    cp target/release/portcullis-provider /tmp/prov_a   # ... build B ...
    benches/load/abba.py --a /tmp/prov_a --b /tmp/prov_b --rate 5000 --rounds 4
    benches/load/abba.py --a /tmp/prov --b /tmp/prov --b-env PORTCULLIS_SOMETHING=false

Bounded: each run lasts --seconds (default 13, of which --warmup 3 are not counted), rounds x 4 runs in all.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

LINE = re.compile(r"^(authorize|token|userinfo)\s+latency\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms")
FLOWS = re.compile(r"flows (\d+)\s+errors (\d+)")
CPU = re.compile(r"CPU time\s+provider ([\d.]+) s, load generator ([\d.]+) s")
RSS = re.compile(r"peak during the flows (\d+) KiB")
MACHINE = re.compile(r"machine CPU\s+other processes and interrupts ([\d.]+) s, stolen by the hypervisor ([\d.]+) s")


def run(load, provider, env_extra, args):
    cmd = [load, "--provider", provider, "--connections", str(args.connections), "--flows", "10000000",
           "--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    if args.rate:
        cmd += ["--rate", str(args.rate)]
    env = dict(os.environ)
    env.update(env_extra)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.seconds + 120).stdout
    r = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            r[m.group(1)] = (float(m.group(2)), float(m.group(3)))
        m = FLOWS.search(line)
        if m:
            r["flows"], r["errors"] = int(m.group(1)), int(m.group(2))
        m = CPU.search(line)
        if m:
            r["cpu"] = float(m.group(1))
        m = RSS.search(line)
        if m:
            r["rss_kib"] = int(m.group(1))
        m = MACHINE.search(line)
        if m:
            r["others"], r["steal"] = float(m.group(1)), float(m.group(2))
    if "token" not in r:
        sys.exit("provider-load printed no figures:\n" + out)
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="provider binary A")
    p.add_argument("--b", required=True, help="provider binary B")
    p.add_argument("--a-env", action="append", default=[], help="KEY=VALUE for A's runs")
    p.add_argument("--b-env", action="append", default=[], help="KEY=VALUE for B's runs")
    p.add_argument("--load", default="target/release/provider-load")
    p.add_argument("--rate", type=float, help="open loop at this many flows/s (default: closed loop)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=int, default=13)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args()
    if not 1 <= args.rounds <= 20 or not 1 <= args.seconds <= 120:
        sys.exit("keep it bounded: 1..=20 rounds of 1..=120 s runs")
    envs = {s: dict(kv.split("=", 1) for kv in getattr(args, s + "_env")) for s in "ab"}
    offered = args.rate * (args.seconds - args.warmup) if args.rate else None
    print("round  side  token p50/p99   authorize p50/p99  userinfo p50/p99  flows   provider CPU s  others s  steal s")
    means = {"a": [], "b": []}
    for rnd in range(1, args.rounds + 1):
        got = {"a": [], "b": []}
        for side in "abba":
            r = run(args.load, getattr(args, side), envs[side], args)
            got[side].append(r)
            behind = offered is not None and r["flows"] < 0.98 * offered
            print(f"{rnd:>5}  {side.upper():>4}  {r['token'][0]:5.2f} /{r['token'][1]:6.2f}  "
                  f"{r['authorize'][0]:7.2f} /{r['authorize'][1]:6.2f}  "
                  f"{r['userinfo'][0]:6.2f} /{r['userinfo'][1]:6.2f}  {r['flows']:>6}{'*' if behind else ' '} "
                  f"{r.get('cpu', float('nan')):6.1f}  {r.get('others', float('nan')):10.1f}  "
                  f"{r.get('steal', float('nan')):7.1f}", flush=True)
        for side in "ab":
            means[side].append(statistics.mean(x["token"][1] for x in got[side]))
        print(f"{rnd:>5}  token p99, mean of the round: A {means['a'][-1]:.2f}  B {means['b'][-1]:.2f}")
    d = [b - a for a, b in zip(means["a"], means["b"])]
    print(f"B - A, token p99 per round (ms): {', '.join(f'{x:+.2f}' for x in d)}; mean {statistics.mean(d):+.2f}")
    print("* = the machine fell behind (fewer than 98 % of the offered flows done): a step change within a round "
          "is not cancelled by the A B B A order")


if __name__ == "__main__":
    main()
