#!/usr/bin/env python3
"""Where a profile's hash-table growth happened, and when.

    perf record -p <serve pid> -F 49 --call-graph dwarf,16384 -o perf.data -- sleep 560
    perf script -i perf.data -F comm,tid,time,ip,sym > script.txt
    python3 resizes.py script.txt

Counts the samples with hashbrown's resize in their stack by the first yeyak frame above it
and thread, then by second of the recording (49 samples are one second of one thread).
"""
import collections
import re
import sys

OURS = ("server::", "store::", "domain::", "queue::")
samples, current = [], None
for line in open(sys.argv[1]):
    if line.startswith("\t"):
        parts = line.strip().split(" ", 1)
        if current is not None and len(parts) == 2:
            current[2].append(parts[1])
    elif line.strip():
        m = re.match(r"\s*(\S+)\s+(\d+)\s+([\d.]+):", line)
        if m:
            current = [int(m.group(2)), float(m.group(3)), []]
            samples.append(current)
start = samples[0][1]
by_caller, by_second = collections.Counter(), collections.Counter()
for tid, t, stack in samples:
    if any("resize_inner" in f or "reserve_rehash" in f for f in stack):
        ours = [f for f in stack if f.startswith(OURS) or "::" in f and f.split("::")[0] in ("server", "store", "domain", "queue")]
        caller = ours[0] if ours else "(no yeyak frame: " + stack[-1] + ")"
        by_caller[(tid, caller)] += 1
        by_second[(int(t - start), tid, caller)] += 1
print("samples in a resize, by thread and first yeyak frame:")
for (tid, caller), n in by_caller.most_common(12):
    print(f"  {n:4d}  thread {tid}  {caller}")
print("seconds with 2 or more such samples:")
for (second, tid, caller), n in sorted(by_second.items()):
    if n >= 2:
        print(f"  {second:4d} s  {n:3d}  thread {tid}  {caller}")
