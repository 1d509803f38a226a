"""Shares of the server process's samples in `perf script -F comm,pid,tid,ip,sym` output.

    python3 shares.py RUN/all.script [FUNCTION ...]

The server is the process with a `yeyak-booking` thread; a sample counts for a function when
the function is anywhere on its stack. Each function's share is followed by how it splits over
the threads whose stacks hold it."""
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
            parts = line.strip().split(" ", 1)
            current[1].append(parts[-1])
    else:
        if current:
            samples.append(current)
        current = (line.split(), [])
if current:
    samples.append(current)

server_pid = next(h[1].split("/")[0] for h, _ in samples if h[0] == "yeyak-booking")
server = [(h, s) for h, s in samples if h[1].split("/")[0] == server_pid]
print(f"{sys.argv[1]}: {len(samples)} samples, the server {len(server)}")
threads = collections.Counter(h[0] for h, _ in server)
for name, n in threads.most_common(5):
    print(f"  thread {name:<16} {100 * n / len(server):5.1f}%")
for function in sys.argv[2:]:
    by_thread = collections.Counter(
        h[0] for h, stack in server if any(function in frame for frame in stack)
    )
    n = sum(by_thread.values())
    split = ", ".join(f"{name} {100 * k / len(server):.2f}%" for name, k in by_thread.most_common())
    print(f"  {100 * n / len(server):5.2f}%  {function}  ({split})")
