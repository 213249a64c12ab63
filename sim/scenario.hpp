#pragma once
// Named simulation workloads: each builds a cluster from the seed, injects its faults, runs its
// checkers and prints a short human report. A scenario returns ok = false with the violation when a
// checker fails; a bug inside the state machine (a REEF_ASSERT) aborts the process, and the caller
// prints the seed and the command that reproduces it before the run starts.
//
// Thread-safety: none; a run owns its cluster.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace reef::sim {

struct scenario_options {
    std::size_t nodes_count = 0; // 0: the scenario's default
    std::uint64_t seed = 1;
    std::optional<double> duration_seconds; // the scenario's main phase
    std::optional<double> loss;             // per-message loss probability on every link
    std::optional<double> slow_factor;      // loss-slow: how much slower the slow node is
    std::optional<double> cpu_cost_ms;      // base processing time of one input
    bool check_invariants = true;           // swim::check_invariants() after every step
    std::FILE* out = stdout;                // the human report; nullptr = quiet
    std::FILE* event_log = nullptr;         // every event as one line (debugging a seed)
};

struct scenario_result {
    bool ok = true;
    std::string failure;
    std::uint64_t trace_hash = 0;
    std::uint64_t events = 0;
    double simulated_seconds = 0.0;
};

struct scenario {
    std::string_view name;
    std::string_view summary;
    std::size_t default_nodes = 0;
    double default_duration_seconds = 0.0;
    double default_loss = 0.0;
    scenario_result (*run)(const scenario_options& options) = nullptr;
};

/// Every scenario, in the order `reef-sim --help` lists them; the first is the default.
std::span<const scenario> scenarios();
const scenario* find_scenario(std::string_view name);

/// Largest cluster a run accepts (the mirrored views are an n x n table).
inline constexpr std::size_t nodes_count_max = 5000;
/// The dht scenarios keep no n x n table: their limit is memory (about 200 KiB per node).
inline constexpr std::size_t dht_nodes_count_max = 200'000;
/// Largest cluster `chosen` accepts.
std::size_t nodes_max(const scenario& chosen);

} // namespace reef::sim
