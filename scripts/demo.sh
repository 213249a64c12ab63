#!/usr/bin/env bash
# Sets everything up and shows what Reef does: builds, starts a 4-node cluster on loopback,
# shows every member, kills one node with SIGKILL and shows the others declare it dead, runs the
# deterministic simulator on a small cluster, then stops the cluster with a graceful leave.
# Pass --keep to leave the cluster running afterwards (stop it with `build/release/bin/reef down`).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bash scripts/build.sh release --target reefd reef reef-sim
bin="$PWD/build/release/bin"
reef="$bin/reef"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting a 4-node cluster on 127.0.0.1 (reef up --nodes 4)"
"$reef" up --nodes 4
step "this node (reef status)"
"$reef" status
step "every member, as node 1 sees it (reef peers)"
"$reef" peers

victim_pid=$("$reef" status --node 3 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
victim_id=$("$reef" status --node 3 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["short_id"])')
step "kill -9 node 3 (pid $victim_pid, id $victim_id) and wait for the others to declare it dead"
kill -9 "$victim_pid"
start=$(date +%s.%N)
for _ in $(seq 1 200); do
  dead_on=0
  for n in 1 2 4; do
    if "$reef" peers --node "$n" --json | python3 -c "
import json,sys
m=[x for x in json.load(sys.stdin)['members'] if x['short_id']=='$victim_id']
sys.exit(0 if m and m[0]['state']=='dead' else 1)"; then dead_on=$((dead_on+1)); fi
  done
  [ "$dead_on" -eq 3 ] && break
  sleep 0.1
done
end=$(date +%s.%N)
python3 -c "import sys; print('all three survivors mark %s dead after %.2f s' % (sys.argv[1], float(sys.argv[3]) - float(sys.argv[2])))" "$victim_id" "$start" "$end"
"$reef" peers --node 2

step "restarting the cluster brings node 3 back with the same id and a higher incarnation"
"$reef" up --nodes 4
"$reef" peers

step "the same membership code in the deterministic simulator (reef-sim --nodes 64 --seed 1)"
"$bin/reef-sim" --nodes 64 --seed 1

if [ "$keep" -eq 1 ]; then
  step "the cluster keeps running; try: $reef peers --node 2; stop it with: $reef down"
else
  step "stopping the cluster with a graceful leave (reef down)"
  "$reef" down
fi
