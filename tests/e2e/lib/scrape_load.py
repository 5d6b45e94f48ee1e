#!/usr/bin/env python3
"""Does scraping slow vxrouted's workers? Alternates windows without and
with scraping of /metrics (one keep-alive connection, a scrape every
INTERVAL_S, 0 = back to back) while traffic runs, and compares between them
the node's forwarding rate (vxroute_encapsulated_total +
vxroute_decapsulated_total per second) and the workers' cost per packet
(busy TSC cycles per packet received).

usage: scrape_load.py URL ROUNDS WINDOW_S INTERVAL_S
Prints one "# ..." summary line and "ratio=R" (median forwarding rate while
scraped over median rate without) on the last line.
"""
import http.client
import statistics
import sys
import time
import urllib.parse

from prometheus_client.parser import text_string_to_metric_families


def main(url, rounds, window, interval):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)

    def get():
        conn.request("GET", u.path)
        r = conn.getresponse()
        body = r.read().decode()
        if r.status != 200:
            sys.exit("GET %s: HTTP %d" % (url, r.status))
        return body

    def sample():
        v = {"fwd": 0.0, "busy": 0.0, "rx": 0.0}
        for f in text_string_to_metric_families(get()):
            for s in f.samples:
                if s.name in ("vxroute_encapsulated_total", "vxroute_decapsulated_total"):
                    v["fwd"] += s.value
                elif s.name == "vxroute_worker_busy_cycles_total":
                    v["busy"] += s.value
                elif s.name == "vxroute_port_rx_packets_total":
                    v["rx"] += s.value
        return v, time.monotonic()

    rate = {False: [], True: []}
    cost = {False: [], True: []}
    scrapes, secs = 0, 0.0
    for _ in range(rounds):
        for scraped in (False, True):
            a, t0 = sample()
            if scraped:
                while time.monotonic() - t0 < window:
                    get()
                    scrapes += 1
                    if interval:
                        time.sleep(interval)
            else:
                time.sleep(window)
            b, t1 = sample()
            rate[scraped].append((b["fwd"] - a["fwd"]) / (t1 - t0))
            if b["rx"] > a["rx"]:
                cost[scraped].append((b["busy"] - a["busy"]) / (b["rx"] - a["rx"]))
            if scraped:
                secs += t1 - t0
    q, s = statistics.median(rate[False]), statistics.median(rate[True])
    cq = statistics.median(cost[False]) if cost[False] else 0
    cs = statistics.median(cost[True]) if cost[True] else 0
    print("# %.0f scrapes/s: forwarding %.0f pkt/s while scraped vs %.0f without (medians of %d windows of %.1f s; "
          "%s vs %s); worker busy cycles/packet %.0f vs %.0f"
          % (scrapes / secs, s, q, rounds, window, " ".join("%.0f" % x for x in rate[True]),
             " ".join("%.0f" % x for x in rate[False]), cs, cq))
    print("ratio=%.3f" % (s / q if q else 0))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
