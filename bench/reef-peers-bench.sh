#!/usr/bin/env bash
# reef-peers-bench.sh — Reef's DHT figures for the peers-bench harness, in the same run as OpenDHT:
#
#   cd peers-bench && PB_EXTRA=/path/to/reef/bench/reef-peers-bench.sh ./run-all.sh [--out FILE]
#
# Prints `reef.<metric>: value unit` lines (bench/dht_latency.py: a 32-node cluster on 127.0.0.1,
# settle time, put and lookup latency, the control-socket round trip, and the simulator's memory
# per node at 10,000 nodes). Progress goes to stderr. It starts and stops only its own processes,
# by pid, and removes its temporary directory.
#
# Ratio lines against OpenDHT (`reef.vs_opendht.<metric>: ratio x`) need OpenDHT's figures of the
# same run. run-all.sh hands an extra script nothing but its stdout, so they are taken from
#   - PB_OPENDHT_FILE, a file holding the opendht.* lines, if set; else
#   - the file run-all.sh writes with --out (found on run-all.sh's command line; run-all.sh writes
#     OpenDHT's lines there before it starts this script).
# Without either, Reef's figures are printed alone; `bench/dht_latency.py --ratios SAVED_OUTPUT`
# prints the ratios afterwards from a saved run-all output.
#
# Settings: REEF_BIN_DIR (default: build/release/bin of this checkout, built with scripts/build.sh
# when missing), REEF_BENCH_ARGS (extra arguments for dht_latency.py, e.g. "--sim-nodes 0").
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The --out FILE of the run-all.sh that started this script, if any (absolute path).
run_all_out_file() {
    local pid=$PPID
    for _ in 1 2 3 4; do
        [ -r "/proc/$pid/cmdline" ] || return 1
        local -a argv=()
        mapfile -d '' -t argv <"/proc/$pid/cmdline"
        local i
        for ((i = 0; i < ${#argv[@]}; i++)); do
            case "${argv[$i]}" in */run-all.sh | run-all.sh) ;; *) continue ;; esac
            if [ "${argv[$((i + 1))]:-}" = "--out" ] && [ -n "${argv[$((i + 2))]:-}" ]; then
                local file="${argv[$((i + 2))]}"
                case "$file" in /*) ;; *) file="$(readlink "/proc/$pid/cwd")/$file" ;; esac
                echo "$file"
                return 0
            fi
            return 1
        done
        pid=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) || return 1
        [ -n "$pid" ] && [ "$pid" -gt 1 ] || return 1
    done
    return 1
}

opendht_file="${PB_OPENDHT_FILE:-}"
if [ -z "$opendht_file" ]; then
    opendht_file="$(run_all_out_file || true)"
fi
args=()
if [ -n "$opendht_file" ] && grep -q '^opendht\.' "$opendht_file" 2>/dev/null; then
    echo "[reef] ratios against OpenDHT's figures in $opendht_file" >&2
    args+=(--opendht-file "$opendht_file")
else
    echo "[reef] OpenDHT's figures of this run are not at hand: Reef's figures alone" >&2
fi
# shellcheck disable=SC2206  # REEF_BENCH_ARGS is split on purpose
args+=(${REEF_BENCH_ARGS:-})
exec python3 "$HERE/dht_latency.py" "${args[@]}"
