#!/usr/bin/env python3
"""The seconds of a replay where the server's memory jumped or the booking side's p99 rose.

    python3 jumps.py RUN_DIR [RUN_DIR ...]

Reads each run's report.json (one sample a second) and prints every second in which the
server's resident memory grew by more than 40 MB, or the booking side's p99 (as the server
measured it for the controller) was above 60 ms, with the waiting room's counts beside it.
"""
import json
import sys

for run in sys.argv[1:]:
    samples = json.load(open(f"{run}/report.json"))["samples"]
    print(run)
    for prev, x in zip(samples, samples[1:]):
        grew = x["server"]["rss_kb"] - prev["server"]["rss_kb"]
        if grew > 40_000 or x["latency_p99_ms"] > 60:
            print(
                f"  t={x['t_s']:6.1f}s arrivals {x['arrivals']:8.0f} (+{x['arrivals'] - prev['arrivals']:5.0f})"
                f"  limit {x['limit']:6.0f}  p99 {x['latency_p99_ms']:4.0f} ms"
                f"  bookings {x['bookings_total']:7.0f}  client in flight {x['client_in_flight']:5d}"
                f"  memory {x['server']['rss_kb'] / 1024:6.0f} MiB ({grew / 1024:+5.0f})"
            )
