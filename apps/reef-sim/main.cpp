// reef-sim: the deterministic whole-cluster simulator's command line.
//
//   reef-sim [--scenario NAME] [--nodes N] [--seed S | --seeds A:B] [--duration SECONDS]
//            [--loss P] [--check-determinism] ...
//
// Runs the real membership code of N nodes on a virtual clock and a simulated network (sim/),
// prints a short report per run and, as the last line, `trace-hash: <16 hex digits>`. Exit status:
// 0 when every run passed its checks, 1 on a violation (the seed and the command that reproduces
// it are printed), 2 on a usage error.

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sim/scenario.hpp"
#include "sim/trace.hpp"

namespace {

using reef::sim::scenario;
using reef::sim::scenario_options;
using reef::sim::scenario_result;

struct command_line {
    std::string scenario_name;
    std::size_t nodes_count = 0;
    std::optional<std::uint64_t> seed;
    std::string seeds_range;
    std::optional<double> duration_seconds;
    std::optional<double> loss;
    std::optional<double> slow_factor;
    std::optional<double> cpu_cost_ms;
    std::string event_log_path;
    bool check_determinism = false;
    bool quiet = false;
    bool skip_invariants = false;
};

// Written before each run so that an abort inside the state machine (a REEF_ASSERT) still tells
// which seed failed and how to replay it. Only async-signal-safe calls in the handler.
char abort_note[1024] = {};

extern "C" void on_abort(int signal_number) {
    const std::size_t length = std::strlen(abort_note);
    if (length > 0) {
        static_cast<void>(write(STDERR_FILENO, abort_note, length));
    }
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

std::string reproduce_command(const command_line& args, const scenario& chosen,
                              std::uint64_t seed) {
    const std::size_t nodes = args.nodes_count != 0 ? args.nodes_count : chosen.default_nodes;
    std::string command =
        fmt::format("reef-sim --scenario {} --nodes {} --seed {}", chosen.name, nodes, seed);
    if (args.duration_seconds) {
        command += fmt::format(" --duration {}", *args.duration_seconds);
    }
    if (args.loss) {
        command += fmt::format(" --loss {}", *args.loss);
    }
    if (args.slow_factor) {
        command += fmt::format(" --slow-factor {}", *args.slow_factor);
    }
    if (args.cpu_cost_ms) {
        command += fmt::format(" --cpu-cost-ms {}", *args.cpu_cost_ms);
    }
    if (args.skip_invariants) {
        command += " --skip-invariant-checks";
    }
    return command;
}

scenario_options options_for(const command_line& args, std::uint64_t seed, std::FILE* out,
                             std::FILE* event_log) {
    scenario_options options;
    options.nodes_count = args.nodes_count;
    options.seed = seed;
    options.duration_seconds = args.duration_seconds;
    options.loss = args.loss;
    options.slow_factor = args.slow_factor;
    options.cpu_cost_ms = args.cpu_cost_ms;
    options.check_invariants = !args.skip_invariants;
    options.out = out;
    options.event_log = event_log;
    return options;
}

scenario_result run_once(const command_line& args, const scenario& chosen, std::uint64_t seed,
                         std::FILE* out, std::FILE* event_log) {
    const std::string note = fmt::format(
        "reef-sim: aborted in scenario {} with seed {}\nreproduce: {}\n", chosen.name, seed,
        reproduce_command(args, chosen, seed));
    std::snprintf(abort_note, sizeof(abort_note), "%s", note.c_str());
    const auto started = std::chrono::steady_clock::now();
    scenario_result result = chosen.run(options_for(args, seed, out, event_log));
    const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
    if (out != nullptr) {
        fmt::print(out, "  wall time {:.2f} s ({:.0f}x faster than real time)\n", wall.count(),
                   result.simulated_seconds / std::max(wall.count(), 1e-9));
    }
    if (!result.ok) {
        fmt::print("FAILED: scenario {}, seed {}: {}\n", chosen.name, seed, result.failure);
        fmt::print("reproduce: {}\n", reproduce_command(args, chosen, seed));
    }
    std::fflush(stdout);
    return result;
}

// Same seed twice must give the same trace hash; the next seed must give another one.
bool check_determinism(const command_line& args, const scenario& chosen, std::uint64_t seed,
                       std::FILE* out, std::uint64_t& hash) {
    const scenario_result first = run_once(args, chosen, seed, out, nullptr);
    const scenario_result again = run_once(args, chosen, seed, nullptr, nullptr);
    const scenario_result other = run_once(args, chosen, seed + 1, nullptr, nullptr);
    hash = first.trace_hash;
    const bool same = first.trace_hash == again.trace_hash;
    const bool differs = other.trace_hash != first.trace_hash;
    fmt::print("determinism: seed {} twice -> {:016x} and {:016x} ({}); seed {} -> {:016x} ({})\n",
               seed, first.trace_hash, again.trace_hash, same ? "same" : "DIFFERENT", seed + 1,
               other.trace_hash, differs ? "different" : "SAME: the seed does not reach the run");
    if (!same) {
        fmt::print("FAILED: seed {} is not reproducible\nreproduce: {} --check-determinism\n",
                   seed, reproduce_command(args, chosen, seed));
    }
    return first.ok && again.ok && other.ok && same && differs;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(const std::string& text) {
    const auto colon = text.find(':');
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    try {
        std::size_t used_first = 0;
        std::size_t used_last = 0;
        const std::string first_text = text.substr(0, colon);
        const std::string last_text = text.substr(colon + 1);
        const std::uint64_t first = std::stoull(first_text, &used_first);
        const std::uint64_t last = std::stoull(last_text, &used_last);
        if (used_first != first_text.size() || used_last != last_text.size() || last < first) {
            return std::nullopt;
        }
        return std::make_pair(first, last);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string scenario_list() {
    std::string text = "Scenarios:\n";
    for (const scenario& entry : reef::sim::scenarios()) {
        text += fmt::format("  {:<11} {}\n", entry.name, entry.summary);
        text += fmt::format("  {:<11} (defaults: {} nodes, {} s, loss {})\n", "",
                            entry.default_nodes, entry.default_duration_seconds,
                            entry.default_loss);
    }
    text += "\nThe last line of every run is `trace-hash: <16 hex digits>`; the same seed gives "
            "the same hash.\nOn a violation the seed and the command that reproduces it are "
            "printed and the exit status is 1.";
    return text;
}

} // namespace

int main(int argc, char** argv) {
    command_line args;
    args.scenario_name = std::string(reef::sim::scenarios().front().name);
    CLI::App app{"reef-sim: deterministic simulation of a whole Reef cluster (real membership "
                 "code, virtual clock, simulated network with faults)"};
    app.footer(scenario_list());
    app.add_option("--scenario", args.scenario_name, "Scenario to run (listed below)");
    app.add_option("--nodes", args.nodes_count, "Cluster size (default: the scenario's)")
        ->check(CLI::Range(std::size_t{1}, reef::sim::dht_nodes_count_max));
    auto* seed_option = app.add_option("--seed", args.seed, "Seed of the run (default: random)");
    app.add_option("--seeds", args.seeds_range,
                   "Run seeds A through B (inclusive), e.g. 1:100; every seed divisible by 20 is "
                   "run twice and must give the same trace hash")
        ->excludes(seed_option);
    app.add_option("--duration", args.duration_seconds,
                   "Length of the scenario's main phase in simulated seconds")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--loss", args.loss, "Message loss probability on every link")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--slow-factor", args.slow_factor, "loss-slow: how much slower the slow node is")
        ->check(CLI::Range(1.0, 1000.0));
    app.add_option("--cpu-cost-ms", args.cpu_cost_ms,
                   "Base processing time of one input on every node, in ms")
        ->check(CLI::Range(0.0, 1000.0));
    app.add_flag("--check-determinism", args.check_determinism,
                 "Run each seed twice (same trace hash required) and the next seed once (a "
                 "different hash required)");
    app.add_option("--event-log", args.event_log_path,
                   "Write every simulated event to this file (one line each)");
    app.add_flag("--skip-invariant-checks", args.skip_invariants,
                 "Do not call swim::check_invariants() after every step (faster, less safe)");
    app.add_flag("-q,--quiet", args.quiet, "Print only failures and the trace hash");
    CLI11_PARSE(app, argc, argv);

    const scenario* chosen = reef::sim::find_scenario(args.scenario_name);
    if (chosen == nullptr) {
        fmt::print(stderr, "reef-sim: unknown scenario '{}'\n{}\n", args.scenario_name,
                   scenario_list());
        return 2;
    }
    if (args.nodes_count > reef::sim::nodes_max(*chosen)) {
        fmt::print(stderr, "reef-sim: scenario {} accepts at most {} nodes\n", chosen->name,
                   reef::sim::nodes_max(*chosen));
        return 2;
    }
    std::vector<std::uint64_t> seeds;
    if (!args.seeds_range.empty()) {
        const auto range = parse_range(args.seeds_range);
        if (!range || range->second - range->first >= 1'000'000) {
            fmt::print(stderr, "reef-sim: --seeds wants A:B with A <= B (at most a million "
                               "seeds), got '{}'\n",
                       args.seeds_range);
            return 2;
        }
        for (std::uint64_t seed = range->first; seed <= range->second; ++seed) {
            seeds.push_back(seed);
        }
    } else if (args.seed) {
        seeds.push_back(*args.seed);
    } else {
        std::random_device entropy;
        const std::uint64_t seed = (static_cast<std::uint64_t>(entropy()) << 32U) | entropy();
        fmt::print("reef-sim: no --seed given, using seed {}\n", seed);
        seeds.push_back(seed);
    }
    std::FILE* event_log = nullptr;
    if (!args.event_log_path.empty()) {
        event_log = std::fopen(args.event_log_path.c_str(), "w");
        if (event_log == nullptr) {
            fmt::print(stderr, "reef-sim: cannot write {}: {}\n", args.event_log_path,
                       std::strerror(errno));
            return 2;
        }
    }
    std::signal(SIGABRT, on_abort);

    std::FILE* out = args.quiet ? nullptr : stdout;
    reef::sim::trace_hasher combined;
    std::uint64_t last_hash = 0;
    bool ok = true;
    for (const std::uint64_t seed : seeds) {
        std::uint64_t hash = 0;
        if (args.check_determinism) {
            ok = check_determinism(args, *chosen, seed, out, hash);
        } else {
            const scenario_result result = run_once(args, *chosen, seed, out, event_log);
            ok = result.ok;
            hash = result.trace_hash;
            // In a sweep, one seed in twenty is replayed and must retrace the same steps.
            if (ok && seeds.size() > 1 && seed % 20 == 0) {
                const scenario_result again = run_once(args, *chosen, seed, nullptr, nullptr);
                if (again.trace_hash != hash) {
                    fmt::print("FAILED: seed {} replayed to trace {:016x}, first run {:016x}\n"
                               "reproduce: {} --check-determinism\n",
                               seed, again.trace_hash, hash,
                               reproduce_command(args, *chosen, seed));
                    ok = false;
                }
            }
        }
        if (seeds.size() > 1) {
            fmt::print("seed {}: {} trace {:016x}\n", seed, ok ? "ok" : "FAILED", hash);
        }
        combined.add_u64(hash);
        last_hash = hash;
        if (!ok) {
            break;
        }
    }
    if (event_log != nullptr) {
        std::fclose(event_log);
    }
    fmt::print("{}\n", ok ? "ok" : "violation");
    fmt::print("trace-hash: {:016x}\n", seeds.size() > 1 ? combined.value() : last_hash);
    return ok ? 0 : 1;
}
