#!/usr/bin/env python3
"""Instructions per complete flow of one or two provider builds, counted by valgrind's callgrind.

Wall-clock figures on this shared 2-vCPU VM drift by tens of percent within a minute (the same binary has done
36 611 and 56 117 flows in consecutive 10 s runs with the same CPU seconds), so a change of a few percent in
the provider's own work cannot be seen in them. Instructions executed in user space do not depend on the
host's speed: this script runs provider-load against the provider under callgrind twice, with --flows N1 and
N2, zeroes the counters after the load's one login and before its first flow (`provider-load --after-login`;
start-up, key generation and the login's Argon2 hash are not counted), and reports (I(N2) - I(N1)) / (N2 - N1): the instructions one more flow costs.

    cargo build --release -p portcullis-provider -p portcullis-load
    benches/load/instructions.py --a /tmp/prov_a --b /tmp/prov_b --top 25

What it does not count: the kernel (system calls, TCP over loopback), waiting, cache misses. Under valgrind the
threads run one at a time, so engine batches are formed differently from a native run; with 64 connections
(the default) they are close to the batches of the native load. `rep stos`/`rep movs` count one instruction per
iteration, so memset and memcpy of whole pages weigh more than they cost natively.

Bounded: each run is at most --flows N2 flows and --timeout seconds.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# valgrind's own output goes to a file: provider-load's standard error (inherited) is a pipe this script reads
# to its end, and valgrind outlives provider-load until the script stops it.
WRAPPER = """#!/bin/bash
valgrind --tool=callgrind --callgrind-out-file="$CG_OUT" --dump-instr=no "$CG_BIN" "$@" 2> "$CG_OUT.log" &
echo $! > "$CG_OUT.pid"
wait $!
"""


def run(load, binary, flows, out, connections, port, timeout, wrapper):
    env = dict(os.environ, CG_BIN=binary, CG_OUT=out)
    cmd = [load, "--provider", wrapper, "--connections", str(connections), "--flows", str(flows),
           "--seconds", str(timeout), "--warmup", "0", "--port", str(port),
           # Zeroed after the login and before the first flow (callgrind_control waits for valgrind's answer),
           # so that each run counts its flows and nothing else.
           "--after-login", f"callgrind_control -z $(cat {out}.pid) > /dev/null"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 120)
    done = re.search(r"flows (\d+)\s+errors (\d+)", r.stdout)
    # provider-load kills the wrapper; the valgrind process under it writes its counts on SIGTERM.
    subprocess.run(["pkill", "-TERM", "-f", f"callgrind-out-file={out}"], check=False)
    for _ in range(100):
        if os.path.exists(out) and os.path.getsize(out) > 0 and \
                subprocess.run(["pgrep", "-f", f"callgrind-out-file={out}"], capture_output=True).returncode:
            break
        time.sleep(0.2)
    if not done or int(done.group(1)) != flows or int(done.group(2)) != 0:
        sys.exit(f"{binary}: the load did not complete {flows} flows without errors:\n{r.stdout}{r.stderr}")


def functions(path, inclusive):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", f"--inclusive={'yes' if inclusive else 'no'}",
                          path], capture_output=True, text=True, check=True).stdout
    total, per = None, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(?:\*\s+)?(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = n
            continue
        name = re.sub(r"^\S+?:", "", m.group(2))
        name = re.sub(r" \[[^\]]*\]$", "", name)
        per[name] = per.get(name, 0) + n
    return total, per


def per_flow(args, label, binary, tmp, wrapper):
    files = []
    for n in (args.n1, args.n2):
        out = os.path.join(tmp, f"cg.{label}.{n}")
        run(args.load, binary, n, out, args.connections, args.port, args.timeout, wrapper)
        files.append(out)
    (t1, f1), (t2, f2) = (functions(f, args.inclusive) for f in files)
    d = args.n2 - args.n1
    return (t2 - t1) / d, {k: (f2.get(k, 0) - f1.get(k, 0)) / d for k in set(f1) | set(f2)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="provider binary")
    p.add_argument("--b", help="a second provider binary to compare with the first")
    p.add_argument("--load", default="target/release/provider-load")
    p.add_argument("--n1", type=int, default=1000)
    p.add_argument("--n2", type=int, default=3000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--port", type=int, default=18080)
    p.add_argument("--timeout", type=int, default=600, help="seconds per run")
    p.add_argument("--top", type=int, default=20, help="functions to list (largest per flow, or largest B - A)")
    p.add_argument("--inclusive", action="store_true", help="list functions with what they call")
    p.add_argument("--keep", help="copy the callgrind output files here (for callgrind_annotate --tree=caller)")
    args = p.parse_args()
    if not 0 < args.n1 < args.n2:
        sys.exit("need 0 < --n1 < --n2")
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = os.path.join(tmp, "callgrind-provider")
        with open(wrapper, "w") as f:
            f.write(WRAPPER)
        os.chmod(wrapper, 0o755)
        try:
            compare(args, tmp, wrapper)
        finally:
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                for f in os.listdir(tmp):
                    if f.startswith("cg."):
                        shutil.copy(os.path.join(tmp, f), args.keep)


def compare(args, tmp, wrapper):
    """Prints the per-flow figures of A, or of A and B and their difference."""
    a_total, a = per_flow(args, "a", args.a, tmp, wrapper)
    print(f"A {args.a}: {a_total:,.0f} instructions per flow (user space)")
    if not args.b:
        for v, k in sorted(((v, k) for k, v in a.items()), reverse=True)[:args.top]:
            print(f"{v:12,.0f}  {k[:140]}")
        return
    b_total, b = per_flow(args, "b", args.b, tmp, wrapper)
    print(f"B {args.b}: {b_total:,.0f} instructions per flow (user space)")
    print(f"B - A: {b_total - a_total:+,.0f} per flow ({(b_total - a_total) / a_total:+.1%})")
    diff = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), key=lambda x: abs(x[0]),
                  reverse=True)
    for v, k in diff[:args.top]:
        print(f"{v:+12,.0f}  A {a.get(k, 0):10,.0f}  B {b.get(k, 0):10,.0f}  {k[:110]}")


if __name__ == "__main__":
    main()
