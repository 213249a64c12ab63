#!/usr/bin/env bash
# Sets everything up and shows what Reef does: builds, starts a 4-node cluster on loopback,
# shows every member, kills one node with SIGKILL and shows the others declare it dead, counts on
# a replicated counter while its group's leader is killed, sends messages to a durable Lua actor
# while the node running it is killed, runs a process of actors, runs parallel jobs (native and
# Lua), runs the deterministic simulator, then stops the cluster with a graceful leave.
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

step "a replicated counter: reef kv incr demo-counter, once through each node"
for n in 1 2 3 4; do
  printf 'through node %s: ' "$n"
  "$reef" kv incr demo-counter --node "$n"
done
step "its replica group, as node 1 sees it (reef kv group demo-counter)"
"$reef" kv group demo-counter

# The node number of the group's leader: match the leader id against each node's id.
leader_id=$("$reef" kv group demo-counter --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"])')
leader_node=""
for n in 1 2 3 4; do
  if [ "$("$reef" status --node "$n" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_id"])')" = "$leader_id" ]; then
    leader_node=$n
  fi
done
other=$(( leader_node % 4 + 1 ))
leader_pid=$("$reef" status --node "$leader_node" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
step "kill -9 the counter's leader (node $leader_node) and keep counting through node $other"
kill -9 "$leader_pid"
for _ in 1 2 3; do
  printf 'through node %s: ' "$other"
  "$reef" kv incr demo-counter --node "$other"
done
step "the group after the failover: a new leader, and the dead member replaced"
"$reef" kv group demo-counter --node "$other"
"$reef" up --nodes 4 >/dev/null

step "a durable Lua actor (examples/counter.lua): reef spawn, then a message through each node"
"$reef" spawn demo-actor examples/counter.lua
for n in 1 2 3 4; do
  "$reef" send demo-actor '{"add": 10}' --node "$n"
done
"$reef" state demo-actor
# The node running the actor: its inspect answer names it by short id.
actor_label=$("$reef" state demo-actor --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
actor_node=""
for n in 1 2 3 4; do
  case "$("$reef" status --node "$n" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_id"])')" in
    "$actor_label"*) actor_node=$n ;;
  esac
done
actor_other=$(( actor_node % 4 + 1 ))
actor_pid=$("$reef" status --node "$actor_node" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
step "kill -9 the node running the actor (node $actor_node) and keep sending through node $actor_other"
kill -9 "$actor_pid"
# One client id for this run; a message that times out is sent again with the same id, so it is
# applied once whatever happened to the first attempt.
client=$(( (RANDOM << 15 | RANDOM) + 1 ))
for seq in 1 2 3; do
  until "$reef" send demo-actor '{"add": 1}' --node "$actor_other" --request-id "$client:$seq"; do
    sleep 0.5
  done
done
printf 'state after the failover (40 + 3 = 43, each message applied once): '
"$reef" state demo-actor --node "$actor_other" | tr -d ' \n'; echo
"$reef" up --nodes 4 >/dev/null

step "a process: reef run examples/ping_pong.lua 5 (its start event spawns ping and pong)"
process=$("$reef" run examples/ping_pong.lua 5)
sleep 2
"$reef" ps
"$reef" kill "$process"

step "a parallel job over every node: reef job pi 400000000 --seed 1 (same seed, same digits)"
"$reef" job pi 400000000 --seed 1
step "the same kernel in Lua, as a map/reduce job: reef job run examples/jobs/pi.lua (the same hits)"
"$reef" job run examples/jobs/pi.lua --range 0:4000000 --seed 1
"$reef" job pi 4000000 --seed 1 2>/dev/null | sed 's/^/native kernel over the same range: /'

step "the same membership code in the deterministic simulator (reef-sim --nodes 64 --seed 1)"
"$bin/reef-sim" --nodes 64 --seed 1
step "replica groups in the simulator: crashes, partitions, member changes, checked for linearizability"
"$bin/reef-sim" --scenario kv-linearizability --nodes 5 --seed 1

if [ "$keep" -eq 1 ]; then
  step "the cluster keeps running; try: $reef peers --node 2; stop it with: $reef down"
else
  step "stopping the cluster with a graceful leave (reef down)"
  "$reef" down
fi
