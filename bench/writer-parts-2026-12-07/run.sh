#!/bin/bash
B=${YEYAK:-./target/release/yeyak}
for i in 1 2; do
  for p in 1 2 4; do
    echo "=== run $i parts $p $(date -u +%H:%M:%S)"
    $B bench --database postgres://postgres@127.0.0.1:5432/test --parts $p 2>/dev/null
  done
done
echo "=== done $(date -u +%H:%M:%S)"
