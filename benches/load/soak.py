#!/usr/bin/env python3
"""The issue's load targets, checked again and again over a stretch of time: one provider build, many runs.

A single run of provider-load shows the machine's moment. On a shared VM whose speed drifts, "p99 < 5 ms at 64
connections" is only a property of the build if it holds run after run, so this script repeats the same run
(open loop at --rate flows/s offered, 64 connections, --warmup seconds not counted) --runs times with --pause
seconds between runs, and prints each run and then, over all runs:

- how many runs met every target at once: all offered flows done (at least 98 %, as abba.py counts it), each
  step's p99 (authorize, token, UserInfo) under --p99-ms, the provider's RSS during the flows under --rss-mib;
- the worst and the median of each step's p99, and the provider's CPU per flow.

    cargo build --release -p portcullis-provider -p portcullis-load
    benches/load/soak.py --provider target/release/portcullis-provider --runs 12 --pause 20

Bounded: --runs at most 100, each run --seconds (at most 120), pauses at most 600 s; loopback only (provider-load
starts the provider on 127.0.0.1 with a fresh database for every run).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abba import run  # noqa: E402  (the same run and the same parsing as the A B B A comparisons)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--provider", required=True, help="provider binary")
    p.add_argument("--load", default="target/release/provider-load")
    p.add_argument("--rate", type=float, default=5000.0, help="flows/s offered (open loop)")
    p.add_argument("--runs", type=int, default=12)
    p.add_argument("--pause", type=float, default=20.0, help="seconds between runs")
    p.add_argument("--seconds", type=int, default=13)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--p99-ms", type=float, default=5.0)
    p.add_argument("--rss-mib", type=float, default=40.0)
    args = p.parse_args()
    if not 1 <= args.runs <= 100 or not 1 <= args.seconds <= 120 or not 0 <= args.pause <= 600:
        sys.exit("keep it bounded: 1..=100 runs of 1..=120 s, pauses of 0..=600 s")
    if not args.rate > 0 or not 0 <= args.warmup < args.seconds:
        sys.exit("need --rate > 0 and 0 <= --warmup < --seconds")
    offered = args.rate * (args.seconds - args.warmup)
    steps = ("authorize", "token", "userinfo")
    print("run  time      flows    authorize p50/p99  token p50/p99   userinfo p50/p99  CPU µs/flow  RSS MiB  met")
    results = []
    for i in range(1, args.runs + 1):
        if i > 1:
            time.sleep(args.pause)
        r = run(args.load, args.provider, {}, args)
        done = r["flows"] >= 0.98 * offered and r["errors"] == 0
        fast = all(r[s][1] < args.p99_ms for s in steps)
        rss = r.get("rss_kib", float("nan")) / 1024
        small = rss < args.rss_mib
        met = done and fast and small
        per_flow = r.get("cpu", float("nan")) / max(r["flows"], 1) * 1e6
        results.append((r, met, per_flow, rss))
        print(f"{i:>3}  {time.strftime('%H:%M:%S')}  {r['flows']:>6}{' ' if done else '*'}  "
              f"{r['authorize'][0]:6.2f} /{r['authorize'][1]:6.2f}  {r['token'][0]:5.2f} /{r['token'][1]:6.2f}  "
              f"{r['userinfo'][0]:6.2f} /{r['userinfo'][1]:6.2f}  {per_flow:11.0f}  {rss:7.1f}  "
              f"{'yes' if met else 'NO'}", flush=True)
    print(f"runs meeting every target (>= 98 % of {offered:.0f} flows done without errors, each step's p99 < "
          f"{args.p99_ms} ms, RSS < {args.rss_mib} MiB): {sum(m for _, m, _, _ in results)} of {len(results)}")
    for s in steps:
        p99 = [r[s][1] for r, _, _, _ in results]
        print(f"{s:<10} p99 over the runs: median {statistics.median(p99):.2f} ms, worst {max(p99):.2f} ms")
    cpu = [c for _, _, c, _ in results]
    print(f"provider CPU per flow: median {statistics.median(cpu):.0f} µs, highest {max(cpu):.0f} µs")
    print(f"provider RSS during the flows: highest {max(x for _, _, _, x in results):.1f} MiB")
    print("* = fewer than 98 % of the offered flows done, or errors")


if __name__ == "__main__":
    main()
