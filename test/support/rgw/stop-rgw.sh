#!/bin/bash
# Stop the cluster start-rgw.sh started in BASE_DIR by the pids in BASE_DIR/run, then delete
# BASE_DIR (unless KEEP=1). The cluster is throwaway, so by default the daemons get SIGKILL at
# once (a clean shutdown takes ~7 s for radosgw alone); GRACEFUL=1 sends SIGTERM first and
# waits up to 10 s for them.
# Usage: stop-rgw.sh BASE_DIR
BASE=${1:?usage: stop-rgw.sh BASE_DIR}

alive() {  # a zombie (dead, not yet reaped by its new parent) counts as gone
  [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}
wait_gone() {  # wait_gone <tenths of a second> pids...
  local tries=$1; shift
  for _ in $(seq 1 "$tries"); do
    local any=0
    for pid in "$@"; do alive "$pid" && any=1; done
    [ "$any" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}

pids=()
for f in "$BASE"/run/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && pids+=("$pid")
done
if [ ${#pids[@]} -gt 0 ]; then
  if [ "${GRACEFUL:-0}" = 1 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null
    wait_gone 100 "${pids[@]}"
  fi
  kill -KILL "${pids[@]}" 2>/dev/null
  wait_gone 50 "${pids[@]}" || echo "some of ${pids[*]} are still alive" >&2
fi
[ "${KEEP:-0}" = 1 ] || rm -rf "$BASE"
