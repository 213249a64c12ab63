// Scenario `actor-counters`: durable actors on N simulated nodes, each node the whole
// reef::node::node reefd runs (membership, DHT, replica host, actor table and its courier), every
// payload through the real envelope and codecs. A few counter actors are spawned; clients send
// them increments, some of which ask the counter to forward one increment to another counter
// (actor-to-actor delivery through the courier). Meanwhile nodes crash (losing every write not
// yet synced), restart from their storage with a new incarnation, get cut off by partitions and
// lose or reorder messages. After the faults stop, every client's last increment must be
// answered and the couriers must drain.
//
// What must hold (exactly once, end to end):
//  - at every inspect, certain <= n <= certain + maybe, where an increment is certain once its
//    sender was answered ok and maybe while it is in flight (a forwarded increment is certain
//    only once its source message was answered and the courier had time to deliver it, so the
//    lower bound counts direct increments only until the end);
//  - at the end, n == acknowledged direct increments + forwards carried by acknowledged messages;
//  - no two nodes ever lead the same epoch of an actor's group, and members that applied the
//    same index hold the same committed record.
//
// The nodes run under the shared driver (actor_cluster.hpp), which does what reefd's does and
// checks the replica safety. A client retries the same (from, sequence) through a random node
// until it is answered ok.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "sim/scenarios/actor_cluster.hpp"
#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t actors_count = 4;
constexpr std::size_t clients_per_actor = 3;
/// Percent of increments that also ask the counter to forward one increment to another.
constexpr std::uint64_t forward_percent = 30;
constexpr duration client_timeout = actor_client_timeout;
constexpr duration client_think_max = duration::milliseconds(80);
constexpr duration inspect_every = duration::milliseconds(700);
/// Time for every node to join before the actors are spawned.
constexpr duration settle_phase = duration::seconds(5);
constexpr duration spawn_phase_max = duration::seconds(30);
/// After healing: every client answered and every counter exact within this, or the run fails.
constexpr duration liveness_max = duration::seconds(90);

constexpr std::string_view counter_program = R"(function init(args) return { n = 0 } end
function handle(state, msg, ctx)
  state.n = state.n + 1
  if msg.forward then ctx.send(msg.forward, { hop = true }) end
  return state
end
)";

std::string actor_name(std::size_t index) { return fmt::format("counter-{}", index); }

std::vector<std::string> actor_names() {
    std::vector<std::string> names;
    for (std::size_t a = 0; a < actors_count; ++a) {
        names.push_back(actor_name(a));
    }
    return names;
}

/// A client of one actor: one increment in flight at a time, retried until answered ok.
struct client {
    std::size_t actor = 0;
    std::string from;
    std::uint64_t sequence = 0;
    std::optional<std::size_t> forward; // the actor this increment asks to forward to
    bool active = false;                // an increment is in flight
    instant next_at;                    // give up on the attempt / retry / start the next one
    actor_attempt current;
    std::uint64_t attempts = 0;
};

/// Reads of one actor's state through its log (op "inspect").
struct inspector {
    std::size_t actor = 0;
    actor_attempt current;
    instant next_at;
    instant invoked;
    std::uint64_t direct_acked_at_invoke = 0;
};

struct counter_books {
    std::uint64_t direct_acked = 0;    // increments answered ok
    std::uint64_t direct_started = 0;  // increments ever sent (answered or not)
    std::uint64_t forward_acked = 0;   // forwards carried by messages answered ok
    std::uint64_t forward_started = 0; // forwards carried by messages ever sent
    std::uint64_t inspections = 0;
    std::optional<std::uint64_t> last_n;
    std::size_t last_outbox = 0;
    instant last_inspected_invoke;     // invocation time of the inspection behind last_n
};

class counters_run final : public actor_workload {
public:
    counters_run(const scenario_options& options, std::size_t nodes_count)
        : cluster_(options, nodes_count, actor_names()) {
        for (std::size_t a = 0; a < actors_count; ++a) {
            books_.emplace_back();
            inspectors_.push_back(inspector{a, {}, instant::never(), {}, 0});
            for (std::size_t c = 0; c < clients_per_actor; ++c) {
                client one;
                one.actor = a;
                one.from = fmt::format("client:{:016x}", cluster_.random().next_u64());
                one.next_at = instant::never();
                clients_.push_back(std::move(one));
            }
        }
        cluster_.attach(*this);
        cluster_.start_all();
    }

    counters_run(const counters_run&) = delete;
    counters_run& operator=(const counters_run&) = delete;

    actor_cluster& cluster() { return cluster_; }
    const std::vector<counter_books>& books() const { return books_; }

    /// Start the actors: one spawn each, retried until answered ok or `limit` passes.
    bool spawn_all(instant limit) {
        std::vector<actors::json> requests;
        for (std::size_t a = 0; a < actors_count; ++a) {
            requests.push_back({{"op", "spawn"},
                                {"name", actor_name(a)},
                                {"program", counter_program},
                                {"module", ""},
                                {"args", actors::json::object()},
                                {"parent", ""},
                                {"owner", "sim"},
                                {"from", "client:5157"},
                                {"sequence", 1}});
        }
        return cluster_.spawn_all(requests, limit);
    }

    /// Clients and inspectors begin now.
    void start_traffic() {
        for (auto& one : clients_) {
            one.next_at = cluster_.now();
        }
        for (auto& one : inspectors_) {
            one.next_at = cluster_.now();
        }
    }

    /// Run the world until `limit`. `new_work`: clients start new increments (else they only
    /// finish the one in flight) and inspectors keep reading.
    void run_until(instant limit, bool new_work) {
        new_work_ = new_work;
        cluster_.run_until(limit);
    }

    /// Clients with an increment still unanswered.
    std::size_t clients_in_flight() const {
        return static_cast<std::size_t>(std::count_if(
            clients_.begin(), clients_.end(), [](const client& one) { return one.active; }));
    }

    /// Every counter inspected after the last acknowledgement with exactly the expected value
    /// and nothing left to deliver.
    bool settled() const {
        if (clients_in_flight() != 0) {
            return false;
        }
        for (const auto& book : books_) {
            if (!book.last_n || book.last_inspected_invoke < last_ack_at_ ||
                *book.last_n != book.direct_acked + book.forward_acked || book.last_outbox != 0) {
                return false;
            }
        }
        return true;
    }

    instant next_work_at() const override {
        instant earliest = instant::never();
        for (const auto& one : clients_) {
            earliest = std::min(earliest, one.next_at);
        }
        for (const auto& one : inspectors_) {
            earliest = std::min(earliest, one.next_at);
        }
        return earliest;
    }

    void work() override {
        run_clients();
        run_inspectors();
    }

    /// Route an answer to the client or inspector that waits for it.
    bool answered(node_index via, std::uint32_t life, std::uint64_t id,
                  const std::string& text) override {
        for (auto& one : clients_) {
            if (one.active && one.current.answers(via, life, id)) {
                one.current.live = false;
                client_answered(one, text);
                return true;
            }
        }
        for (auto& one : inspectors_) {
            if (one.current.answers(via, life, id)) {
                one.current.live = false;
                inspected(one, text);
                return true;
            }
        }
        return false;
    }

private:
    instant now() const { return cluster_.now(); }

    void run_clients() {
        for (auto& one : clients_) {
            if (one.next_at > now()) {
                continue;
            }
            if (!one.active) {
                if (!new_work_) {
                    one.next_at = instant::never();
                    continue;
                }
                begin_increment(one);
            }
            send_increment(one);
        }
    }

    void begin_increment(client& one) {
        auto& random = cluster_.random();
        auto& book = books_[one.actor];
        one.sequence += random.next_u64() % 4 == 0 ? 2 : 1; // gaps are allowed from clients
        one.forward.reset();
        if (random.next_u64() % 100 < forward_percent) {
            const auto other = (one.actor + 1 + random.next_u64() % (actors_count - 1)) %
                               actors_count;
            one.forward = other;
            books_[other].forward_started += 1;
        }
        book.direct_started += 1;
        one.active = true;
        one.attempts = 0;
    }

    void send_increment(client& one) {
        actors::json body = {{"inc", 1}};
        if (one.forward) {
            body["forward"] = actor_name(*one.forward);
        }
        const actors::json request = {{"op", "deliver"}, {"name", actor_name(one.actor)},
                                      {"from", one.from},  {"sequence", one.sequence},
                                      {"body", body},      {"kind", "message"}};
        one.attempts += 1;
        one.current = cluster_.submit(cluster_.random_node(), request, false);
        one.next_at = now() + client_timeout;
    }

    /// An answer for some client's current attempt arrived.
    void client_answered(client& one, const std::string& answer) {
        const auto parsed = parse_object(answer);
        if (parsed && parsed->value("ok", false)) {
            books_[one.actor].direct_acked += 1;
            if (one.forward) {
                books_[*one.forward].forward_acked += 1;
            }
            last_ack_at_ = now();
            one.active = false;
            one.next_at = now() + client_think_max.scaled(cluster_.random().unit());
            cluster_.trace().add_text(one.from);
            cluster_.trace().add_u64(one.sequence);
            return;
        }
        cluster_.note_error(answer);
        if (parsed && !parsed->value("retry", false)) {
            const std::string error = parsed->value("error", "");
            if (error.rfind("no such actor", 0) != 0) {
                cluster_.fail(fmt::format("{} sequence {} to {} answered with an error that is "
                                          "not worth a retry: {}",
                                          one.from, one.sequence, actor_name(one.actor), answer));
            }
        }
        one.next_at =
            now() + uniform(cluster_.random(), actor_retry_pause_min, actor_retry_pause_max);
    }

    void run_inspectors() {
        for (auto& one : inspectors_) {
            if (one.next_at > now()) {
                continue;
            }
            const actors::json request = {{"op", "inspect"}, {"name", actor_name(one.actor)}};
            one.direct_acked_at_invoke = books_[one.actor].direct_acked;
            one.invoked = now();
            one.current = cluster_.submit(cluster_.random_node(), request, false);
            one.next_at = now() + inspect_every.scaled(0.5 + cluster_.random().unit());
        }
    }

    void inspected(inspector& one, const std::string& answer) {
        const auto parsed = parse_object(answer);
        if (!parsed || !parsed->value("ok", false)) {
            cluster_.note_error(answer);
            return;
        }
        auto& book = books_[one.actor];
        const auto& state = (*parsed)["state"];
        if (!state.is_object() || !state.contains("n") || !state["n"].is_number_unsigned()) {
            cluster_.fail(fmt::format("{}: inspect answered a state without a count: {}",
                                      actor_name(one.actor), answer));
            return;
        }
        const auto n = state["n"].get<std::uint64_t>();
        const std::uint64_t upper = book.direct_started + book.forward_started;
        book.inspections += 1;
        cluster_.trace().add_u64(n);
        if (n > upper) {
            cluster_.fail(fmt::format("{} applied {} increments, more than the {} ever sent to "
                                      "it ({} direct, {} forwarded): a message applied twice",
                                      actor_name(one.actor), n, upper, book.direct_started,
                                      book.forward_started));
            return;
        }
        if (n < one.direct_acked_at_invoke) {
            cluster_.fail(fmt::format("{} shows {} increments, fewer than the {} acknowledged "
                                      "before the inspect was sent: an acknowledged increment "
                                      "was lost",
                                      actor_name(one.actor), n, one.direct_acked_at_invoke));
            return;
        }
        if (!book.last_n || one.invoked >= book.last_inspected_invoke) {
            book.last_n = n;
            book.last_outbox = (*parsed)["outbox"].is_array() ? (*parsed)["outbox"].size() : 0;
            book.last_inspected_invoke = one.invoked;
        }
    }

    actor_cluster cluster_;
    std::vector<client> clients_;
    std::vector<inspector> inspectors_;
    std::vector<counter_books> books_;
    bool new_work_ = false;
    instant last_ack_at_;
};

scenario_result run_actor_counters(const scenario_options& options) {
    scenario_result outcome;
    const auto chosen = effective_of(options, actor_counters_scenario());
    report out(options.out);
    counters_run run(options, chosen.nodes_count);
    actor_cluster& nodes = run.cluster();
    prng faults(options.seed ^ 0x6661756c7473ULL);
    out.line("actor-counters: {} nodes, {} counters x {} clients ({} % forwarding), seed {}, "
             "{:.0f} s of faults, loss {:.3f}",
             chosen.nodes_count, actors_count, clients_per_actor, forward_percent, options.seed,
             chosen.main_phase.sec(), chosen.loss);
    const auto finish = [&](scenario_result result) {
        result.trace_hash = nodes.trace().value();
        result.events = nodes.events();
        result.simulated_seconds = nodes.now().ns() / 1e9;
        return result;
    };

    run.run_until(nodes.now() + settle_phase, false);
    if (!run.spawn_all(nodes.now() + spawn_phase_max)) {
        outcome.ok = false;
        outcome.failure = fmt::format("the counters were not all spawned within {} on a healthy "
                                      "cluster",
                                      seconds_text(spawn_phase_max));
        return finish(outcome);
    }
    out.line("  spawned {} counters at {:.1f} s", actors_count, nodes.now().ns() / 1e9);

    nodes.net().set_loss(chosen.loss);
    nodes.net().set_reorder(0.1, duration::milliseconds(5));
    run.start_traffic();
    const auto counts = inject_faults(nodes, faults, nodes.now() + chosen.main_phase,
                                      [&](instant limit) { run.run_until(limit, true); });

    // Liveness: heal everything; every client must be answered and every counter exact.
    heal_everything(nodes);
    const instant healed = nodes.now();
    const instant deadline = healed + liveness_max;
    while (!nodes.violation() && !run.settled() && nodes.now() < deadline) {
        // New increments only at first, so the counters are busy while the cluster recovers.
        run.run_until(std::min(deadline, nodes.now() + duration::milliseconds(500)),
                      nodes.now() - healed < duration::seconds(5));
    }
    const instant settled_at = nodes.now();

    std::uint64_t acked = 0;
    std::uint64_t forwarded = 0;
    for (const auto& book : run.books()) {
        acked += book.direct_acked;
        forwarded += book.forward_acked;
    }
    out.line("  {} crashes, {} partitions; {} increments acknowledged ({} forwarding), "
             "{} actor log lines, {} payloads rejected",
             counts.crashes, counts.partitions, acked, forwarded, nodes.logs(),
             nodes.rejected());
    print_driver_report(out, nodes);
    for (std::size_t a = 0; a < actors_count; ++a) {
        const auto& book = run.books()[a];
        out.line("  {}: n {} expected {} ({} direct + {} forwarded), {} inspections",
                 actor_name(a), book.last_n ? fmt::format("{}", *book.last_n) : "?",
                 book.direct_acked + book.forward_acked, book.direct_acked, book.forward_acked,
                 book.inspections);
    }
    if (nodes.violation()) {
        outcome.ok = false;
        outcome.failure = *nodes.violation();
        return finish(outcome);
    }
    if (!run.settled()) {
        outcome.ok = false;
        outcome.failure = fmt::format("not settled {:.0f} s after healing: {} clients still "
                                      "wait for an answer",
                                      (settled_at - healed).sec(), run.clients_in_flight());
        for (std::size_t a = 0; a < actors_count; ++a) {
            const auto& book = run.books()[a];
            const std::uint64_t expected = book.direct_acked + book.forward_acked;
            if (!book.last_n || *book.last_n != expected || book.last_outbox != 0) {
                outcome.failure += fmt::format(
                    "; {} shows n {} with {} undelivered, expected {} (at most {}):{}",
                    actor_name(a), book.last_n ? fmt::format("{}", *book.last_n) : "?",
                    book.last_outbox, expected, book.direct_started + book.forward_started,
                    nodes.describe_group(a));
            }
        }
        return finish(outcome);
    }
    out.line("  settled {:.1f} s after healing: every counter exact", (settled_at - healed).sec());
    return finish(outcome);
}

} // namespace

scenario actor_counters_scenario() {
    return scenario{"actor-counters",
                    "counter actors on N nodes, with actor-to-actor forwarding, under crashes "
                    "(losing unsynced writes), restarts, partitions, loss and reordering; every "
                    "acknowledged increment applies exactly once, one leader per epoch",
                    7, 30.0, 0.02, &run_actor_counters};
}

} // namespace reef::sim::detail
