#!/usr/bin/env python3
"""Replays a run's admissions against other ways of estimating the admission rate for the wait
shown (W5), to ask whether a different estimator would have kept more of the waits shown.

    python3 bench/loadtest-53-54-2026-12-07-milan/eta_estimators.py OUT/report.json [...]

From the report's one-second samples (people admitted so far, waiting, arrived) it rebuilds who
was shown a first wait when: at the opening everyone in the pre-queue, at places spread over the
line; after it each second's new arrivals, at the back. For each, the wait shown is
`position / estimated rate` and the wait had is the time until the admitted count passed their
rank (no poll delay: the generator's report adds up to one). It prints the same kept / later /
earlier shares as the report's "Waits shown and waits had" table (kept: within 25% or 30 s).

The estimators: the server's (an average of each tick's admissions over the ticks with people
waiting, decaying with a time constant of 30 s, `queue::Controller`) and the same with other
time constants, with a warm-up before any wait is shown, the cumulative average since the
opening, and their larger and smaller. With 30 s it reproduces the report's table of the full
night within two points (20.4 / 47.3 / 32.3% against 19.1 / 46.8 / 34.2% measured).
"""
import bisect
import json
import math
import sys

TOLERANCE_SHARE = 0.25
TOLERANCE_FLOOR_S = 30.0
PLACES_PER_GROUP = 20


def load(path):
    samples = json.load(open(path))["samples"]
    return ([s["t_s"] for s in samples], [s["admitted"] for s in samples],
            [s["waiting"] for s in samples], [s["arrivals"] for s in samples])


def decaying(t, admitted, waiting, tau_s, warm_s=0.0):
    """The rate each second: admissions per second over the seconds with people waiting,
    weighted by exp(-age / tau_s) (tau_s None: all alike), bias-corrected as the server's is;
    0 until warm_s seconds of it were seen."""
    out = [0.0] * len(t)
    num = den = seen = 0.0
    for i in range(1, len(t)):
        dt = t[i] - t[i - 1]
        if t[i] > 0 and waiting[i - 1] > 0 and dt > 0:
            sample = (admitted[i] - admitted[i - 1]) / dt
            seen += dt
            keep = 1.0 if tau_s is None else math.exp(-dt / tau_s)
            weight = dt if tau_s is None else 1.0 - keep
            num = keep * num + weight * sample
            den = keep * den + weight
        out[i] = num / den if den > 0 and seen >= warm_s else 0.0
    return out


def first_waits(t, admitted, waiting, arrivals, rate):
    """(weight, shown_s, had_s) for the first wait each group of people was shown."""
    pending = 0.0
    for i in range(1, len(t)):
        if t[i] <= 0:
            continue
        if t[i - 1] <= 0:
            pending = waiting[i]  # the pre-queue, placed at the opening
            spread = True
        else:
            pending += max(arrivals[i] - arrivals[i - 1], 0)
        if rate[i] <= 0 or pending <= 0:
            continue
        for m in range(1, PLACES_PER_GROUP + 1):
            if spread:
                place = waiting[i] * m / PLACES_PER_GROUP
            else:
                place = waiting[i] - pending * (m - 0.5) / PLACES_PER_GROUP
            place = max(place, 1.0)
            j = bisect.bisect_left(admitted, admitted[i] + place, lo=i)
            if j < len(admitted):
                yield pending / PLACES_PER_GROUP, place / rate[i], t[j] - t[i]
        pending, spread = 0.0, False


def judge(waits):
    kept = later = earlier = total = 0.0
    ratios = []
    for weight, shown, had in waits:
        tolerance = max(shown * TOLERANCE_SHARE, TOLERANCE_FLOOR_S)
        total += weight
        if had > shown + tolerance:
            later += weight
        elif had < shown - tolerance:
            earlier += weight
        else:
            kept += weight
        ratios.append((had / max(shown, 1.0), weight))
    ratios.sort()

    def quantile(q):
        running = 0.0
        for ratio, weight in ratios:
            running += weight
            if running >= q * total:
                return ratio
        return float("nan")

    return (f"kept {kept / total:6.1%}  later {later / total:6.1%}  earlier {earlier / total:6.1%}"
            f"  had/shown p10 {quantile(0.1):.2f} p50 {quantile(0.5):.2f} p90 {quantile(0.9):.2f}")


def main(paths):
    for path in paths:
        t, admitted, waiting, arrivals = load(path)
        ewma = lambda tau, warm=0.0: decaying(t, admitted, waiting, tau, warm)
        since_opening = ewma(None)
        estimators = {
            "30 s (the server's)": ewma(30),
            "60 s": ewma(60),
            "120 s": ewma(120),
            "300 s": ewma(300),
            "30 s, shown after 10 s": ewma(30, 10),
            "120 s, shown after 30 s": ewma(120, 30),
            "since the opening": since_opening,
            "max(30 s, since opening)": [max(a, b) for a, b in zip(ewma(30), since_opening)],
            "min(30 s, since opening)": [min(a, b) for a, b in zip(ewma(30), since_opening)],
        }
        print(path)
        for name, rate in estimators.items():
            print(f"  {name:26} {judge(first_waits(t, admitted, waiting, arrivals, rate))}")


if __name__ == "__main__":
    main(sys.argv[1:])
