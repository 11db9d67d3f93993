#!/usr/bin/env bash
# Usage: tools/timed.sh LABEL COMMAND...  -- run COMMAND and print "[LABEL] done in N s" or the failure.
label=$1; shift
start=$(date +%s%N)
echo "[$label] ..." >&2
if "$@"; then
  awk -v l="$label" -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "[%s] done in %.1f s\n", l, (e - s) / 1e9 }' >&2
else
  rc=$?; echo "[$label] FAILED (exit $rc)" >&2; exit $rc
fi
