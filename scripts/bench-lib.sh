# What the benchmark scripts share: ports, waiting for a server, CPU and memory of a process,
# reading wrk's report. Sourced (not run) by scripts/bench-*; each script sets `die` and `log`.

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if port_free "$p"; then echo "$p"; return; fi
  done
  die "no free port found"
}

wait_up() { # url
  for _ in $(seq 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  die "server at $1 did not come up"
}

# CPU time a process (all its threads) has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Of it, the process's own work (user time), without the kernel's.
user_ticks() { awk '{ print $14 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

to_ms() { # "512.00us" / "1.20ms" / "1.01s" -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}
parse_wrk() { # file -> "rps p50_ms p99_ms errors"
  local rps p50 p99 non2xx sockerr
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$1")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$1")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$1")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$1")
  sockerr=$(awk '/Socket errors/ {print $0}' "$1")
  echo "$rps $p50 $p99 ${non2xx:-0}${sockerr:+ ($sockerr)}"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Server CPU (µs) per request of a wrk run against a process: cpu_per_request pid_ticks_before
# pid_ticks_after wrk_report_file
cpu_per_request() {
  local requests
  requests=$(awk '/requests in/ {print $1}' "$3")
  awk -v t="$(($2 - $1))" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'
}
