#!/usr/bin/env python3
"""Two builds of one Google Benchmark binary, side by side in one run.

Runs A and B alternately (A B B A A B ...) so that drift on a shared machine
falls on both, and prints per benchmark the median of a counter (default
cycles_per_pkt) for each and the ratio B/A.

  bench/ab_compare.py OLD/bench/bench_fastpath build/bench/bench_fastpath \
      --filter 'bm_pipeline_encap/32$|bm_classify_uplink/32$' --rounds 6
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile


def run(binary, flt, min_time, counter):
    # JSON to a file: the binaries' stdout also carries EAL's log.
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, f"--benchmark_filter={flt}", f"--benchmark_min_time={min_time}",
                        f"--benchmark_out={out.name}", "--benchmark_out_format=json"],
                       check=True, capture_output=True)
        return {b["name"]: b[counter] for b in json.load(out)["benchmarks"] if counter in b}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--filter", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--min-time", default="0.5")
    ap.add_argument("--counter", default="cycles_per_pkt")
    args = ap.parse_args()
    got = {"a": {}, "b": {}}
    for r in range(args.rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        for which in order:
            for name, v in run(getattr(args, which), args.filter, args.min_time, args.counter).items():
                got[which].setdefault(name, []).append(v)
    print(f"{'benchmark':32} {'A median':>10} {'B median':>10} {'B/A':>7}   ({args.counter}, {args.rounds} rounds)")
    for name in got["a"]:
        if name not in got["b"]:
            continue
        ma, mb = statistics.median(got["a"][name]), statistics.median(got["b"][name])
        print(f"{name:32} {ma:10.2f} {mb:10.2f} {mb / ma:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
