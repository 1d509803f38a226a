#!/usr/bin/env bash
# Alternates wrk runs over several yeyak builds and nginx, each server started once, on the
# same machine in the same run: how bench/status-2026-12-06-socket/ compared two builds.
#
#   NGINX_URL=http://127.0.0.1:PORT/ bash alternate.sh ROUNDS SECONDS NAME=BINARY [NAME=BINARY ...]
#
# Each build: `taskset -c 0 BINARY serve --worker-threads 1` on a fresh data directory with the
# waiting branch's opening (opened an hour ago, one person at a time, a 1 s show-up window, a
# second of arrivals ahead of the ticket), as scripts/bench-status starts it. nginx must already
# be running pinned to CPU 0 and answering the same bytes (scripts/bench-status's config). Each
# round runs `taskset -c 1 wrk -t1 -c64 -dSECONDS` on every build's status path with its own
# ticket, then on nginx, and prints requests/s.
set -euo pipefail
ROUNDS=$1; SECS=$2; shift 2
: "${NGINX_URL:?NGINX_URL is needed}"
DIR=$(mktemp -d /tmp/alternate.XXXXXX)
cd "$DIR"
cat >opening.json <<EOF2
{"prequeue_starts_at": "$(date -u -d '-2 hours' +%FT%TZ)", "opens_at": "$(date -u -d '-1 hour' +%FT%TZ)", "max_active": 1}
EOF2
echo 'wrk.method = "POST"' >arrive.lua
declare -A PORT TICKET
names=()
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
port=18200
for spec in "$@"; do
  name=${spec%%=*}; bin=${spec#*=}; port=$((port + 1)); names+=("$name"); PORT[$name]=$port
  mkdir "d-$name"
  taskset -c 0 "$bin" serve --worker-threads 1 --listen "127.0.0.1:$port" --data-dir "d-$name" \
    --tickets-per-address-minute 0 --opening opening.json --show-up-window-s 1 >"serve-$name.log" 2>&1 &
  PIDS+=($!)
  sleep 2
  taskset -c 1 wrk -t1 -c16 -d1s -s arrive.lua "http://127.0.0.1:$port/api/v1/queue/arrive" >/dev/null
  TICKET[$name]=$(curl -s -X POST "http://127.0.0.1:$port/api/v1/queue/arrive" | sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p')
done
sleep 1
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  for name in "${names[@]}" nginx; do
    if [ "$name" = nginx ]; then
      url=$NGINX_URL; ticket=${TICKET[${names[0]}]}
    else
      url=http://127.0.0.1:${PORT[$name]}/api/v1/queue/status; ticket=${TICKET[$name]}
    fi
    rps=$(taskset -c 1 wrk -t1 -c64 "-d${SECS}s" -H "x-yeyak-ticket: $ticket" "$url" | awk '/Requests\/sec/ {print $2}')
    line="$line $name ${rps%.*}"
  done
  echo "$line $(vmstat 1 2 | tail -1 | awk '{print "steal", $17}')"
done
