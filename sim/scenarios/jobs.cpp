// Scenario `jobs`: jobs (docs/design/jobs.md) on N simulated whole nodes, each offering one job
// slot: three pi jobs, one Lua map/reduce job and one command job. The driver
// (actor_cluster.hpp) runs the nodes as reefd does; this scenario plays reefd's runner threads
// and its command runner:
//  - a pi or Lua run computes its range at a fixed simulated speed per kernel, for real
//    (jobs::pi_hits, or the job's Lua program through jobs::computation), reports progress after
//    every slice and its end when it reaches it. A stop ends a run silently; a shortened end
//    applies unless the run is already past it (then it carries on to its old end);
//  - a command run starts no process: after a simulated time it hands the worker an output made
//    from its range (up to a few pages, bytes of every value), which the worker stores as pages.
//    Only some nodes allow commands, and the others must never get a command chunk;
//  - a crashed node's runs vanish with it.
//
// The jobs are submitted during a fault phase of crashes, restarts, partitions and loss. On top
// of those, one node's runner stalls (its runs stop reporting for longer than a lease, then
// resume), and the node leading a job's coordinator is crashed. After healing, every job must
// end "done" with:
//  - its exact value: pi_estimate(pi_hits(seed, 0, N), N) for pi, the Lua program's finish of
//    its map over [0, N) computed here in C++, {"chunks", "bytes"} for the command job, whose
//    pages (read back through actor inspects) hold every chunk's output in chunk order, byte for
//    byte; samples_done == N and finished_twice == 0;
//  - finished chunks never computed again: the samples the runners computed for a pi or command
//    job are at most N + its reassigned_samples (lost tails) + what runs computed before they
//    were stopped or past a shortened end (a Lua job's are only reported: see check_job);
//  - no two nodes ever lead the same epoch of a job's (or the job table's) group, and members
//    that applied the same index hold the same committed record.
//
// A spawn retried through another node may create a second job (its name is made up by the node
// that takes it), so each attempt carries a seed of its own and the runners' work is counted per
// seed; the jobs nobody heard of are reported, not checked.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/base64.hpp"
#include "reef/base/prng.hpp"
#include "reef/jobs/computation.hpp"
#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/lua_job.hpp"
#include "sim/scenarios/actor_cluster.hpp"
#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

enum class job_kind : std::uint8_t { pi, lua, exec };

/// Jobs 0..pi_jobs_count-1 are pi jobs, then the Lua job, then the command job.
constexpr std::size_t pi_jobs_count = 3;
constexpr std::size_t lua_job_index = pi_jobs_count;
constexpr std::size_t exec_job_index = pi_jobs_count + 1;
constexpr std::size_t jobs_count = pi_jobs_count + 2;
constexpr std::uint64_t job_samples = 20'000'000;
/// Samples a pi runner computes per simulated second.
constexpr std::uint64_t runner_speed = 500'000;
constexpr duration progress_every = duration::milliseconds(200);
constexpr std::uint64_t samples_per_report =
    runner_speed * static_cast<std::uint64_t>(progress_every.ns()) / 1'000'000'000ULL;
/// The Lua job is small and its map cheap, so running it for real keeps the scenario fast.
constexpr std::uint64_t lua_samples = 200'000;
constexpr std::uint64_t lua_speed = 50'000;
constexpr std::uint64_t lua_samples_per_report =
    lua_speed * static_cast<std::uint64_t>(progress_every.ns()) / 1'000'000'000ULL;
/// The command job: exec_chunks fixed chunks of [0, exec_range).
constexpr std::uint64_t exec_chunks = 8;
constexpr std::uint64_t exec_range = 64;
constexpr std::uint64_t exec_chunk_size = (exec_range + exec_chunks - 1) / exec_chunks;
constexpr std::size_t page_size = jobs::exec_limits::page_size_bytes;
/// Seeds of one job's spawn attempts: job_seed_base * (job + 1) + attempt.
constexpr std::uint64_t job_seed_base = 1'000'000;
constexpr duration settle_phase = duration::seconds(5);
constexpr duration spawn_every = duration::seconds(2);
/// The stalled runner pauses longer than a lease (3 s), so its chunk is taken over.
constexpr duration stall_length = duration::seconds(5);
constexpr duration inspect_every = duration::milliseconds(500);
constexpr duration liveness_max = duration::seconds(120);

static_assert(exec_job_index + 1 == jobs_count);
static_assert(lua_samples_per_report > 0 && samples_per_report > 0);
static_assert(exec_chunks <= jobs::exec_limits::chunks_max && exec_chunks <= exec_range);
static_assert(exec_chunk_size * (exec_chunks - 1) < exec_range); // no chunk is empty

/// The Lua job's program: its own reduce and finish, so the coordinator's Lua calls run too.
/// lua_expected() computes the same value in C++.
constexpr std::string_view lua_program = R"(
function map(first, last, job)
  local sum = 0
  for i = first, last - 1 do
    sum = sum + (i ~ job.seed) % 1000
  end
  return sum
end
function reduce(a, b) return a + b end
function finish(sum, count) return {sum = sum, count = count} end
)";

/// The command job's command, and the program name the runners expect after substitution.
constexpr std::string_view exec_program = R"(["reef-sim-output", "{start}", "{end}"])";
constexpr std::string_view exec_program_name = "reef-sim-output";

job_kind kind_of(std::size_t index) {
    REEF_ASSERT(index < jobs_count);
    return index < pi_jobs_count ? job_kind::pi
           : index == lua_job_index ? job_kind::lua
                                    : job_kind::exec;
}

std::uint64_t samples_of(std::size_t index) {
    const auto kind = kind_of(index);
    return kind == job_kind::pi ? job_samples : kind == job_kind::lua ? lua_samples : exec_range;
}

jobs::json lua_expected(std::uint64_t seed) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < lua_samples; ++i) {
        sum += (i ^ seed) % 1000;
    }
    return jobs::json{{"sum", sum}, {"count", lua_samples}};
}

/// A command chunk's simulated standard output, a function of its range: a line naming it, then
/// bytes of every value (so not UTF-8). Sizes run from under a page to a few pages, and one
/// chunk's is exactly two pages.
std::string exec_output(std::uint64_t begin, std::uint64_t end) {
    std::string out = fmt::format("chunk {}-{}\n", begin, end);
    const std::uint64_t mix = jobs::splitmix64((begin << 32U) ^ end);
    const std::size_t size = begin == 2 * exec_chunk_size
                                 ? 2 * page_size
                                 : out.size() + begin * 360 + mix % 500;
    REEF_ASSERT(size >= out.size());
    REEF_ASSERT(size <= jobs::exec_limits::output_size_max);
    for (std::size_t at = out.size(); at < size; ++at) {
        out.push_back(static_cast<char>(jobs::splitmix64(mix + at) & 0xFFU));
    }
    return out;
}

/// How long a command chunk's simulated process runs.
duration exec_duration(std::uint64_t begin) {
    return duration::seconds(1) +
           duration::milliseconds(static_cast<std::int64_t>(jobs::splitmix64(begin) % 1500));
}

/// One page of the command job's output, as listed in its state's "result".
struct page_read {
    std::string name;
    actor_attempt reading;
    instant next_read_at = instant::never();
    std::optional<std::string> bytes;
};

/// One entry of a command job's "result": {"CHUNK": [attempt, pages, bytes]}.
struct chunk_output {
    std::uint64_t attempt = 0;
    std::uint64_t pages = 0;
    std::uint64_t bytes = 0;
};

/// The chunks a command job's "result" lists, or nothing when it is not such a list.
std::optional<std::map<std::uint64_t, chunk_output>> listed_outputs(const jobs::json& result) {
    if (!result.is_object()) {
        return std::nullopt;
    }
    std::map<std::uint64_t, chunk_output> listed;
    for (const auto& [key, entry] : result.items()) {
        const bool numbers = entry.is_array() && entry.size() == 3 &&
                             std::all_of(entry.begin(), entry.end(), [](const jobs::json& field) {
                                 return field.is_number_unsigned();
                             });
        if (!numbers || entry[1].get<std::uint64_t>() > jobs::exec_limits::pages_max ||
            key.empty() || key.size() > 3 ||
            !std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return std::nullopt;
        }
        listed[std::stoull(key)] = chunk_output{
            entry[0].get<std::uint64_t>(), entry[1].get<std::uint64_t>(),
            entry[2].get<std::uint64_t>()};
    }
    return listed;
}

/// One job the scenario submits, and what it learnt about it.
struct job {
    job_kind kind = job_kind::pi;
    std::uint64_t attempts = 0;
    std::string name; // empty until a spawn was answered ok
    std::uint64_t seed = 0;
    actor_attempt spawning;
    instant next_spawn_at = instant::never();
    actor_attempt inspecting;
    instant next_inspect_at = instant::never();
    std::optional<actors::json> last_state;
    std::size_t watched = 0;       // its index among the driver's watched actors
    std::vector<page_read> pages; // a command job's, once it is done
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

/// A run of a node's simulated runner. A command run's `through` stays at `begin` until its
/// output is handed over.
struct sim_run {
    job_kind kind = job_kind::pi;
    std::uint64_t seed = 0;
    std::uint64_t begin = 0;
    std::uint64_t through = 0;
    std::uint64_t end = 0;
    std::uint64_t hits = 0;                        // pi
    std::unique_ptr<jobs::computation> computing; // Lua
    instant next_report_at;                        // a command's: when its output is ready
};

using run_key = std::tuple<node_index, std::uint32_t, std::uint64_t>; // node, life, run id

class jobs_run final : public actor_workload {
public:
    jobs_run(const scenario_options& options, std::size_t nodes_count)
        : cluster_(options, nodes_count, {"reef.jobs"}), paused_until_(nodes_count),
          exec_nodes_count_(nodes_count > 2 ? nodes_count - 2 : nodes_count) {
        for (std::size_t j = 0; j < jobs_count; ++j) {
            jobs_.emplace_back();
            jobs_.back().kind = kind_of(j);
        }
        cluster_.set_job_slots(1);
        cluster_.set_exec_nodes(exec_nodes_count_);
        cluster_.attach(*this);
        cluster_.start_all();
    }

    jobs_run(const jobs_run&) = delete;
    jobs_run& operator=(const jobs_run&) = delete;

    actor_cluster& cluster() { return cluster_; }
    const actor_cluster& cluster() const { return cluster_; }
    const std::vector<job>& jobs() const { return jobs_; }
    const std::map<std::uint64_t, work_books>& books() const { return books_; }
    std::uint64_t runs_started() const { return runs_started_; }
    std::size_t exec_nodes_count() const { return exec_nodes_count_; }

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

    /// Every job inspected "done", and the command job's pages all read.
    bool all_done() const {
        return std::all_of(jobs_.begin(), jobs_.end(), [](const job& one) {
            const bool read = std::all_of(one.pages.begin(), one.pages.end(),
                                          [](const page_read& page) { return page.bytes; });
            return one.last_state && one.last_state->value("status", "") == "done" && read;
        });
    }

    instant next_work_at() const override {
        instant earliest = instant::never();
        for (const auto& one : jobs_) {
            earliest = std::min({earliest, one.next_spawn_at, one.next_inspect_at});
            for (const auto& page : one.pages) {
                earliest = std::min(earliest, page.next_read_at);
            }
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
            for (auto& page : one.pages) {
                if (page.next_read_at <= now()) {
                    const actors::json request = {
                        {"op", "inspect"}, {"name", page.name}, {"program", true}};
                    page.reading = cluster_.submit(cluster_.random_node(), request, false);
                    page.next_read_at = now() + actor_client_timeout;
                }
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
            for (auto& page : one.pages) {
                if (page.reading.answers(via, life, id)) {
                    page.reading.live = false;
                    page_answered(page, text);
                    return true;
                }
            }
        }
        return false;
    }

    void job_run(node_index node, std::uint32_t life, const node::job_run& effect) override {
        if (const auto* start = std::get_if<jobs::start_run>(&effect)) {
            start_run(node, life, *start);
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
            if (run.kind == job_kind::exec) {
                cluster_.fail(fmt::format("node {} was asked to shorten command run {} to {}: "
                                          "a command job's chunks are fixed",
                                          node, shorten->run_id, shorten->end));
            } else if (shorten->end >= run.through) {
                run.end = std::min(run.end, shorten->end);
            } else if (shorten->end < run.end) {
                books_[run.seed].overshoot += run.end - shorten->end;
            }
        }
    }

private:
    instant now() const { return cluster_.now(); }

    /// What a run asks for must be a job this scenario sent, to a node that may run it.
    std::optional<std::string> refused(node_index node, const jobs::start_run& start) const {
        if (start.begin > start.end) {
            return "an empty range";
        }
        if (start.kernel == jobs::pi_kernel) {
            return std::nullopt;
        }
        if (start.kernel == jobs::lua_kernel) {
            return start.program == lua_program ? std::nullopt
                                                : std::optional<std::string>("another program");
        }
        if (start.kernel != jobs::exec_kernel) {
            return "an unknown kernel";
        }
        if (node >= exec_nodes_count_) {
            return "a command, which it does not allow";
        }
        const auto command = jobs::parse_command(start.program);
        const std::vector<std::string> expected = {std::string(exec_program_name),
                                                   std::to_string(start.begin),
                                                   std::to_string(start.end)};
        if (!command || jobs::substitute(*command, start.begin, start.end) != expected) {
            return "another command: " + start.program;
        }
        return std::nullopt;
    }

    void start_run(node_index node, std::uint32_t life, const jobs::start_run& start) {
        if (const auto why = refused(node, start)) {
            cluster_.fail(fmt::format("node {} was asked to run {} [{}, {}): {}", node,
                                      start.kernel, start.begin, start.end, *why));
            return;
        }
        sim_run run;
        run.seed = start.seed;
        run.begin = start.begin;
        run.through = start.begin;
        run.end = start.end;
        if (start.kernel == jobs::pi_kernel) {
            // The run folds its samples into the chunk's hits before it (a checkpoint).
            run.hits = start.base.is_number_unsigned() ? start.base.get<std::uint64_t>() : 0;
        } else if (start.kernel == jobs::lua_kernel) {
            run.kind = job_kind::lua;
            auto made = jobs::computation::make(kernels_, start);
            if (!made) {
                cluster_.fail(fmt::format("node {}: the Lua job does not load: {}", node,
                                          made.failure().message));
                return;
            }
            run.computing = std::move(*made);
        } else {
            run.kind = job_kind::exec;
        }
        run.next_report_at = now() + slice_time(run);
        if (!runs_.emplace(run_key{node, life, start.run_id}, std::move(run)).second) {
            cluster_.fail(fmt::format("node {} started run {} twice", node, start.run_id));
            return;
        }
        books_[start.seed].runs += 1;
        ++runs_started_;
        cluster_.trace().add_u64(start.begin);
        cluster_.trace().add_u64(start.end);
    }

    /// The samples a run computes before its next report.
    static std::uint64_t next_slice(const sim_run& run) {
        const std::uint64_t per_report =
            run.kind == job_kind::lua ? lua_samples_per_report : samples_per_report;
        return std::min(run.end - run.through, per_report);
    }

    /// How long the run's next slice takes: a pi slice progress_every, a Lua slice its samples
    /// at lua_speed (so a one-sample chunk is quick, as it is in reefd), a command its process.
    static duration slice_time(const sim_run& run) {
        if (run.kind == job_kind::exec) {
            return exec_duration(run.begin);
        }
        if (run.kind == job_kind::pi) {
            return progress_every;
        }
        const auto ns = next_slice(run) * 1'000'000'000ULL / lua_speed;
        return duration::nanoseconds(static_cast<std::int64_t>(std::max<std::uint64_t>(ns, 1)));
    }

    void spawn(job& one) {
        // A new attempt gets a new seed: an earlier attempt that timed out may still have
        // created a job of its own, whose runs must not be counted as this one's.
        const std::size_t index = static_cast<std::size_t>(&one - jobs_.data());
        one.seed = job_seed_base * (index + 1) + one.attempts;
        one.attempts += 1;
        actors::json request = {{"op", "spawn"},
                                {"name", ""},
                                {"name_prefix", "job-"},
                                {"native", "reef.job"},
                                {"args",
                                 {{"kernel", jobs::pi_kernel},
                                  {"begin", 0},
                                  {"end", samples_of(index)},
                                  {"seed", one.seed}}}};
        if (one.kind == job_kind::lua) {
            request["args"]["kernel"] = jobs::lua_kernel;
            request["program"] = lua_program;
        } else if (one.kind == job_kind::exec) {
            request["args"]["kernel"] = jobs::exec_kernel;
            request["args"]["chunks"] = exec_chunks;
            request["program"] = exec_program;
        }
        one.spawning = cluster_.submit(cluster_.random_node(), request, true);
        one.next_spawn_at = now() + actor_client_timeout;
    }

    void spawned(job& one, const std::string& text) {
        const auto parsed = ok_with(text, "name", one.next_spawn_at);
        if (!parsed) {
            return;
        }
        one.name = (*parsed)["name"].get<std::string>();
        one.next_spawn_at = instant::never();
        one.next_inspect_at = now();
        one.watched = watched_++;
        cluster_.watch(one.name);
        cluster_.trace().add_text(one.name);
    }

    /// The answer `text` when it is ok and holds the string `field`; otherwise its error is
    /// counted and `retry_at` is set a short pause from now.
    std::optional<actors::json> ok_with(const std::string& text, const char* field,
                                        instant& retry_at) {
        auto parsed = parse_object(text);
        if (!parsed || !parsed->value("ok", false) || !(*parsed)[field].is_string()) {
            cluster_.note_error(text);
            retry_at =
                now() + uniform(cluster_.random(), actor_retry_pause_min, actor_retry_pause_max);
            return std::nullopt;
        }
        return parsed;
    }

    void inspected(job& one, const std::string& text) {
        const auto parsed = parse_object(text);
        if (!parsed || !parsed->value("ok", false) || !(*parsed)["state"].is_object()) {
            cluster_.note_error(text);
            return;
        }
        const auto& state = (*parsed)["state"];
        const std::uint64_t samples = samples_of(static_cast<std::size_t>(&one - jobs_.data()));
        if (state.value("finished_twice", std::uint64_t{0}) != 0) {
            cluster_.fail(fmt::format("{}: a chunk was finished twice: {}", one.name,
                                      state.dump()));
            return;
        }
        if (state.value("samples_done", std::uint64_t{0}) > samples) {
            cluster_.fail(fmt::format("{}: {} samples done, more than the job's {}", one.name,
                                      state.value("samples_done", std::uint64_t{0}), samples));
            return;
        }
        cluster_.trace().add_u64(state.value("samples_done", std::uint64_t{0}));
        one.last_state = state;
        if (state.value("status", "") == "done") {
            one.next_inspect_at = instant::never();
            if (one.kind == job_kind::exec) {
                list_pages(one);
            }
        }
    }

    /// Every page the done command job's result names, to be read in chunk order. A result
    /// that is no such list is left for the final check to report.
    void list_pages(job& one) {
        const auto listed = listed_outputs(one.last_state->value("result", jobs::json()));
        if (!listed || !one.pages.empty()) {
            return;
        }
        for (const auto& [chunk, stored] : *listed) {
            for (std::uint64_t page = 0; page < stored.pages; ++page) {
                page_read read;
                read.name = jobs::output_page_name(one.name, chunk, stored.attempt, page);
                read.next_read_at = now();
                one.pages.push_back(std::move(read));
            }
        }
    }

    void page_answered(page_read& page, const std::string& text) {
        const auto parsed = ok_with(text, "program", page.next_read_at);
        if (!parsed) {
            return;
        }
        auto decoded = base64_decode((*parsed)["program"].get<std::string>());
        if (!decoded) {
            cluster_.fail(fmt::format("page {} is not base64: {}", page.name,
                                      decoded.failure().message));
            return;
        }
        cluster_.trace().add_text(*decoded);
        page.bytes = std::move(*decoded);
        page.next_read_at = instant::never();
    }

    /// Run `key` computes one more slice and reports it, or a command run hands over its output
    /// (or the run vanishes with its node).
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
        if (run.kind == job_kind::exec) {
            const std::string output = exec_output(run.begin, run.end);
            book.computed += run.end - run.begin;
            book.finished_runs += 1;
            runs_.erase(found);
            cluster_.job_output(node, run_id, output);
            return;
        }
        const std::uint64_t to = run.through + next_slice(run);
        jobs::json partial;
        if (run.kind == job_kind::pi) {
            run.hits += jobs::pi_hits(run.seed, run.through, to);
            partial = run.hits;
        } else if (const auto added = run.computing->add(run.through, to); added) {
            partial = run.computing->partial();
        } else {
            cluster_.fail(fmt::format("node {}: the Lua job's map failed on [{}, {}): {}", node,
                                      run.through, to, added.failure().message));
            return;
        }
        book.computed += to - run.through;
        run.through = to;
        run.next_report_at = now() + slice_time(run);
        const auto through = run.through;
        if (through == run.end) {
            book.finished_runs += 1;
            runs_.erase(found);
            cluster_.job_finished(node, run_id, through, partial);
        } else {
            cluster_.job_progress(node, run_id, through, partial);
        }
    }

    actor_cluster cluster_;
    jobs::kernel_registry kernels_;
    std::vector<job> jobs_;
    std::map<run_key, sim_run> runs_;
    std::map<std::uint64_t, work_books> books_; // per seed
    std::vector<instant> paused_until_;
    std::size_t exec_nodes_count_ = 0;
    std::uint64_t runs_started_ = 0;
    std::size_t watched_ = 1; // "reef.jobs" is the first
};

/// Why the done command job's value, result or pages differ from what its chunks wrote, if so.
std::optional<std::string> exec_mismatch(const job& one) {
    const auto& state = *one.last_state;
    const auto listed = listed_outputs(state.value("result", jobs::json()));
    if (!listed || listed->size() != exec_chunks) {
        return fmt::format("{}: the result does not list its {} chunks: {}", one.name,
                           exec_chunks, state.value("result", jobs::json()).dump());
    }
    std::string expected;
    for (std::uint64_t chunk = 0; chunk < exec_chunks; ++chunk) {
        const auto found = listed->find(chunk);
        const std::uint64_t begin = chunk * exec_chunk_size;
        const std::string output =
            exec_output(begin, std::min(begin + exec_chunk_size, exec_range));
        const std::uint64_t pages = (output.size() + page_size - 1) / page_size;
        if (found == listed->end() || found->second.bytes != output.size() ||
            found->second.pages != pages) {
            return fmt::format("{}: chunk {} is listed as {} (expected {} bytes in {} pages)",
                               one.name, chunk, state["result"].value(std::to_string(chunk),
                                                                      jobs::json()).dump(),
                               output.size(), pages);
        }
        expected += output;
    }
    const jobs::json value = {{"chunks", exec_chunks}, {"bytes", expected.size()}};
    if (state.value("value", jobs::json()) != value) {
        return fmt::format("{}: value {} (expected {})", one.name,
                           state.value("value", jobs::json()).dump(), value.dump());
    }
    std::string read;
    for (const auto& page : one.pages) {
        read += page.bytes.value_or("");
    }
    if (read != expected) {
        const auto differ = std::mismatch(read.begin(), read.end(), expected.begin(),
                                          expected.end());
        return fmt::format("{}: its {} pages hold {} bytes, not the {} the chunks wrote; they "
                           "differ from byte {} on",
                           one.name, one.pages.size(), read.size(), expected.size(),
                           differ.first - read.begin());
    }
    return std::nullopt;
}

/// Why done job `index`'s value is not exactly the one its kernel or program gives, if so.
std::optional<std::string> value_mismatch(const job& one, std::size_t index) {
    const auto& state = *one.last_state;
    if (one.kind == job_kind::exec) {
        return exec_mismatch(one);
    }
    if (one.kind == job_kind::lua) {
        const jobs::json expected = lua_expected(one.seed);
        if (state.value("value", jobs::json()) == expected) {
            return std::nullopt;
        }
        return fmt::format("{}: value {} (expected {})", one.name,
                           state.value("value", jobs::json()).dump(), expected.dump());
    }
    const std::uint64_t hits = jobs::pi_hits(one.seed, 0, samples_of(index));
    const double expected = jobs::pi_estimate(hits, samples_of(index));
    const double value = state.value("value", -1.0);
    if (value == expected) {
        return std::nullopt;
    }
    return fmt::format("{}: value {:.17g} (expected {:.17g}, {} hits)", one.name, value,
                       expected, hits);
}

/// The checks of job `index` after healing; the first failure goes to `note`.
void check_job(const jobs_run& run, std::size_t index, double healed_for, report& out,
               const std::function<void(std::string)>& note) {
    const auto& one = run.jobs()[index];
    const auto found = run.books().find(one.seed);
    const work_books books = found != run.books().end() ? found->second : work_books{};
    if (one.name.empty() || !one.last_state) {
        out.line("  job {}: {} after {} spawn attempts, never seen", index,
                 one.name.empty() ? "not spawned" : one.name, one.attempts);
        note(fmt::format("job {} was not {} {:.0f} s after healing", index,
                         one.name.empty() ? "spawned" : "inspected", healed_for));
        return;
    }
    const auto& state = *one.last_state;
    const std::uint64_t samples = samples_of(index);
    const std::string status = state.value("status", "");
    const auto samples_done = state.value("samples_done", std::uint64_t{0});
    const auto reassigned = state.value("reassigned_samples", std::uint64_t{0});
    const auto twice = state.value("finished_twice", std::uint64_t{0});
    const std::uint64_t budget = samples + reassigned + books.stopped + books.overshoot;
    out.line("  {} ({} seed {}, {} attempts): {} samples_done {} duplicates {} "
             "reassigned_samples {} split {}; runners: {} runs ({} finished), computed {} "
             "(stopped {}, overshoot {}, vanished {}), at most {}",
             one.name, state.value("kernel", ""), one.seed, one.attempts, status, samples_done,
             state.value("duplicates", std::uint64_t{0}), reassigned,
             state.value("split", std::uint64_t{0}), books.runs, books.finished_runs,
             books.computed, books.stopped, books.overshoot, books.vanished, budget);
    if (status != "done") {
        note(fmt::format("{} is still {} {:.0f} s after healing ({} of {} samples done) {}:{}",
                         one.name, status, healed_for, samples_done, samples,
                         state.value("error", ""), run.cluster().describe_group(one.watched)));
        return;
    }
    if (one.kind == job_kind::exec) {
        out.line("    {} pages read, {} bytes", one.pages.size(),
                 state.value("value", jobs::json()).value("bytes", std::uint64_t{0}));
    }
    if (const auto why = value_mismatch(one, index)) {
        note(*why);
    }
    if (samples_done != samples || twice != 0) {
        note(fmt::format("{}: samples_done {} (expected {}), finished_twice {}", one.name,
                         samples_done, samples, twice));
    }
    // A Lua job's runs are short (its first and last chunks are a few samples), so a run often
    // ends before its worker learns that a split lowered its end; the samples past the cut are
    // then computed twice and no runner sees it. Its budget is printed, not checked.
    if (one.kind != job_kind::lua && books.computed > budget) {
        note(fmt::format("{}: the runners computed {} samples, more than {} (N {} + "
                         "reassigned {} + stopped {} + overshoot {}): finished work was "
                         "computed again",
                         one.name, books.computed, budget, samples, reassigned, books.stopped,
                         books.overshoot));
    }
}

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
    out.line("jobs: {} nodes of 1 slot ({} allow commands), {} pi jobs of {} samples at {} "
             "samples/s, a Lua job of {} at {}/s, a command job of {} chunks; seed {}, {:.0f} s "
             "of faults, loss {:.3f}",
             chosen.nodes_count, run.exec_nodes_count(), pi_jobs_count, job_samples,
             runner_speed, lua_samples, lua_speed, exec_chunks, options.seed,
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

    // The jobs start one by one (the Lua and the command job last); a runner stalls; the
    // coordinator of job 0 loses its leader twice, and another job's once.
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
        // Every job must be known (spawn answered) and inspected "done", and the command
        // job's pages read.
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
        if (!one.name.empty() && one.last_state) {
            seeds_checked[one.seed] = j;
        }
        check_job(run, j, (settled_at - healed).sec(), out, note);
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
                    "pi, Lua and command jobs on N one-slot nodes under crashes (of the "
                    "coordinators' leaders too), restarts, a stalled runner, partitions and loss; "
                    "every job ends with the exact value (a command job's pages byte for byte) "
                    "and finished chunks are never computed again",
                    7, 20.0, 0.02, &run_jobs};
}

} // namespace reef::sim::detail
