// Scenario `actor-supervision`: supervision trees of durable Lua actors on N whole nodes (the
// shared driver of actor_cluster.hpp) while nodes crash and restart, partitions come and go and
// messages are lost or reordered. Three supervisors, one per strategy (one_for_one, one_for_all,
// rest_for_one), each spawn three workers that count the messages they handle (state {n}); their
// intensity is far above what the run reaches, so they never give up. A fourth supervisor allows
// 2 restarts in an hour, and its one worker is made to fail 3 times: it must escalate.
//
// Each supervisor goes through rounds, independently of the others:
//  1. counting: every worker gets a few increments, each retried through random nodes until it
//     is answered ok;
//  2. failing: once every increment is answered, one worker (drawn at random) gets {fail = true},
//     on which its handler calls error(); retried until answered. The answer must be the
//     handler's error (ok false): the failure was applied, once;
//  3. restarting: the workers are inspected until every worker the strategy restarts (the
//     failing one; all three; the failing one and those spawned after it) is back at n = 0.
//     The others must keep their count all along. Then back to 1.
// After the faults stop and every node is back, each supervisor finishes its round and ends
// with a counting round.
//
// What must hold:
//  - every inspected count lies between the increments acknowledged to the worker since its
//    last restart (at the inspect's invocation) and those begun since then; while a failure is
//    pending, a worker the strategy restarts shows its count or 0, any other worker its count;
//  - a worker's failure count equals the failing messages acknowledged to it;
//  - at the end, each worker's n equals the increments acknowledged to it after its last
//    restart, the three supervisors run with their three children, and the fourth supervisor is
//    "failed" with its worker "stopped";
//  - no two nodes ever lead the same epoch of an actor's group, and members that applied the
//    same index hold the same committed record.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "sim/scenarios/actor_cluster.hpp"
#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t workers_per_supervisor = 3;
/// Failing messages that make the escalating supervisor give up (its intensity is one less).
constexpr std::uint64_t escalation_failures = 3;
/// Increments per worker and counting round: 1..this.
constexpr std::uint64_t round_increments_max = 4;
constexpr duration client_think_max = duration::milliseconds(80);
constexpr duration inspect_every = duration::milliseconds(400);
constexpr duration settle_phase = duration::seconds(5);
constexpr duration spawn_phase_max = duration::seconds(30);
/// After healing: every supervisor through its last round within this, or the run fails.
constexpr duration liveness_max = duration::seconds(120);

struct supervisor_kind {
    std::string_view name;
    std::string_view strategy;
    std::uint32_t intensity = 0;
    std::uint64_t period_ms = 0;
    std::size_t workers = 0;
};

constexpr std::array<supervisor_kind, 4> supervisor_kinds = {{
    {"sup-one", "one_for_one", 1000, 60'000, workers_per_supervisor},
    {"sup-all", "one_for_all", 1000, 60'000, workers_per_supervisor},
    {"sup-rest", "rest_for_one", 1000, 60'000, workers_per_supervisor},
    {"sup-escalate", "one_for_one", escalation_failures - 1, 3'600'000, 1},
}};

/// The supervisor's program; its workers run the `worker` kind of the same program.
std::string program_of(const supervisor_kind& kind) {
    return fmt::format("supervision = {{ strategy = \"{}\", intensity = {}, period_ms = {}, "
                       "backoff_ms = 50, backoff_max_ms = 400 }}\n",
                       kind.strategy, kind.intensity, kind.period_ms) +
           R"(worker = {}
function worker.init(args) return { n = 0 } end
function worker.handle(state, msg, ctx)
  if msg.fail then error("injected failure") end
  state.n = state.n + 1
  return state
end
function init(args, ctx)
  for i = 1, args.workers do ctx.spawn("worker", { index = i }) end
  return { workers = args.workers }
end
function handle(state, msg, ctx) return state end
)";
}

/// ctx.spawn names the i-th child (from 1) "<parent>/<kind>-<i>".
std::string worker_name(const supervisor_kind& kind, std::size_t index) {
    return fmt::format("{}/worker-{}", kind.name, index + 1);
}

std::vector<std::string> watched_names() {
    std::vector<std::string> names;
    for (const auto& kind : supervisor_kinds) {
        names.emplace_back(kind.name);
    }
    for (const auto& kind : supervisor_kinds) {
        for (std::size_t w = 0; w < kind.workers; ++w) {
            names.push_back(worker_name(kind, w));
        }
    }
    return names;
}

enum class stage : std::uint8_t {
    waiting_children, // the workers are being spawned
    counting,
    failing,
    restarting,
    escalating, // the last failing message of the escalating supervisor was answered
    final_check,
    done,
};

std::string_view stage_name(stage at) {
    constexpr std::array<std::string_view, 7> names = {
        "waiting for children", "counting", "failing", "restarting", "escalating",
        "final check",          "done"};
    return names[static_cast<std::size_t>(at)];
}

/// One request at a time, retried (same request) until answered.
struct request_slot {
    actor_attempt current;
    bool active = false;
    instant next_at = instant::never(); // retry, or (inspections) read again
    std::uint64_t round = 0;            // inspections: the supervisor's round at invocation
    std::uint64_t acked_at_invoke = 0;  // inspections: acknowledged increments then
};

struct worker_books {
    std::string name;
    std::string increment_from;
    std::string fail_from;
    std::uint64_t increment_sequence = 0;
    std::uint64_t fail_sequence = 0;
    request_slot increment;
    request_slot fail;
    request_slot look;
    std::uint64_t target = 0;      // increments wanted since the last restart, this round
    std::uint64_t acked = 0;       // increments acknowledged since the last restart
    std::uint64_t started = 0;     // increments begun since the last restart
    std::uint64_t acked_total = 0;
    std::uint64_t fails_acked = 0; // failing messages answered with the handler's error
    std::uint64_t restarts = 0;
    bool seen = false; // inspected in this round in the state the round waits for
    std::optional<std::uint64_t> last_n;
    std::string last_status;
};

struct supervisor_books {
    const supervisor_kind* kind = nullptr;
    stage at = stage::waiting_children;
    std::uint64_t round = 0;
    std::size_t failing = 0;
    std::vector<bool> must_restart;
    std::vector<worker_books> workers;
    request_slot look;
    bool seen = false;
    std::uint64_t fails_acked = 0;
    std::string last_status;
    std::uint64_t inspections = 0;
};

bool is_injected(const actors::json& answer) {
    return !answer.value("ok", true) &&
           answer.value("error", "").find("injected failure") != std::string::npos;
}

class supervision_run final : public actor_workload {
public:
    supervision_run(const scenario_options& options, std::size_t nodes_count)
        : cluster_(options, nodes_count, watched_names()) {
        for (const auto& kind : supervisor_kinds) {
            supervisor_books one;
            one.kind = &kind;
            for (std::size_t w = 0; w < kind.workers; ++w) {
                worker_books worker;
                worker.name = worker_name(kind, w);
                worker.increment_from =
                    fmt::format("client:{:016x}", cluster_.random().next_u64());
                worker.fail_from = fmt::format("client:{:016x}", cluster_.random().next_u64());
                one.workers.push_back(std::move(worker));
            }
            one.must_restart.assign(kind.workers, false);
            supervisors_.push_back(std::move(one));
        }
        cluster_.attach(*this);
        cluster_.start_all();
    }

    supervision_run(const supervision_run&) = delete;
    supervision_run& operator=(const supervision_run&) = delete;

    actor_cluster& cluster() { return cluster_; }
    const std::vector<supervisor_books>& supervisors() const { return supervisors_; }

    bool spawn_all(instant limit) {
        std::vector<actors::json> requests;
        for (const auto& kind : supervisor_kinds) {
            requests.push_back({{"op", "spawn"},
                                {"name", kind.name},
                                {"program", program_of(kind)},
                                {"module", ""},
                                {"args", {{"workers", kind.workers}}},
                                {"parent", ""},
                                {"owner", "sim"},
                                {"from", "client:5157"},
                                {"sequence", 1}});
        }
        return cluster_.spawn_all(requests, limit);
    }

    /// The rounds begin: inspect the workers until they exist.
    void start() {
        for (auto& one : supervisors_) {
            enter(one, stage::waiting_children);
        }
    }

    /// No new failures from now: each supervisor ends with a counting round.
    void wind_down() { winding_down_ = true; }

    bool all_done() const {
        return std::all_of(supervisors_.begin(), supervisors_.end(),
                           [](const supervisor_books& one) { return one.at == stage::done; });
    }

    instant next_work_at() const override {
        instant earliest = instant::never();
        for (const auto& one : supervisors_) {
            earliest = std::min(earliest, one.look.next_at);
            for (const auto& worker : one.workers) {
                earliest = std::min({earliest, worker.increment.next_at, worker.fail.next_at,
                                     worker.look.next_at});
            }
        }
        return earliest;
    }

    void work() override {
        for (auto& one : supervisors_) {
            advance(one);
            for (std::size_t w = 0; w < one.workers.size(); ++w) {
                run_increment(one, one.workers[w]);
                run_fail(one, w);
                auto& worker = one.workers[w];
                run_look(worker.look, worker.name, worker.acked, one);
            }
            run_look(one.look, std::string(one.kind->name), 0, one);
        }
    }

    bool answered(node_index via, std::uint32_t life, std::uint64_t id,
                  const std::string& text) override {
        for (auto& one : supervisors_) {
            if (take(one.look, via, life, id)) {
                supervisor_inspected(one, text);
                return true;
            }
            for (std::size_t w = 0; w < one.workers.size(); ++w) {
                auto& worker = one.workers[w];
                if (take(worker.increment, via, life, id)) {
                    increment_answered(one, worker, text);
                    return true;
                }
                if (take(worker.fail, via, life, id)) {
                    fail_answered(one, w, text);
                    return true;
                }
                if (take(worker.look, via, life, id)) {
                    worker_inspected(one, w, text);
                    return true;
                }
            }
        }
        return false;
    }

private:
    instant now() const { return cluster_.now(); }

    static bool take(request_slot& slot, node_index via, std::uint32_t life, std::uint64_t id) {
        if (!slot.current.answers(via, life, id)) {
            return false;
        }
        slot.current.live = false;
        return true;
    }

    /// Start a new round in stage `next`: fresh inspections, and targets when counting.
    void enter(supervisor_books& one, stage next) {
        one.at = next;
        one.round += 1;
        one.seen = false;
        cluster_.trace().add_u64((one.round << 8U) | static_cast<std::uint64_t>(next));
        const bool reading = next != stage::done;
        one.look.next_at = reading ? now() : instant::never();
        for (auto& worker : one.workers) {
            worker.seen = false;
            worker.look.next_at = reading ? now() : instant::never();
            if (next == stage::counting) {
                worker.target =
                    worker.acked + 1 + cluster_.random().next_u64() % round_increments_max;
                worker.increment.next_at = now();
            }
        }
    }

    /// Move a supervisor on when its round has what it waits for.
    void advance(supervisor_books& one) {
        const bool workers_seen = std::all_of(one.workers.begin(), one.workers.end(),
                                              [](const worker_books& w) { return w.seen; });
        switch (one.at) {
        case stage::waiting_children:
            if (workers_seen && one.seen) {
                enter(one, stage::counting);
            }
            break;
        case stage::counting:
            if (counted(one)) {
                if (one.kind->intensity < escalation_failures || !winding_down_) {
                    start_failure(one);
                } else {
                    enter(one, stage::final_check);
                }
            }
            break;
        case stage::restarting:
            if (workers_seen) {
                for (std::size_t w = 0; w < one.workers.size(); ++w) {
                    if (one.must_restart[w]) {
                        auto& worker = one.workers[w];
                        worker.acked = 0;
                        worker.started = 0;
                        worker.restarts += 1;
                    }
                }
                enter(one, stage::counting);
            }
            break;
        case stage::escalating:
        case stage::final_check:
            if (workers_seen && one.seen) {
                enter(one, stage::done);
            }
            break;
        case stage::failing:
        case stage::done:
            break;
        }
    }

    static bool counted(const supervisor_books& one) {
        return std::all_of(one.workers.begin(), one.workers.end(), [](const worker_books& w) {
            return !w.increment.active && w.acked >= w.target;
        });
    }

    void start_failure(supervisor_books& one) {
        one.failing = static_cast<std::size_t>(cluster_.random().next_u64() % one.workers.size());
        const std::string_view strategy = one.kind->strategy;
        for (std::size_t w = 0; w < one.workers.size(); ++w) {
            one.must_restart[w] = strategy == "one_for_all" ||
                                  (strategy == "rest_for_one" && w >= one.failing) ||
                                  w == one.failing;
        }
        auto& worker = one.workers[one.failing];
        worker.fail_sequence += 1;
        worker.fail.active = true;
        worker.fail.next_at = now();
        enter(one, stage::failing);
    }

    void run_increment(supervisor_books& one, worker_books& worker) {
        auto& slot = worker.increment;
        if (slot.next_at > now()) {
            return;
        }
        if (!slot.active) {
            if (one.at != stage::counting || worker.acked >= worker.target) {
                slot.next_at = instant::never();
                return;
            }
            worker.increment_sequence += 1;
            worker.started += 1;
            slot.active = true;
        }
        const actors::json request = {{"op", "deliver"},
                                      {"name", worker.name},
                                      {"from", worker.increment_from},
                                      {"sequence", worker.increment_sequence},
                                      {"body", {{"inc", 1}}},
                                      {"kind", "message"}};
        slot.current = cluster_.submit(cluster_.random_node(), request, false);
        slot.next_at = now() + actor_client_timeout;
    }

    void run_fail(supervisor_books& one, std::size_t index) {
        auto& worker = one.workers[index];
        auto& slot = worker.fail;
        if (slot.next_at > now()) {
            return;
        }
        if (!slot.active) {
            slot.next_at = instant::never();
            return;
        }
        REEF_ASSERT(one.at == stage::failing && one.failing == index);
        const actors::json request = {{"op", "deliver"},
                                      {"name", worker.name},
                                      {"from", worker.fail_from},
                                      {"sequence", worker.fail_sequence},
                                      {"body", {{"fail", true}}},
                                      {"kind", "message"}};
        slot.current = cluster_.submit(cluster_.random_node(), request, false);
        slot.next_at = now() + actor_client_timeout;
    }

    /// Inspect actor `name` of supervisor `one`'s tree (`acked`: the increments acknowledged to
    /// it since its last restart).
    void run_look(request_slot& slot, const std::string& name, std::uint64_t acked,
                  const supervisor_books& one) {
        if (slot.next_at > now()) {
            return;
        }
        if (one.at == stage::done) {
            slot.next_at = instant::never();
            return;
        }
        slot.round = one.round;
        slot.acked_at_invoke = acked;
        slot.current = cluster_.submit(cluster_.random_node(),
                                       {{"op", "inspect"}, {"name", name}}, false);
        // The next read once this one is answered, or after a client's timeout.
        slot.next_at = now() + actor_client_timeout;
    }

    void read_again(request_slot& slot) {
        slot.next_at = now() + inspect_every.scaled(0.5 + cluster_.random().unit());
    }

    /// A retryable answer, or one that names no such actor (yet): try again after a pause.
    /// Anything else not ok is a violation described by `what`.
    void refused(request_slot& slot, const std::string& answer, const std::string& what) {
        cluster_.note_error(answer);
        const auto parsed = parse_object(answer);
        if (parsed && !parsed->value("retry", false) &&
            parsed->value("error", "").rfind("no such actor", 0) != 0) {
            cluster_.fail(fmt::format("{} answered with an error that is not worth a retry: {}",
                                      what, answer));
        }
        slot.next_at =
            now() + uniform(cluster_.random(), actor_retry_pause_min, actor_retry_pause_max);
    }

    void increment_answered(supervisor_books& one, worker_books& worker,
                            const std::string& answer) {
        auto& slot = worker.increment;
        const auto parsed = parse_object(answer);
        if (!parsed || !parsed->value("ok", false)) {
            refused(slot, answer,
                    fmt::format("increment {} to {} ({})", worker.increment_sequence,
                                worker.name, stage_name(one.at)));
            return;
        }
        worker.acked += 1;
        worker.acked_total += 1;
        slot.active = false;
        slot.next_at = now() + client_think_max.scaled(cluster_.random().unit());
        cluster_.trace().add_text(worker.increment_from);
        cluster_.trace().add_u64(worker.increment_sequence);
    }

    void fail_answered(supervisor_books& one, std::size_t index, const std::string& answer) {
        auto& worker = one.workers[index];
        auto& slot = worker.fail;
        const auto parsed = parse_object(answer);
        if (parsed && parsed->value("ok", false)) {
            cluster_.fail(fmt::format("failing message {} to {} was answered ok: {}",
                                      worker.fail_sequence, worker.name, answer));
            return;
        }
        if (!parsed || !is_injected(*parsed)) {
            refused(slot, answer,
                    fmt::format("failing message {} to {}", worker.fail_sequence, worker.name));
            return;
        }
        slot.active = false;
        slot.next_at = instant::never();
        worker.fails_acked += 1;
        one.fails_acked += 1;
        cluster_.trace().add_text(worker.fail_from);
        cluster_.trace().add_u64(worker.fail_sequence);
        const bool last = one.kind->intensity < escalation_failures &&
                          one.fails_acked == escalation_failures;
        enter(one, last ? stage::escalating : stage::restarting);
    }

    /// The escalating supervisor's last failing message is in flight or answered.
    static bool may_have_escalated(const supervisor_books& one) {
        return one.kind->intensity < escalation_failures &&
               (one.at == stage::escalating || one.at == stage::done ||
                (one.at == stage::failing && one.fails_acked + 1 == escalation_failures));
    }

    void supervisor_inspected(supervisor_books& one, const std::string& answer) {
        auto& slot = one.look;
        const auto parsed = parse_object(answer);
        if (!parsed || !parsed->value("ok", false)) {
            refused(slot, answer, fmt::format("inspect of {}", one.kind->name));
            return;
        }
        read_again(slot);
        one.inspections += 1;
        one.last_status = parsed->value("status", "");
        cluster_.trace().add_text(one.last_status);
        std::vector<std::string> expected;
        for (const auto& worker : one.workers) {
            expected.push_back(worker.name);
        }
        const auto children = (*parsed)["children"];
        if (!children.is_array() || children.get<std::vector<std::string>>() != expected) {
            cluster_.fail(fmt::format("{} lists children {}, expected {}", one.kind->name,
                                      children.dump(), actors::json(expected).dump()));
            return;
        }
        if (one.last_status != "running" && !may_have_escalated(one)) {
            cluster_.fail(fmt::format("{} is {} after {} failing messages ({}): {}",
                                      one.kind->name, one.last_status, one.fails_acked,
                                      stage_name(one.at), answer));
            return;
        }
        if (slot.round != one.round) {
            return;
        }
        one.seen = one.at == stage::escalating ? one.last_status == "failed"
                                               : one.last_status == "running";
    }

    /// Parse a worker's inspection: its count, or nothing after failing the run.
    std::optional<std::uint64_t> count_of(const worker_books& worker, const actors::json& parsed,
                                          const std::string& answer) {
        const auto& state = parsed["state"];
        if (!state.is_object() || !state.contains("n") || !state["n"].is_number_unsigned() ||
            !parsed["failures"].is_number_unsigned()) {
            cluster_.fail(fmt::format("{}: inspect answered without a count: {}", worker.name,
                                      answer));
            return std::nullopt;
        }
        return state["n"].get<std::uint64_t>();
    }

    void worker_inspected(supervisor_books& one, std::size_t index, const std::string& answer) {
        auto& worker = one.workers[index];
        auto& slot = worker.look;
        const auto parsed = parse_object(answer);
        if (!parsed || !parsed->value("ok", false)) {
            refused(slot, answer, fmt::format("inspect of {}", worker.name));
            return;
        }
        read_again(slot);
        const auto n = count_of(worker, *parsed, answer);
        if (!n) {
            return;
        }
        const std::string status = parsed->value("status", "");
        const auto failures = (*parsed)["failures"].get<std::uint64_t>();
        cluster_.trace().add_u64(*n);
        if (slot.round != one.round) {
            return; // read before the round began: its bounds no longer apply
        }
        worker.last_n = *n;
        worker.last_status = status;
        if (auto why = check_worker(one, index, *n, status, failures)) {
            cluster_.fail(fmt::format("{} ({}, {} round {}, {} failing messages to it, {} "
                                      "restarts): {}; inspect: {}",
                                      worker.name, one.kind->strategy, stage_name(one.at),
                                      one.round, worker.fails_acked, worker.restarts, *why,
                                      answer));
        }
    }

    /// What is wrong with worker `index` showing count `n`, status and failures in the current
    /// round (and mark it seen when the round waits for this), or nothing.
    std::optional<std::string> check_worker(supervisor_books& one, std::size_t index,
                                            std::uint64_t n, const std::string& status,
                                            std::uint64_t failures) {
        auto& worker = one.workers[index];
        const bool failing = one.at == stage::failing && one.failing == index;
        if (one.at == stage::escalating) {
            worker.seen = status == "stopped";
            return std::nullopt;
        }
        if (status != "running" && !(failing && may_have_escalated(one))) {
            return fmt::format("status {}, expected running", status);
        }
        if (failures != worker.fails_acked && !(failing && failures == worker.fails_acked + 1)) {
            return fmt::format("{} failures, expected {}", failures, worker.fails_acked);
        }
        switch (one.at) {
        case stage::waiting_children:
        case stage::final_check:
            if (n != worker.acked) {
                return fmt::format("n {}, expected exactly {}", n, worker.acked);
            }
            worker.seen = true;
            return std::nullopt;
        case stage::counting:
            if (n < worker.look.acked_at_invoke || n > worker.started) {
                return fmt::format("n {} outside [{}, {}] (acknowledged at the inspect, begun "
                                   "since the last restart)",
                                   n, worker.look.acked_at_invoke, worker.started);
            }
            return std::nullopt;
        case stage::failing:
        case stage::restarting:
            if (n != worker.acked && !(one.must_restart[index] && n == 0)) {
                return fmt::format("n {}, expected {}{}", n, worker.acked,
                                   one.must_restart[index]
                                       ? " (not restarted yet) or 0 (restarted)"
                                       : ": this worker must not be restarted");
            }
            worker.seen = !one.must_restart[index] || n == 0;
            return std::nullopt;
        case stage::escalating:
        case stage::done:
            return std::nullopt;
        }
        return std::nullopt;
    }

    actor_cluster cluster_;
    std::vector<supervisor_books> supervisors_;
    bool winding_down_ = false;
};

std::string count_text(const std::optional<std::uint64_t>& n) {
    return n ? fmt::format("{}", *n) : "?";
}

void print_trees(report& out, const supervision_run& run) {
    for (const auto& one : run.supervisors()) {
        out.line("  {} ({}, intensity {} in {} s): {}, {} failing messages acknowledged, {} "
                 "rounds, status {}",
                 one.kind->name, one.kind->strategy, one.kind->intensity,
                 one.kind->period_ms / 1000, stage_name(one.at), one.fails_acked, one.round,
                 one.last_status.empty() ? "?" : one.last_status);
        for (const auto& worker : one.workers) {
            out.line("    {}: n {} expected {} ({} acknowledged in all), {} failing messages, {} "
                     "restarts, status {}",
                     worker.name, count_text(worker.last_n), worker.acked, worker.acked_total,
                     worker.fails_acked, worker.restarts,
                     worker.last_status.empty() ? "?" : worker.last_status);
        }
    }
}

/// Why the run did not finish: each supervisor not done, with its workers' groups.
std::string describe_unfinished(const supervision_run& run, const actor_cluster& nodes) {
    std::string text;
    const auto names = watched_names();
    for (const auto& one : run.supervisors()) {
        if (one.at == stage::done) {
            continue;
        }
        text += fmt::format("; {} stuck in {} (round {})", one.kind->name, stage_name(one.at),
                            one.round);
        for (const auto& worker : one.workers) {
            const auto at = std::find(names.begin(), names.end(), worker.name) - names.begin();
            text += fmt::format("\n  {} (n {}, expected {}, seen {}):{}", worker.name,
                                count_text(worker.last_n), worker.acked, worker.seen,
                                nodes.describe_group(static_cast<std::size_t>(at)));
        }
    }
    return text;
}

scenario_result run_actor_supervision(const scenario_options& options) {
    scenario_result outcome;
    const auto chosen = effective_of(options, actor_supervision_scenario());
    report out(options.out);
    supervision_run run(options, chosen.nodes_count);
    actor_cluster& nodes = run.cluster();
    prng faults(options.seed ^ 0x7375706572ULL);
    out.line("actor-supervision: {} nodes, {} supervisors, seed {}, {:.0f} s of faults, loss "
             "{:.3f}",
             chosen.nodes_count, supervisor_kinds.size(), options.seed, chosen.main_phase.sec(),
             chosen.loss);
    const auto finish = [&](scenario_result result) {
        result.trace_hash = nodes.trace().value();
        result.events = nodes.events();
        result.simulated_seconds = nodes.now().ns() / 1e9;
        return result;
    };

    nodes.run_until(nodes.now() + settle_phase);
    if (!run.spawn_all(nodes.now() + spawn_phase_max)) {
        outcome.ok = false;
        outcome.failure = fmt::format("the supervisors were not all spawned within {} on a "
                                      "healthy cluster",
                                      seconds_text(spawn_phase_max));
        return finish(outcome);
    }
    out.line("  spawned {} supervisors at {:.1f} s", supervisor_kinds.size(),
             nodes.now().ns() / 1e9);

    nodes.net().set_loss(chosen.loss);
    nodes.net().set_reorder(0.1, duration::milliseconds(5));
    run.start();
    const auto counts = inject_faults(nodes, faults, nodes.now() + chosen.main_phase,
                                      [&](instant limit) { nodes.run_until(limit); });

    // Liveness: heal everything; every supervisor finishes its round and a last counting one.
    heal_everything(nodes);
    run.wind_down();
    const instant healed = nodes.now();
    const instant deadline = healed + liveness_max;
    while (!nodes.violation() && !run.all_done() && nodes.now() < deadline) {
        nodes.run_until(std::min(deadline, nodes.now() + duration::milliseconds(500)));
    }
    const instant done_at = nodes.now();

    out.line("  {} crashes, {} partitions, {} actor log lines, {} payloads rejected",
             counts.crashes, counts.partitions, nodes.logs(), nodes.rejected());
    print_driver_report(out, nodes);
    print_trees(out, run);
    if (nodes.violation()) {
        outcome.ok = false;
        outcome.failure = *nodes.violation();
        return finish(outcome);
    }
    if (!run.all_done()) {
        outcome.ok = false;
        outcome.failure = fmt::format("not finished {:.0f} s after healing{}",
                                      (done_at - healed).sec(), describe_unfinished(run, nodes));
        return finish(outcome);
    }
    out.line("  finished {:.1f} s after healing: every count exact, sup-escalate failed with its "
             "worker stopped",
             (done_at - healed).sec());
    return finish(outcome);
}

} // namespace

scenario actor_supervision_scenario() {
    return scenario{"actor-supervision",
                    "supervision trees of Lua actors (one_for_one, one_for_all, rest_for_one, "
                    "and one that escalates) on N nodes under crashes, restarts, partitions, "
                    "loss and reordering; each failure restarts exactly the workers its strategy "
                    "names, counts stay exact, one leader per epoch",
                    7, 60.0, 0.02, &run_actor_supervision};
}

} // namespace reef::sim::detail
