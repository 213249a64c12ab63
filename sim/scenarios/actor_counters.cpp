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
// The driver does what reefd's does: one storage per node, every replica write staged and synced
// once per input before the sends that follow it, one timer per node at the node's deadline.
// A client retries the same (from, sequence) through a random node until it is answered ok.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reef/actors/record.hpp"
#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/node/node.hpp"
#include "sim/network.hpp"
#include "sim/replica_storage.hpp"
#include "sim/scenarios/common.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t actors_count = 4;
constexpr std::size_t clients_per_actor = 3;
/// Percent of increments that also ask the counter to forward one increment to another.
constexpr std::uint64_t forward_percent = 30;
constexpr duration host_request_timeout = duration::seconds(3);
/// A client that heard nothing tries again through another node after this.
constexpr duration client_timeout = duration::seconds(4);
constexpr duration client_think_max = duration::milliseconds(80);
constexpr duration retry_pause_min = duration::milliseconds(50);
constexpr duration retry_pause_max = duration::milliseconds(300);
constexpr duration inspect_every = duration::milliseconds(700);
/// Time for every node to join before the actors are spawned.
constexpr duration settle_phase = duration::seconds(5);
constexpr duration spawn_phase_max = duration::seconds(30);
/// After healing: every client answered and every counter exact within this, or the run fails.
constexpr duration liveness_max = duration::seconds(90);
constexpr std::uint64_t unix_epoch_of_run = 1'800'000'000;
constexpr std::size_t events_max = std::size_t{1} << 22U;

constexpr std::string_view counter_program = R"(function init(args) return { n = 0 } end
function handle(state, msg, ctx)
  state.n = state.n + 1
  if msg.forward then ctx.send(msg.forward, { hop = true }) end
  return state
end
)";

std::string actor_name(std::size_t index) { return fmt::format("counter-{}", index); }

crypto::identity identity_of(std::uint64_t seed, std::size_t index) {
    prng draw(seed ^ (0xA5C7012345ULL * (index + 1)));
    return crypto::identity::from_seed(random_id(draw).bytes());
}

std::string address_of(std::size_t index) {
    return fmt::format("10.1.{}.{}:7400", (index >> 8U) & 0xFFU, index & 0xFFU);
}

struct in_transit {
    node_index from = 0;
    node_index to = 0;
    std::vector<std::uint8_t> bytes;
};

struct node_state {
    bool up = false;
    std::uint32_t life = 0;
    std::uint64_t incarnation = 0; // the highest this node has persisted
    replica_storage storage;
    std::unique_ptr<node::node> core;
};

/// One attempt of a request through node `via` (in its life `life`), as that node's id `id`.
struct attempt {
    node_index via = 0;
    std::uint32_t life = 0;
    std::uint64_t id = 0;
    bool live = false;
};

/// A client of one actor: one increment in flight at a time, retried until answered ok.
struct client {
    std::size_t actor = 0;
    std::string from;
    std::uint64_t sequence = 0;
    std::optional<std::size_t> forward; // the actor this increment asks to forward to
    bool active = false;                // an increment is in flight
    instant next_at;                    // give up on the attempt / retry / start the next one
    attempt current;
    std::uint64_t attempts = 0;
};

/// Reads of one actor's state through its log (op "inspect").
struct inspector {
    std::size_t actor = 0;
    attempt current;
    instant next_at;
    instant invoked;
    std::uint64_t direct_acked_at_invoke = 0;
};

/// Which of a node's cores had its deadline in the past after a tick (several may at once).
struct stale_sources {
    std::uint64_t replicas = 0;
    std::uint64_t dht = 0;
    std::uint64_t actors = 0;
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

class counters_run {
public:
    counters_run(const scenario_options& options, std::size_t nodes_count)
        : options_(options), random_(options.seed ^ 0x6163746f72ULL),
          network_(nodes_count, options.seed, network_options{}),
          scheduler_(nodes_count + 1, events_max), nodes_(nodes_count) {
        for (std::size_t i = 0; i < nodes_count; ++i) {
            identities_.push_back(identity_of(options.seed, i));
            ids_.push_back(identities_.back().id());
            addresses_.push_back(address_of(i));
        }
        limits_.replica.group.log_retained_max = 32; // snapshots and catch-up from them, often
        limits_.replica.request_timeout = host_request_timeout;
        limits_.replica.retry_interval = duration::milliseconds(300);
        REEF_ASSERT(limits_.validate().ok());
        for (std::size_t a = 0; a < actors_count; ++a) {
            groups_.push_back(node::node::actor_group_of(actor_name(a)));
            books_.emplace_back();
            inspectors_.push_back(inspector{a, {}, instant::never(), {}, 0});
            for (std::size_t c = 0; c < clients_per_actor; ++c) {
                client one;
                one.actor = a;
                one.from = fmt::format("client:{:016x}", random_.next_u64());
                one.next_at = instant::never();
                clients_.push_back(std::move(one));
            }
        }
        split_brain_.resize(actors_count);
        applied_seen_.resize(actors_count);
        applied_checked_.assign(nodes_count, std::vector<std::uint64_t>(actors_count, 0));
        for (std::size_t i = 0; i < nodes_count; ++i) {
            start_node(static_cast<node_index>(i));
        }
    }

    instant now() const { return scheduler_.now(); }
    std::size_t nodes_count() const { return nodes_.size(); }
    std::uint64_t events() const { return events_; }
    trace_hasher& trace() { return trace_; }
    network& net() { return network_; }
    bool up(node_index node) const { return nodes_[node].up; }
    const std::optional<std::string>& violation() const { return violation_; }
    const std::vector<counter_books>& books() const { return books_; }
    const std::map<std::string, std::uint64_t>& errors() const { return errors_; }
    std::uint64_t logs() const { return logs_; }
    std::uint64_t rejected() const { return rejected_; }
    std::uint64_t leaders_seen() const { return leaders_seen_; }
    std::uint64_t records_compared() const { return records_compared_; }
    std::uint64_t stale_deadlines() const { return stale_deadlines_; }
    const std::string& first_stale() const { return first_stale_; }
    const stale_sources& stale_by() const { return stale_by_; }

    /// Start the actors: one spawn each, retried until answered ok or `limit` passes.
    bool spawn_all(instant limit) {
        std::vector<bool> spawned(actors_count, false);
        std::vector<attempt> tries(actors_count);
        std::vector<instant> next(actors_count, now());
        spawning_ = true;
        while (now() < limit) {
            bool all = true;
            for (std::size_t a = 0; a < actors_count; ++a) {
                if (spawned[a]) {
                    continue;
                }
                all = false;
                if (auto answer = take_answer(tries[a])) {
                    const auto parsed = parse(*answer);
                    if (parsed && parsed->value("ok", false)) {
                        spawned[a] = true;
                        continue;
                    }
                    note_error(*answer);
                    next[a] = std::min(next[a], now() + retry_pause_max);
                }
                if (next[a] <= now()) {
                    const actors::json request = {{"op", "spawn"},
                                                  {"name", actor_name(a)},
                                                  {"program", counter_program},
                                                  {"module", ""},
                                                  {"args", actors::json::object()},
                                                  {"parent", ""},
                                                  {"owner", "sim"},
                                                  {"from", "client:5157"},
                                                  {"sequence", 1}};
                    tries[a] = submit(random_node(), request, true);
                    next[a] = now() + client_timeout;
                }
            }
            if (all) {
                spawning_ = false;
                answers_.clear();
                return true;
            }
            run_until(std::min(limit, now() + duration::milliseconds(50)), false);
        }
        return false;
    }

    void crash(node_index node) {
        auto& state = nodes_[node];
        if (!state.up) {
            return;
        }
        state.up = false;
        state.storage.crash();
        state.core.reset();
        scheduler_.cancel_timer(node);
        trace_.add_u64(0xdead0000ULL + node);
    }

    void start_node(node_index node) {
        auto& state = nodes_[node];
        REEF_ASSERT(!state.up);
        state.up = true;
        state.life += 1;
        state.incarnation += 1; // higher than any this node used (persisted before announced)
        const std::uint64_t unix_seconds =
            unix_epoch_of_run + static_cast<std::uint64_t>(now().ns() / 1'000'000'000);
        state.core = std::make_unique<node::node>(limits_, identities_[node], addresses_[node],
                                                  state.incarnation, random_.next_u64(), now(),
                                                  unix_seconds);
        auto stored = state.storage.groups();
        REEF_ASSERT(stored.ok());
        for (const auto& group : *stored) {
            auto loaded = state.storage.load(group);
            REEF_ASSERT(loaded.ok() && loaded->has_value());
            state.core->replica_recover(now(), group, std::move(**loaded));
        }
        state.core->attach_replica_store(state.storage);
        // Join through node 0 (the usual --join address) and two others, as an operator would.
        std::vector<std::string> seeds;
        for (std::size_t draw = 0; draw < 3 && nodes_.size() > 1; ++draw) {
            const auto other = draw == 0 ? node_index{0}
                                         : static_cast<node_index>(random_.next_u64() %
                                                                   nodes_.size());
            if (other != node && std::find(seeds.begin(), seeds.end(), addresses_[other]) ==
                                     seeds.end()) {
                seeds.push_back(addresses_[other]);
            }
        }
        state.core->join(now(), seeds);
        trace_.add_u64(0x5eed0000ULL + node);
        drain(node);
    }

    /// Clients and inspectors begin now.
    void start_traffic() {
        for (auto& one : clients_) {
            one.next_at = now();
        }
        for (auto& one : inspectors_) {
            one.next_at = now();
        }
    }

    /// Run the world until `limit`. `new_work`: clients start new increments (else they only
    /// finish the one in flight) and inspectors keep reading.
    void run_until(instant limit, bool new_work) {
        new_work_ = new_work;
        while (!violation_) {
            const instant soonest = std::min(next_actor_work_at(), limit);
            if (auto next = scheduler_.pop_until(soonest)) {
                ++events_;
                if (next->is_timer) {
                    tick(next->timer.node);
                } else {
                    deliver(next->item);
                }
                continue;
            }
            if (soonest >= limit) {
                scheduler_.advance_to(limit);
                return;
            }
            scheduler_.advance_to(soonest);
            run_clients();
            run_inspectors();
        }
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

    /// Every node's view of actor `a`'s group, for a failure message.
    std::string describe_group(std::size_t a) const {
        std::string out;
        for (node_index node = 0; node < nodes_.size(); ++node) {
            const auto& state = nodes_[node];
            out += fmt::format("\n    node {} {}", node, state.up ? "up" : "down");
            const replica::group* core =
                state.core ? state.core->replicas().find(groups_[a]) : nullptr;
            if (core == nullptr) {
                continue;
            }
            std::string set;
            for (const auto& member : core->members()) {
                set += fmt::format("{} ", index_of(member));
            }
            out += fmt::format(" role {} epoch {} leader {} members [ {}] last {} commit {} "
                               "applied {}",
                               static_cast<int>(core->current_role()), core->epoch(),
                               index_of(core->leader()), set, core->last_index(),
                               core->commit_index(), core->applied_index());
            if (const auto* record = state.core->actors().find(groups_[a])) {
                out += fmt::format(" state {} outbox {}", record->state.dump(),
                                   record->outbox.size());
            }
        }
        return out;
    }

private:
    static std::optional<actors::json> parse(const std::string& text) {
        auto value = actors::json::parse(text, nullptr, false);
        if (value.is_discarded() || !value.is_object()) {
            return std::nullopt;
        }
        return value;
    }

    node_index random_node() {
        return static_cast<node_index>(random_.next_u64() % nodes_.size());
    }

    node_index index_of(const node_id& id) const {
        return static_cast<node_index>(std::find(ids_.begin(), ids_.end(), id) - ids_.begin());
    }

    void fail(std::string why) {
        if (!violation_) {
            violation_ = std::move(why);
        }
    }

    /// Send `request` through node `via`; a dead attempt when the node is down or refuses it.
    attempt submit(node_index via, const actors::json& request, bool may_create) {
        auto& state = nodes_[via];
        if (!state.up) {
            return attempt{}; // the client's node is down: no answer, it times out
        }
        auto id = state.core->actor_submit(now(), request, may_create);
        drain(via);
        if (!id) {
            errors_[fmt::format("submit: {}", id.failure().message)] += 1;
            return attempt{};
        }
        return attempt{via, state.life, *id, true};
    }

    /// The answer to `pending`, if it arrived (and forget it).
    std::optional<std::string> take_answer(attempt& pending) {
        if (!pending.live) {
            return std::nullopt;
        }
        const auto found = answers_.find({pending.via, pending.life, pending.id});
        if (found == answers_.end()) {
            return std::nullopt;
        }
        std::string answer = std::move(found->second);
        answers_.erase(found);
        pending.live = false;
        return answer;
    }

    void note_error(const std::string& answer) {
        auto text = answer;
        if (const auto parsed = parse(answer)) {
            text = parsed->value("error", answer);
        }
        // Group errors by their opening words, not by the actor names they carry.
        const auto cut = text.find_first_of(":\"");
        errors_[text.substr(0, std::min<std::size_t>(cut, 60))] += 1;
    }

    instant next_actor_work_at() const {
        instant earliest = instant::never();
        for (const auto& one : clients_) {
            earliest = std::min(earliest, one.next_at);
        }
        for (const auto& one : inspectors_) {
            earliest = std::min(earliest, one.next_at);
        }
        return std::min(earliest, wake_at_);
    }

    void run_clients() {
        wake_at_ = instant::never();
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
        auto& book = books_[one.actor];
        one.sequence += random_.next_u64() % 4 == 0 ? 2 : 1; // gaps are allowed from clients
        one.forward.reset();
        if (random_.next_u64() % 100 < forward_percent) {
            const auto other = (one.actor + 1 + random_.next_u64() % (actors_count - 1)) %
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
        one.current = submit(random_node(), request, false);
        one.next_at = now() + client_timeout;
    }

    /// An answer for some client's current attempt arrived.
    void client_answered(client& one, const std::string& answer) {
        const auto parsed = parse(answer);
        if (parsed && parsed->value("ok", false)) {
            books_[one.actor].direct_acked += 1;
            if (one.forward) {
                books_[*one.forward].forward_acked += 1;
            }
            last_ack_at_ = now();
            one.active = false;
            one.next_at = now() + client_think_max.scaled(random_.unit());
            trace_.add_text(one.from);
            trace_.add_u64(one.sequence);
            return;
        }
        note_error(answer);
        if (parsed && !parsed->value("retry", false)) {
            const std::string error = parsed->value("error", "");
            if (error.rfind("no such actor", 0) != 0) {
                fail(fmt::format("{} sequence {} to {} answered with an error that is not worth a "
                                 "retry: {}",
                                 one.from, one.sequence, actor_name(one.actor), answer));
            }
        }
        one.next_at = now() + uniform(random_, retry_pause_min, retry_pause_max);
    }

    void run_inspectors() {
        for (auto& one : inspectors_) {
            if (one.next_at > now()) {
                continue;
            }
            const actors::json request = {{"op", "inspect"}, {"name", actor_name(one.actor)}};
            one.direct_acked_at_invoke = books_[one.actor].direct_acked;
            one.invoked = now();
            one.current = submit(random_node(), request, false);
            one.next_at = now() + inspect_every.scaled(0.5 + random_.unit());
        }
    }

    void inspected(inspector& one, const std::string& answer) {
        const auto parsed = parse(answer);
        if (!parsed || !parsed->value("ok", false)) {
            note_error(answer);
            return;
        }
        auto& book = books_[one.actor];
        const auto& state = (*parsed)["state"];
        if (!state.is_object() || !state.contains("n") || !state["n"].is_number_unsigned()) {
            fail(fmt::format("{}: inspect answered a state without a count: {}",
                             actor_name(one.actor), answer));
            return;
        }
        const auto n = state["n"].get<std::uint64_t>();
        const std::uint64_t upper = book.direct_started + book.forward_started;
        book.inspections += 1;
        trace_.add_u64(n);
        if (n > upper) {
            fail(fmt::format("{} applied {} increments, more than the {} ever sent to it ({} "
                             "direct, {} forwarded): a message applied twice",
                             actor_name(one.actor), n, upper, book.direct_started,
                             book.forward_started));
            return;
        }
        if (n < one.direct_acked_at_invoke) {
            fail(fmt::format("{} shows {} increments, fewer than the {} acknowledged before the "
                             "inspect was sent: an acknowledged increment was lost",
                             actor_name(one.actor), n, one.direct_acked_at_invoke));
            return;
        }
        if (!book.last_n || one.invoked >= book.last_inspected_invoke) {
            book.last_n = n;
            book.last_outbox = (*parsed)["outbox"].is_array() ? (*parsed)["outbox"].size() : 0;
            book.last_inspected_invoke = one.invoked;
        }
    }

    /// Route an actor_done effect to whoever waits for it.
    void answered(node_index via, const node::actor_done& done) {
        // A request the node could not carry out (timeout, unavailable, not_found) is retried.
        std::string text;
        if (done.answer) {
            text = *done.answer;
        } else {
            auto refused = actors::failure(done.answer.failure().message);
            refused["retry"] = true;
            text = refused.dump();
        }
        const std::uint32_t life = nodes_[via].life;
        for (auto& one : clients_) {
            if (one.active && one.current.live && one.current.via == via &&
                one.current.life == life && one.current.id == done.id) {
                one.current.live = false;
                client_answered(one, text);
                return;
            }
        }
        for (auto& one : inspectors_) {
            if (one.current.live && one.current.via == via && one.current.life == life &&
                one.current.id == done.id) {
                one.current.live = false;
                inspected(one, text);
                return;
            }
        }
        if (spawning_) {
            answers_[{via, life, done.id}] = text; // a spawn's (or a stale attempt's)
        }
    }

    /// Execute a node's effects: stage replica writes, sync once, then the rest in order.
    void drain(node_index node) {
        auto& state = nodes_[node];
        if (!state.core) {
            return;
        }
        auto produced = state.core->take_effects();
        bool wrote = false;
        for (const auto& one : produced) {
            if (const auto* write = std::get_if<node::replica_write>(&one)) {
                stage_write(state.storage, *write);
                wrote = true;
            } else if (const auto* persisted = std::get_if<node::persist_incarnation>(&one)) {
                state.incarnation = std::max(state.incarnation, persisted->incarnation);
            }
        }
        if (wrote) {
            REEF_ASSERT(state.storage.sync().ok());
        }
        std::vector<node::actor_done> done;
        for (auto& one : produced) {
            if (auto* out = std::get_if<node::send_payload>(&one)) {
                send_payload(node, *out);
            } else if (auto* finished = std::get_if<node::actor_done>(&one)) {
                done.push_back(std::move(*finished));
            } else if (std::holds_alternative<node::actor_log>(one)) {
                ++logs_;
            } else if (std::holds_alternative<node::payload_rejected>(one)) {
                ++rejected_;
            }
        }
        if (options_.check_invariants) {
            state.core->check_invariants();
        }
        check_groups(node);
        arm(node);
        for (const auto& finished : done) {
            answered(node, finished);
        }
        wake_at_ = now(); // answers may let a client or an inspector go on
    }

    /// Safety of the actors' groups as this node sees them: one leader per epoch (ever), and one
    /// committed record per applied index (ever, across every member).
    void check_groups(node_index node) {
        const auto& core = *nodes_[node].core;
        for (std::size_t a = 0; a < actors_count; ++a) {
            const replica::group* group = core.replicas().find(groups_[a]);
            if (group == nullptr) {
                continue;
            }
            if (group->current_role() == replica::role::leader) {
                auto [at, fresh] = split_brain_[a].emplace(group->epoch(), ids_[node]);
                leaders_seen_ += fresh ? 1 : 0;
                if (at->second != ids_[node]) {
                    fail(fmt::format("{}: nodes {} and {} both lead epoch {} of its group",
                                     actor_name(a), index_of(at->second), node,
                                     group->epoch()));
                    return;
                }
            }
            const std::uint64_t applied = group->applied_index();
            const auto* record = core.actors().find(groups_[a]);
            if (record == nullptr || applied == applied_checked_[node][a]) {
                continue;
            }
            applied_checked_[node][a] = applied;
            std::string text = actors::to_json(*record).dump();
            ++records_compared_;
            auto [at, fresh] = applied_seen_[a].emplace(applied, std::make_pair(node, text));
            if (!fresh && at->second.second != text) {
                fail(fmt::format("{}: nodes {} and {} applied through index {} but hold "
                                 "different records:\n    {}\n    {}",
                                 actor_name(a), at->second.first, node, applied,
                                 at->second.second, text));
                return;
            }
        }
    }

    void send_payload(node_index from, node::send_payload& out) {
        const auto to = std::find(addresses_.begin(), addresses_.end(), out.address);
        if (to == addresses_.end()) {
            return;
        }
        const auto target = static_cast<node_index>(to - addresses_.begin());
        const auto arrival = network_.send(now(), from, target);
        if (!arrival) {
            return;
        }
        std::uint32_t slot_index = 0;
        if (!free_.empty()) {
            slot_index = free_.back();
            free_.pop_back();
        } else {
            slot_index = static_cast<std::uint32_t>(wire_.size());
            wire_.emplace_back();
        }
        wire_[slot_index] = in_transit{from, target, std::move(out.bytes)};
        // A message belongs to the receiver's current life: a restart ends its sessions.
        const bool queued = scheduler_.schedule(*arrival, event_kind::arrive, target,
                                                nodes_[target].life, slot_index);
        REEF_ASSERT(queued);
    }

    void deliver(const event& arrived) {
        in_transit item = std::move(wire_[arrived.payload]);
        free_.push_back(arrived.payload);
        trace_.add_u64((static_cast<std::uint64_t>(item.from) << 32U) | item.to);
        trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
        auto& state = nodes_[item.to];
        if (!state.up || state.life != arrived.life || !network_.reachable(item.from, item.to)) {
            return;
        }
        state.core->on_payload(now(), ids_[item.from], addresses_[item.from], item.bytes);
        drain(item.to);
    }

    void tick(node_index node) {
        auto& state = nodes_[node];
        if (!state.up) {
            return;
        }
        state.core->on_tick(now());
        ticked_ = true;
        drain(node);
        ticked_ = false;
    }

    /// One timer per node at its deadline. A deadline that a tick left in the past would make a
    /// runtime fire its timer again at once, forever; the driver counts it and waits a
    /// millisecond (a timer's granularity) so the run goes on.
    void arm(node_index node) {
        const auto& core = *nodes_[node].core;
        const instant deadline = core.next_deadline();
        if (deadline == instant::never()) {
            scheduler_.cancel_timer(node);
            return;
        }
        if (ticked_ && deadline <= now()) {
            if (stale_deadlines_ == 0) {
                first_stale_ = fmt::format(
                    "node {} at {:.3f} s: deadline {:.3f} s (replicas {:.3f}, dht {:.3f}, "
                    "actors {:.3f})",
                    node, now().ns() / 1e9, deadline.ns() / 1e9,
                    core.replicas().next_deadline().ns() / 1e9,
                    core.dht().next_deadline().ns() / 1e9, core.actors_next_due().ns() / 1e9);
            }
            ++stale_deadlines_;
            stale_by_.replicas += core.replicas().next_deadline() <= now() ? 1 : 0;
            stale_by_.dht += core.dht().next_deadline() <= now() ? 1 : 0;
            stale_by_.actors += core.actors_next_due() <= now() ? 1 : 0;
            scheduler_.arm_timer(node, now() + duration::milliseconds(1));
            return;
        }
        scheduler_.arm_timer(node, std::max(deadline, now()));
    }

    struct answer_key {
        node_index via = 0;
        std::uint32_t life = 0;
        std::uint64_t id = 0;
        auto operator<=>(const answer_key&) const = default;
    };

    const scenario_options& options_;
    prng random_;
    network network_;
    scheduler scheduler_;
    std::vector<node_state> nodes_;
    std::vector<crypto::identity> identities_;
    std::vector<node_id> ids_;
    std::vector<std::string> addresses_;
    node::config limits_;
    std::vector<replica::group_id> groups_;
    std::vector<client> clients_;
    std::vector<inspector> inspectors_;
    std::vector<counter_books> books_;
    std::map<answer_key, std::string> answers_;
    bool new_work_ = false;
    bool spawning_ = false; // spawn_all() collects answers in answers_
    bool ticked_ = false; // drain() runs after on_tick
    std::uint64_t stale_deadlines_ = 0;
    stale_sources stale_by_;
    std::string first_stale_;
    instant wake_at_ = instant::never();
    instant last_ack_at_;
    // Per actor: epoch -> the node that led it; applied index -> (first node, record as JSON).
    std::vector<std::map<std::uint64_t, node_id>> split_brain_;
    std::vector<std::map<std::uint64_t, std::pair<node_index, std::string>>> applied_seen_;
    std::vector<std::vector<std::uint64_t>> applied_checked_; // [node][actor]
    std::optional<std::string> violation_;
    std::map<std::string, std::uint64_t> errors_;
    std::vector<in_transit> wire_;
    std::vector<std::uint32_t> free_;
    trace_hasher trace_;
    std::uint64_t events_ = 0;
    std::uint64_t logs_ = 0;
    std::uint64_t rejected_ = 0;
    std::uint64_t leaders_seen_ = 0;
    std::uint64_t records_compared_ = 0;
};

scenario_result run_actor_counters(const scenario_options& options) {
    scenario_result outcome;
    const auto chosen = effective_of(options, actor_counters_scenario());
    report out(options.out);
    counters_run run(options, chosen.nodes_count);
    prng faults(options.seed ^ 0x6661756c7473ULL);
    out.line("actor-counters: {} nodes, {} counters x {} clients ({} % forwarding), seed {}, "
             "{:.0f} s of faults, loss {:.3f}",
             chosen.nodes_count, actors_count, clients_per_actor, forward_percent, options.seed,
             chosen.main_phase.sec(), chosen.loss);
    const auto finish = [&](scenario_result result) {
        result.trace_hash = run.trace().value();
        result.events = run.events();
        result.simulated_seconds = run.now().ns() / 1e9;
        return result;
    };

    run.run_until(run.now() + settle_phase, false);
    if (!run.spawn_all(run.now() + spawn_phase_max)) {
        outcome.ok = false;
        outcome.failure = fmt::format("the counters were not all spawned within {} on a healthy "
                                      "cluster",
                                      seconds_text(spawn_phase_max));
        return finish(outcome);
    }
    out.line("  spawned {} counters at {:.1f} s", actors_count, run.now().ns() / 1e9);

    // Faults: every 0.5-2 s one of crash, restart, partition (a minority cut off), heal.
    run.net().set_loss(chosen.loss);
    run.net().set_reorder(0.1, duration::milliseconds(5));
    run.start_traffic();
    const instant faults_end = run.now() + chosen.main_phase;
    std::size_t crashes = 0;
    std::size_t partitions = 0;
    while (run.now() < faults_end && !run.violation()) {
        run.run_until(std::min(faults_end, run.now() + uniform(faults, duration::milliseconds(500),
                                                              duration::seconds(2))),
                      true);
        const auto draw = faults.next_u64() % 4;
        const auto victim = static_cast<node_index>(faults.next_u64() % run.nodes_count());
        if (draw == 0 && run.up(victim)) {
            run.crash(victim);
            ++crashes;
        } else if (draw == 1) {
            for (node_index node = 0; node < run.nodes_count(); ++node) {
                if (!run.up(node)) {
                    run.start_node(node);
                }
            }
        } else if (draw == 2) {
            std::vector<node_index> side = {victim};
            if (run.nodes_count() > 4 && faults.next_u64() % 2 == 0) {
                side.push_back(static_cast<node_index>((victim + 1) % run.nodes_count()));
            }
            run.net().heal();
            run.net().set_side(side, 1);
            ++partitions;
        } else {
            run.net().heal();
        }
    }

    // Liveness: heal everything; every client must be answered and every counter exact.
    run.net().heal();
    run.net().set_loss(0.0);
    for (node_index node = 0; node < run.nodes_count(); ++node) {
        if (!run.up(node)) {
            run.start_node(node);
        }
    }
    const instant healed = run.now();
    const instant deadline = healed + liveness_max;
    while (!run.violation() && !run.settled() && run.now() < deadline) {
        // New increments only at first, so the counters are busy while the cluster recovers.
        run.run_until(std::min(deadline, run.now() + duration::milliseconds(500)),
                      run.now() - healed < duration::seconds(5));
    }
    const instant settled_at = run.now();

    std::uint64_t acked = 0;
    std::uint64_t forwarded = 0;
    for (const auto& book : run.books()) {
        acked += book.direct_acked;
        forwarded += book.forward_acked;
    }
    out.line("  {} crashes, {} partitions; {} increments acknowledged ({} forwarding), "
             "{} actor log lines, {} payloads rejected",
             crashes, partitions, acked, forwarded, run.logs(), run.rejected());
    std::string errors;
    for (const auto& [text, count] : run.errors()) {
        errors += fmt::format(" [{} x{}]", text, count);
    }
    out.line("  answers not ok (retried):{}", errors.empty() ? " none" : errors);
    if (run.stale_deadlines() > 0) {
        out.line("  stale deadlines: {} ticks left a node's deadline in the past (replicas {}, "
                 "dht {}, actors {}); first: {}",
                 run.stale_deadlines(), run.stale_by().replicas, run.stale_by().dht,
                 run.stale_by().actors, run.first_stale());
    }
    out.line("  safety: {} (epoch, leader) pairs, {} committed records compared across members",
             run.leaders_seen(), run.records_compared());
    for (std::size_t a = 0; a < actors_count; ++a) {
        const auto& book = run.books()[a];
        out.line("  {}: n {} expected {} ({} direct + {} forwarded), {} inspections",
                 actor_name(a), book.last_n ? fmt::format("{}", *book.last_n) : "?",
                 book.direct_acked + book.forward_acked, book.direct_acked, book.forward_acked,
                 book.inspections);
    }
    if (run.violation()) {
        outcome.ok = false;
        outcome.failure = *run.violation();
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
                    run.describe_group(a));
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
