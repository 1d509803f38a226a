"""Shares of the server process's samples, by thread, in `perf script -F comm,pid,tid,ip,sym` output.

    python3 shares_by_thread.py RUN/all.script FUNCTION [FUNCTION ...]

The server is the process with a `yeyak-booking` thread; a sample counts for a function when the
function is anywhere on its stack. Prints each function's share of the server's samples and how
that share splits over the threads whose stacks hold it."""
import collections
import sys

samples, current = [], None
for line in open(sys.argv[1], errors="replace"):
    line = line.rstrip("\n")
    if not line.strip():
        if current:
            samples.append(current)
        current = None
    elif line[0] in " \t":
        if current is not None:
            current[1].append(line.strip().split(" ", 1)[-1])
    else:
        if current:
            samples.append(current)
        current = (line.split(), [])
if current:
    samples.append(current)

server_pid = next(h[1].split("/")[0] for h, _ in samples if h[0] == "yeyak-booking")
server = [(h, s) for h, s in samples if h[1].split("/")[0] == server_pid]
print(f"{sys.argv[1]}: {len(samples)} samples, the server {len(server)}")
for function in sys.argv[2:]:
    by_thread = collections.Counter(h[0] for h, s in server if any(function in f for f in s))
    total = sum(by_thread.values())
    split = ", ".join(f"{name} {100 * n / len(server):.2f}%" for name, n in by_thread.most_common())
    print(f"  {100 * total / len(server):5.2f}%  {function}  ({split})")
