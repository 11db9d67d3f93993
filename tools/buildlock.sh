#!/usr/bin/env bash
# Usage: tools/buildlock.sh MAKE_PID   (called by the Makefile at parse time)
# Take .build/build.lock (flock) for as long as process MAKE_PID lives. Prints nothing when this build holds
# the lock, or one line naming the other build when one is already running in this folder.
set -u
pid=$1
mkdir -p .build
lock=.build/build.lock owner=.build/build.owner
exec 9>>"$lock"
if ! flock -n 9; then
  other=$(cat "$owner" 2>/dev/null || true)
  other_pid=${other%% *}
  if [ "$other_pid" = "$pid" ]; then exit 0; fi  # make re-executed itself (same pid) after writing pipeline.mk
  if [ -n "$other_pid" ] && ! kill -0 "$other_pid" 2>/dev/null; then
    # that build has ended; its lock holder notices within a second
    flock -w 10 9 || { echo "build lock .build/build.lock still held after the build (pid $other_pid) ended; remove it"; exit 0; }
  else
    echo "another build is running in this folder (make pid ${other_pid:-?}, started ${other#* }): wait for it to finish or stop it, then run make again"
    exit 0
  fi
fi
echo "$pid $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$owner"
# The lock lives on in a background process holding fd 9 until make exits (stdout closed: make does not wait).
tail --pid="$pid" -f /dev/null >/dev/null 2>&1 </dev/null &
exit 0
