#!/usr/bin/env python3
"""provider-load on PostgreSQL: one node, then several nodes on one database, with the figures side by side.

Makes a throwaway PostgreSQL cluster (initdb in a temporary directory, as the `postgres` system user when run as
root; the server on 127.0.0.1 and a free port, with its durability settings left as shipped: fsync and
synchronous_commit on), then for each count in --nodes creates a fresh database and runs

    provider-load --database-url postgres://.../run_N --nodes N <the load's own options>

which starts N provider processes on that database and spreads each flow's three steps over them (see
benches/load/src/nodes.rs). Each run's output is printed whole; at the end a table gives flows/s and CPU per
flow (provider, database, total) for each count, beside one run on SQLite with the same options unless
--no-sqlite.

    cargo build --release -p portcullis-provider -p portcullis-load
    benches/load/postgres.py --provider target/release/portcullis-provider -- --connections 64 --seconds 13 --warmup 3

Bounded: at most 8 runs, each bounded by provider-load's own --seconds; loopback only; the cluster is stopped
and deleted at the end, whatever happens.
"""

import argparse
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile


def pg_bin():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    sys.exit("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)")


def as_pg(cmd):
    """Runs the cluster's tools as the postgres user when we are root (initdb refuses root)."""
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def figures(out):
    """flows/s and CPU per flow (provider, database) from provider-load's output."""
    flows = re.search(r"^flows/s\s+(\d+)", out, re.M)
    cpu = re.search(r"^CPU per flow\s+provider ([\d.]+) ms(?: \+ database ([\d.]+) ms)?", out, re.M)
    errors = re.search(r"errors (\d+)", out)
    return {
        "flows/s": int(flows.group(1)) if flows else None,
        "provider": float(cpu.group(1)) if cpu else None,
        "database": float(cpu.group(2)) if cpu and cpu.group(2) else 0.0,
        "errors": int(errors.group(1)) if errors else None,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--provider", required=True, help="provider binary")
    p.add_argument("--load", default="target/release/provider-load")
    p.add_argument("--nodes", default="1,3", help="node counts, comma-separated (each at most 16)")
    p.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    p.add_argument("load_args", nargs="*", help="options for provider-load (after --)")
    a = p.parse_args()
    counts = [int(n) for n in a.nodes.split(",")]
    if not counts or len(counts) > 7 or any(n < 1 or n > 16 for n in counts):
        sys.exit("--nodes: 1 to 7 counts, each 1..16")

    bin_dir = pg_bin()
    work = tempfile.mkdtemp(prefix="portcullis-pg-load", dir="/tmp")
    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    data = os.path.join(work, "data")
    port = free_port()
    opts = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c max_connections=300"
    results = []
    try:
        subprocess.run(as_pg([f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(as_pg([f"{bin_dir}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(work, "log"),
                              "-w", "start"]), check=True, stdout=subprocess.DEVNULL)
        for i, n in enumerate(counts):
            db = f"run_{i}_{n}"
            subprocess.run([f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db],
                           check=True)
            cmd = [a.load, "--provider", a.provider, "--database-url",
                   f"postgres://postgres@127.0.0.1:{port}/{db}", "--nodes", str(n)] + a.load_args
            print("$ " + " ".join(cmd), flush=True)
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            print(out, flush=True)
            results.append((f"PostgreSQL, {n} node{'s' if n > 1 else ''}", figures(out)))
        if not a.no_sqlite:
            cmd = [a.load, "--provider", a.provider] + a.load_args
            print("$ " + " ".join(cmd), flush=True)
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            print(out, flush=True)
            results.append(("SQLite, 1 node", figures(out)))
    finally:
        subprocess.run(as_pg([f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'':<24}{'flows/s':>9}{'errors':>8}   CPU per flow: provider + database = total (ms)")
    for name, f in results:
        total = (f["provider"] or 0.0) + f["database"]
        print(f"{name:<24}{f['flows/s'] or 0:>9}{f['errors'] or 0:>8}   "
              f"{f['provider'] or 0:.3f} + {f['database']:.3f} = {total:.3f}")


if __name__ == "__main__":
    main()
