#!/usr/bin/env bash
# Alternates wrk runs over several yeyak builds and nginx, as ../status-2026-12-06-socket/alternate.sh
# does (each build started once with the waiting branch's opening, its own queued ticket), and
# prints each run's requests/s with the server's user CPU and user + system CPU per request
# (from /proc/PID/stat over the run, divided by the requests wrk counted).
#
#   NGINX_URL=http://127.0.0.1:PORT/api/v1/queue/status NGINX_PID=WORKER_PID \
#     [APP=1 | BROWSER=1] bash alternate-cpu.sh ROUNDS SECONDS NAME=BINARY [NAME=BINARY ...]
#
# nginx must already be running pinned to CPU 0 and answering the same bytes (scripts/bench-status's
# config); NGINX_PID is its worker. Each poll carries its ticket header; APP=1 adds the headers
# scripts/bench-status's HEADERS=app sends, BROWSER=1 those of a phone's browser (for both servers).
set -euo pipefail
: "${NGINX_URL:?NGINX_URL is needed}" "${NGINX_PID:?NGINX_PID is needed}"
ROUNDS=$1; SECS=$2; shift 2
DIR=$(mktemp -d /tmp/cpualt.XXXXXX); cd "$DIR"
cat >opening.json <<EOF2
{"prequeue_starts_at": "$(date -u -d '-2 hours' +%FT%TZ)", "opens_at": "$(date -u -d '-1 hour' +%FT%TZ)", "max_active": 1}
EOF2
echo 'wrk.method = "POST"' >arrive.lua
declare -A PORT TICKET PID; names=(); PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
port=18400
for spec in "$@"; do
  name=${spec%%=*}; bin=${spec#*=}; port=$((port+1)); names+=("$name"); PORT[$name]=$port
  mkdir "d-$name"
  taskset -c 0 "$bin" serve --worker-threads 1 --listen "127.0.0.1:$port" --data-dir "d-$name" \
    --tickets-per-address-minute 0 --opening opening.json --show-up-window-s 1 >"serve-$name.log" 2>&1 &
  PID[$name]=$!; PIDS+=($!); sleep 2
  taskset -c 1 wrk -t1 -c16 -d1s -s arrive.lua "http://127.0.0.1:$port/api/v1/queue/arrive" >/dev/null
  TICKET[$name]=$(curl -s -X POST "http://127.0.0.1:$port/api/v1/queue/arrive" | sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p')
done
PID[nginx]=$NGINX_PID
EXTRA=(-H "User-Agent: Mozilla/5.0 (Linux; Android 13; SM-S911N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36" -H "Accept: */*" -H "Accept-Language: ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7" -H "Accept-Encoding: gzip, deflate, br" -H "Referer: https://yeyak.example/wait" -H "Sec-Fetch-Dest: empty" -H "Sec-Fetch-Mode: cors" -H "Sec-Fetch-Site: same-origin" -H "Sec-Ch-Ua-Mobile: ?1" -H "Sec-Ch-Ua-Platform: \"Android\"" -H "Cookie: yeyak_lang=ko; yeyak_waiting=AAAAAAAAAAAAAAAAAAAAAA")
[ -n "${BROWSER:-}" ] || EXTRA=()
if [ -n "${APP:-}" ]; then EXTRA=(-H "User-Agent: yeyak-android/1.0 okhttp/4.12.0" -H "Accept: application/json" -H "Accept-Language: ko-KR,ko;q=0.9,en;q=0.8" -H "Accept-Encoding: gzip" -H "x-yeyak-waiting-session: AAAAAAAAAAAAAAAAAAAAAA"); fi
cpu() { awk "{print \$14}" "/proc/$1/stat"; }
all() { awk "{print \$14+\$15}" "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  for name in "${names[@]}" nginx; do
    if [ "$name" = nginx ]; then url=$NGINX_URL; ticket=${TICKET[${names[0]}]}
    else url=http://127.0.0.1:${PORT[$name]}/api/v1/queue/status; ticket=${TICKET[$name]}; fi
    c0=$(cpu "${PID[$name]}"); a0=$(all "${PID[$name]}")
    out=$(taskset -c 1 wrk -t1 -c64 "-d${SECS}s" -H "x-yeyak-ticket: $ticket" "${EXTRA[@]}" "$url")
    c1=$(cpu "${PID[$name]}"); a1=$(all "${PID[$name]}")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    us=$(python3 -c "print(round(($c1-$c0)/$tck*1e6/$reqs,2))")
    tot=$(python3 -c "print(round(($a1-$a0)/$tck*1e6/$reqs,2))")
    line="$line $name ${rps%.*} user ${us}us all ${tot}us"
  done
  echo "$line"
done
