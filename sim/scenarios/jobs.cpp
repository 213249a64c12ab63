// Scenario `jobs`: pi jobs (docs/design/jobs.md) on N simulated whole nodes, each offering one
// job slot. The driver (actor_cluster.hpp) runs the nodes as reefd does; this scenario plays
// reefd's runner threads: a run computes its range at a fixed simulated speed, for real with
// jobs::pi_hits, reports progress every progress_every of simulated time and its end when it
// reaches it. A stop ends a run silently; a shortened end applies unless the run is already past
// it (then it carries on to its old end). A crashed node's runs vanish with it.
//
// A few jobs are submitted during a fault phase of crashes, restarts, partitions and loss. On
// top of those, one node's runner stalls (its runs stop reporting for longer than a lease, then
// resume), and the node leading a job's coordinator is crashed. After healing, every job must
// end "done" with:
//  - value == pi_estimate(pi_hits(seed, 0, N), N) exactly, samples_done == N, finished_twice
//    == 0;
//  - finished chunks never computed again: the samples the runners computed for a job are at most
//    N + its reassigned_samples (lost tails) + what runs computed before they were stopped or
//    past a shortened end;
//  - no two nodes ever lead the same epoch of a job's (or the job table's) group, and members
//    that applied the same index hold the same committed record.
//
// A spawn retried through another node may create a second job (its name is made up by the node
// that takes it), so each attempt carries a seed of its own and the runners' work is counted per
// seed; the jobs nobody heard of are reported, not checked.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "reef/jobs/kernels.hpp"
#include "sim/scenarios/actor_cluster.hpp"
#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t jobs_count = 3;
constexpr std::uint64_t job_samples = 20'000'000;
/// Samples a runner computes per simulated second.
constexpr std::uint64_t runner_speed = 500'000;
constexpr duration progress_every = duration::milliseconds(200);
constexpr std::uint64_t samples_per_report =
    runner_speed * static_cast<std::uint64_t>(progress_every.ns()) / 1'000'000'000ULL;
/// Seeds of one job's spawn attempts: job_seed_base * (job + 1) + attempt.
constexpr std::uint64_t job_seed_base = 1'000'000;
constexpr duration settle_phase = duration::seconds(5);
constexpr duration spawn_every = duration::seconds(2);
/// The stalled runner pauses longer than a lease (3 s), so its chunk is taken over.
constexpr duration stall_length = duration::seconds(5);
constexpr duration inspect_every = duration::milliseconds(500);
constexpr duration liveness_max = duration::seconds(120);

/// One job the scenario submits, and what it learnt about it.
struct job {
    std::uint64_t attempts = 0;
    std::string name; // empty until a spawn was answered ok
    std::uint64_t seed = 0;
    actor_attempt spawning;
    instant next_spawn_at = instant::never();
    actor_attempt inspecting;
    instant next_inspect_at = instant::never();
    std::optional<actors::json> last_state;
    std::size_t watched = 0; // its index among the driver's watched actors
};

/// What the runners did for one seed.
struct work_books {
    std::uint64_t computed = 0;  // samples computed, over every run
    std::uint64_t stopped = 0;   // samples computed by runs that were then stopped
    std::uint64_t overshoot = 0; // samples past a shortened end that runs still computed
    std::uint64_t vanished = 0;  // samples computed by runs whose node crashed
    std::uint64_t runs = 0;
    std::uint64_t finished_runs = 0;
};

/// A run of a node's simulated runner.
struct sim_run {
    std::uint64_t seed = 0;
    std::uint64_t begin = 0;
    std::uint64_t through = 0;
    std::uint64_t end = 0;
    std::uint64_t old_end = 0; // the end before a shorten it was already past
    std::uint64_t hits = 0;
    instant next_report_at;
};

using run_key = std::tuple<node_index, std::uint32_t, std::uint64_t>; // node, life, run id

class jobs_run final : public actor_workload {
public:
    jobs_run(const scenario_options& options, std::size_t nodes_count)
        : cluster_(options, nodes_count, {"reef.jobs"}), paused_until_(nodes_count) {
        for (std::size_t j = 0; j < jobs_count; ++j) {
            jobs_.emplace_back();
        }
        cluster_.set_job_slots(1);
        cluster_.attach(*this);
        cluster_.start_all();
    }

    jobs_run(const jobs_run&) = delete;
    jobs_run& operator=(const jobs_run&) = delete;

    actor_cluster& cluster() { return cluster_; }
    const std::vector<job>& jobs() const { return jobs_; }
    const std::map<std::uint64_t, work_books>& books() const { return books_; }
    std::uint64_t runs_started() const { return runs_started_; }

    /// Submit job `index` now (retried until answered ok).
    void submit_job(std::size_t index) { jobs_[index].next_spawn_at = cluster_.now(); }

    /// Node `node`'s runner computes nothing until `until`.
    void stall(node_index node, instant until) { paused_until_[node] = until; }

    /// A node whose runner has a run going, if any.
    std::optional<node_index> busy_node() const {
        for (const auto& [key, run] : runs_) {
            const auto node = std::get<0>(key);
            if (cluster_.up(node) && cluster_.life(node) == std::get<1>(key)) {
                return node;
            }
        }
        return std::nullopt;
    }

    bool all_done() const {
        return std::all_of(jobs_.begin(), jobs_.end(), [](const job& one) {
            return one.last_state && one.last_state->value("status", "") == "done";
        });
    }

    instant next_work_at() const override {
        instant earliest = instant::never();
        for (const auto& one : jobs_) {
            earliest = std::min({earliest, one.next_spawn_at, one.next_inspect_at});
        }
        for (const auto& [key, run] : runs_) {
            earliest = std::min(earliest,
                                std::max(run.next_report_at, paused_until_[std::get<0>(key)]));
        }
        return earliest;
    }

    void work() override {
        for (auto& one : jobs_) {
            if (one.next_spawn_at <= now()) {
                spawn(one);
            }
            if (one.next_inspect_at <= now()) {
                const actors::json request = {{"op", "inspect"}, {"name", one.name}};
                one.inspecting = cluster_.submit(cluster_.random_node(), request, false);
                one.next_inspect_at = now() + inspect_every;
            }
        }
        std::vector<run_key> due;
        for (const auto& [key, run] : runs_) {
            if (std::max(run.next_report_at, paused_until_[std::get<0>(key)]) <= now()) {
                due.push_back(key);
            }
        }
        for (const auto& key : due) {
            advance(key); // reporting may stop or shorten other runs: look each up again
        }
    }

    bool answered(node_index via, std::uint32_t life, std::uint64_t id,
                  const std::string& text) override {
        for (auto& one : jobs_) {
            if (one.spawning.answers(via, life, id)) {
                one.spawning.live = false;
                spawned(one, text);
                return true;
            }
            if (one.inspecting.answers(via, life, id)) {
                one.inspecting.live = false;
                inspected(one, text);
                return true;
            }
        }
        return false;
    }

    void job_run(node_index node, std::uint32_t life, const node::job_run& effect) override {
        if (const auto* start = std::get_if<jobs::start_run>(&effect)) {
            if (start->kernel != jobs::pi_kernel || start->begin > start->end) {
                cluster_.fail(fmt::format("node {} was asked to run {} [{}, {})", node,
                                          start->kernel, start->begin, start->end));
                return;
            }
            const run_key key{node, life, start->run_id};
            sim_run run;
            run.seed = start->seed;
            // The run folds its samples into the chunk's hits before it (a checkpoint).
            run.hits = start->base.is_number_unsigned() ? start->base.get<std::uint64_t>() : 0;
            run.begin = start->begin;
            run.through = start->begin;
            run.end = start->end;
            run.old_end = start->end;
            run.next_report_at = now() + progress_every;
            if (!runs_.emplace(key, run).second) {
                cluster_.fail(fmt::format("node {} started run {} twice", node, start->run_id));
                return;
            }
            books_[start->seed].runs += 1;
            ++runs_started_;
            cluster_.trace().add_u64(start->begin);
            cluster_.trace().add_u64(start->end);
        } else if (const auto* stop = std::get_if<jobs::stop_run>(&effect)) {
            const auto found = runs_.find({node, life, stop->run_id});
            if (found != runs_.end()) {
                books_[found->second.seed].stopped += found->second.through - found->second.begin;
                runs_.erase(found);
            }
        } else if (const auto* shorten = std::get_if<jobs::shorten_run>(&effect)) {
            const auto found = runs_.find({node, life, shorten->run_id});
            if (found == runs_.end()) {
                return;
            }
            auto& run = found->second;
            if (shorten->end >= run.through) {
                run.end = std::min(run.end, shorten->end);
            } else if (shorten->end < run.end) {
                books_[run.seed].overshoot += run.end - shorten->end;
            }
        }
    }

private:
    instant now() const { return cluster_.now(); }

    void spawn(job& one) {
        // A new attempt gets a new seed: an earlier attempt that timed out may still have
        // created a job of its own, whose runs must not be counted as this one's.
        const std::size_t index = static_cast<std::size_t>(&one - jobs_.data());
        one.seed = job_seed_base * (index + 1) + one.attempts;
        one.attempts += 1;
        const actors::json request = {
            {"op", "spawn"},
            {"name", ""},
            {"name_prefix", "job-"},
            {"native", "reef.job"},
            {"args",
             {{"kernel", "pi"}, {"begin", 0}, {"end", job_samples}, {"seed", one.seed}}}};
        one.spawning = cluster_.submit(cluster_.random_node(), request, true);
        one.next_spawn_at = now() + actor_client_timeout;
    }

    void spawned(job& one, const std::string& text) {
        const auto parsed = parse_object(text);
        if (!parsed || !parsed->value("ok", false) || !(*parsed)["name"].is_string()) {
            cluster_.note_error(text);
            one.next_spawn_at =
                now() + uniform(cluster_.random(), actor_retry_pause_min, actor_retry_pause_max);
            return;
        }
        one.name = (*parsed)["name"].get<std::string>();
        one.next_spawn_at = instant::never();
        one.next_inspect_at = now();
        one.watched = watched_++;
        cluster_.watch(one.name);
        cluster_.trace().add_text(one.name);
    }

    void inspected(job& one, const std::string& text) {
        const auto parsed = parse_object(text);
        if (!parsed || !parsed->value("ok", false) || !(*parsed)["state"].is_object()) {
            cluster_.note_error(text);
            return;
        }
        const auto& state = (*parsed)["state"];
        if (state.value("finished_twice", std::uint64_t{0}) != 0) {
            cluster_.fail(fmt::format("{}: a chunk was finished twice: {}", one.name,
                                      state.dump()));
            return;
        }
        if (state.value("samples_done", std::uint64_t{0}) > job_samples) {
            cluster_.fail(fmt::format("{}: {} samples done, more than the job's {}", one.name,
                                      state.value("samples_done", std::uint64_t{0}),
                                      job_samples));
            return;
        }
        cluster_.trace().add_u64(state.value("samples_done", std::uint64_t{0}));
        one.last_state = state;
        if (state.value("status", "") == "done") {
            one.next_inspect_at = instant::never();
        }
    }

    /// Run `key` computes one more slice and reports it (or vanishes with its node).
    void advance(const run_key& key) {
        const auto found = runs_.find(key);
        if (found == runs_.end()) {
            return;
        }
        const auto [node, life, run_id] = key;
        auto& run = found->second;
        auto& book = books_[run.seed];
        if (!cluster_.up(node) || cluster_.life(node) != life) {
            book.vanished += run.through - run.begin;
            runs_.erase(found);
            return;
        }
        const std::uint64_t to = std::min(run.end, run.through + samples_per_report);
        run.hits += jobs::pi_hits(run.seed, run.through, to);
        book.computed += to - run.through;
        run.through = to;
        run.next_report_at = now() + progress_every;
        const auto through = run.through;
        const jobs::json partial = run.hits;
        if (through == run.end) {
            book.finished_runs += 1;
            runs_.erase(found);
            cluster_.job_finished(node, run_id, through, partial);
        } else {
            cluster_.job_progress(node, run_id, through, partial);
        }
    }

    actor_cluster cluster_;
    std::vector<job> jobs_;
    std::map<run_key, sim_run> runs_;
    std::map<std::uint64_t, work_books> books_; // per seed
    std::vector<instant> paused_until_;
    std::uint64_t runs_started_ = 0;
    std::size_t watched_ = 1; // "reef.jobs" is the first
};

/// A fault of this scenario's own, at a set instant of the fault phase.
struct planned {
    instant at;
    enum class kind : std::uint8_t { submit, stall, crash_coordinator } what = kind::submit;
    std::size_t job = 0;
};

scenario_result run_jobs(const scenario_options& options) {
    scenario_result outcome;
    const auto chosen = effective_of(options, jobs_scenario());
    report out(options.out);
    jobs_run run(options, chosen.nodes_count);
    actor_cluster& nodes = run.cluster();
    prng faults(options.seed ^ 0x6a6f6273ULL);
    out.line("jobs: {} nodes of 1 slot, {} pi jobs of {} samples, runners at {} samples/s, "
             "seed {}, {:.0f} s of faults, loss {:.3f}",
             chosen.nodes_count, jobs_count, job_samples, runner_speed, options.seed,
             chosen.main_phase.sec(), chosen.loss);
    const auto finish = [&](scenario_result result) {
        result.trace_hash = nodes.trace().value();
        result.events = nodes.events();
        result.simulated_seconds = nodes.now().ns() / 1e9;
        return result;
    };

    nodes.run_until(nodes.now() + settle_phase);
    nodes.net().set_loss(chosen.loss);
    nodes.net().set_reorder(0.1, duration::milliseconds(5));

    // The jobs start one by one; a runner stalls; the coordinator of job 0 loses its leader
    // twice, and another job's once.
    const instant start = nodes.now();
    std::vector<planned> plan;
    for (std::size_t j = 0; j < jobs_count; ++j) {
        plan.push_back({start + spawn_every.scaled(static_cast<double>(j)) +
                            duration::milliseconds(100),
                        planned::kind::submit, j});
    }
    plan.push_back({start + duration::seconds(4) + uniform(faults, duration::zero(),
                                                           duration::seconds(3)),
                    planned::kind::stall, 0});
    plan.push_back({start + duration::seconds(5) + uniform(faults, duration::zero(),
                                                           duration::seconds(2)),
                    planned::kind::crash_coordinator, 0});
    plan.push_back({start + duration::seconds(10) + uniform(faults, duration::zero(),
                                                            duration::seconds(3)),
                    planned::kind::crash_coordinator, 1 + faults.next_u64() % (jobs_count - 1)});
    plan.push_back({start + duration::seconds(13) + uniform(faults, duration::zero(),
                                                            duration::seconds(3)),
                    planned::kind::crash_coordinator, 0});
    // A step that finds nothing to act on (no run going, a job not named yet, no leader) is
    // tried again a little later, until the fault phase ends.
    const instant faults_end = start + chosen.main_phase;
    std::size_t stalls = 0;
    std::size_t coordinator_crashes = 0;
    const auto carry_out = [&](const planned& step) {
        if (step.what == planned::kind::submit) {
            run.submit_job(step.job);
            return true;
        }
        if (step.what == planned::kind::stall) {
            const auto node = run.busy_node();
            if (node) {
                run.stall(*node, nodes.now() + stall_length);
                ++stalls;
            }
            return node.has_value();
        }
        // The job asked for first; when its group has no leader now, any other job's.
        std::optional<node_index> leader;
        for (std::size_t j = 0; j < jobs_count && !leader; ++j) {
            const auto& name = run.jobs()[(step.job + j) % jobs_count].name;
            leader = name.empty() ? std::nullopt : nodes.leader_of(name);
        }
        if (leader) {
            nodes.crash(*leader);
            ++coordinator_crashes;
        }
        return leader.has_value();
    };
    const auto earliest = [&] {
        return std::min_element(plan.begin(), plan.end(),
                                [](const planned& a, const planned& b) { return a.at < b.at; });
    };
    const auto run_to = [&](instant limit) {
        while (!nodes.violation() && nodes.now() < limit) {
            const auto step = earliest();
            const instant step_at = step != plan.end() ? step->at : instant::never();
            nodes.run_until(std::min(limit, step_at));
            if (step == plan.end() || nodes.now() < step_at) {
                continue;
            }
            if (carry_out(*step) || nodes.now() >= faults_end) {
                plan.erase(step);
            } else {
                step->at = nodes.now() + duration::milliseconds(500);
            }
        }
    };
    const auto counts = inject_faults(nodes, faults, faults_end, run_to);
    while (!plan.empty() && !nodes.violation()) {
        run_to(earliest()->at); // a fault phase shorter than the plan
    }

    heal_everything(nodes);
    const instant healed = nodes.now();
    const instant deadline = healed + liveness_max;
    while (!nodes.violation() && nodes.now() < deadline) {
        // Every job must be known (spawn answered) and inspected "done".
        const bool named = std::all_of(run.jobs().begin(), run.jobs().end(),
                                       [](const job& one) { return !one.name.empty(); });
        if (named && run.all_done()) {
            break;
        }
        nodes.run_until(std::min(deadline, nodes.now() + duration::milliseconds(500)));
    }
    const instant settled_at = nodes.now();

    out.line("  {} crashes, {} partitions, {} coordinator leaders crashed, {} runner stalls; "
             "{} runs started, {} payloads rejected",
             counts.crashes, counts.partitions, coordinator_crashes, stalls, run.runs_started(),
             nodes.rejected());
    print_driver_report(out, nodes);
    std::map<std::uint64_t, std::size_t> seeds_checked;
    std::string failure;
    const auto note = [&](std::string why) {
        if (failure.empty()) {
            failure = std::move(why);
        }
    };
    for (std::size_t j = 0; j < jobs_count; ++j) {
        const auto& one = run.jobs()[j];
        const auto found = run.books().find(one.seed);
        const work_books books = found != run.books().end() ? found->second : work_books{};
        if (one.name.empty() || !one.last_state) {
            out.line("  job {}: {} after {} spawn attempts, never seen", j,
                     one.name.empty() ? "not spawned" : one.name, one.attempts);
            note(fmt::format("job {} was not {} {:.0f} s after healing", j,
                             one.name.empty() ? "spawned" : "inspected",
                             (settled_at - healed).sec()));
            continue;
        }
        seeds_checked[one.seed] = j;
        const auto& state = *one.last_state;
        const std::string status = state.value("status", "");
        const auto samples_done = state.value("samples_done", std::uint64_t{0});
        const auto reassigned = state.value("reassigned_samples", std::uint64_t{0});
        const auto twice = state.value("finished_twice", std::uint64_t{0});
        const auto duplicates = state.value("duplicates", std::uint64_t{0});
        const std::uint64_t budget =
            job_samples + reassigned + books.stopped + books.overshoot;
        out.line("  {} (seed {}, {} attempts): {} samples_done {} duplicates {} "
                 "reassigned_samples {} split {}; runners: {} runs ({} finished), computed {} "
                 "(stopped {}, overshoot {}, vanished {}), at most {}",
                 one.name, one.seed, one.attempts, status, samples_done, duplicates, reassigned,
                 state.value("split", std::uint64_t{0}), books.runs, books.finished_runs,
                 books.computed, books.stopped, books.overshoot, books.vanished, budget);
        if (status != "done") {
            note(fmt::format("{} is still {} {:.0f} s after healing ({} of {} samples done):{}",
                             one.name, status, (settled_at - healed).sec(), samples_done,
                             job_samples, nodes.describe_group(one.watched)));
            continue;
        }
        const std::uint64_t hits = jobs::pi_hits(one.seed, 0, job_samples);
        const double expected = jobs::pi_estimate(hits, job_samples);
        const double value = state.value("value", -1.0);
        if (value != expected || samples_done != job_samples || twice != 0) {
            note(fmt::format("{}: value {:.17g} (expected {:.17g}, {} hits), samples_done {} "
                             "(expected {}), finished_twice {}",
                             one.name, value, expected, hits, samples_done, job_samples, twice));
        }
        if (books.computed > budget) {
            note(fmt::format("{}: the runners computed {} samples, more than {} (N {} + "
                             "reassigned {} + stopped {} + overshoot {}): finished work was "
                             "computed again",
                             one.name, books.computed, budget, job_samples, reassigned,
                             books.stopped, books.overshoot));
        }
    }
    std::uint64_t orphan_samples = 0;
    std::size_t orphans = 0;
    for (const auto& [seed, books] : run.books()) {
        if (!seeds_checked.contains(seed)) {
            ++orphans;
            orphan_samples += books.computed;
        }
    }
    if (orphans > 0) {
        out.line("  {} jobs from spawn attempts never answered ok computed {} samples", orphans,
                 orphan_samples);
    }
    if (nodes.violation()) {
        outcome.ok = false;
        outcome.failure = *nodes.violation();
        return finish(outcome);
    }
    if (!failure.empty()) {
        outcome.ok = false;
        outcome.failure = failure;
        return finish(outcome);
    }
    out.line("  every job done {:.1f} s after healing, exact", (settled_at - healed).sec());
    return finish(outcome);
}

} // namespace

scenario jobs_scenario() {
    return scenario{"jobs",
                    "pi jobs on N one-slot nodes under crashes (of the coordinators' leaders "
                    "too), restarts, a stalled runner, partitions and loss; every job ends with "
                    "the exact value and finished chunks are never computed again",
                    7, 20.0, 0.02, &run_jobs};
}

} // namespace reef::sim::detail
