#include "sim/cluster.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/crypto/identity.hpp"

namespace reef::sim {

namespace {

using membership::member_state;

constexpr std::uint8_t view_unknown = 0xff;
// A swim whose deadline stays at `now` after a tick would spin forever at one instant; allow a few
// repeats (a core may legitimately handle one due timer per tick) and call the rest a livelock.
constexpr std::uint32_t ticks_same_instant_max = 64;
constexpr std::uint8_t trace_tick = 0x10;
constexpr std::uint8_t trace_change = 0x20;
constexpr std::uint8_t trace_start = 0x30;
constexpr std::uint8_t trace_crash = 0x31;
constexpr std::uint8_t trace_leave = 0x32;

const char* message_name(std::size_t kind) {
    static constexpr const char* names[] = {"ping", "ping_req", "ack", "nack", "sync"};
    return kind < std::size(names) ? names[kind] : "?";
}

std::string state_name(std::uint8_t state) {
    if (state == view_unknown) {
        return "unknown";
    }
    return std::string(membership::to_string(static_cast<member_state>(state)));
}

void add_stats(membership::swim_stats& total, const membership::swim_stats& part) {
    total.probes_sent += part.probes_sent;
    total.indirect_probes_sent += part.indirect_probes_sent;
    total.suspicions_raised += part.suspicions_raised;
    total.refutations += part.refutations;
    total.messages_rejected += part.messages_rejected;
    total.local_health = std::max(total.local_health, part.local_health);
}

} // namespace

cluster::cluster(const cluster_options& options)
    : options_(options), random_(options.seed),
      scheduler_(options.nodes_count, options.events_max),
      network_(options.nodes_count, random_.fork_seed(), options.network),
      nodes_(options.nodes_count),
      view_state_(options.nodes_count * options.nodes_count, view_unknown),
      view_incarnation_(options.nodes_count * options.nodes_count, 0) {
    REEF_ASSERT(options.nodes_count > 0);
    REEF_ASSERT(options.inbox_max > 0);
    REEF_ASSERT(options.cpu_cost >= duration::zero());
    make_identities();
}

cluster::~cluster() = default;

void cluster::make_identities() {
    // Ids are earned, as in reefd: the BLAKE2b-256 of an Ed25519 public key, whose seed here comes
    // from the run's prng instead of the OS.
    for (node_index node = 0; node < nodes_.size(); ++node) {
        crypto::seed32 key_seed{};
        for (auto& byte : key_seed) {
            byte = static_cast<std::uint8_t>(random_.below(256));
        }
        node_slot& slot = nodes_[node];
        slot.id = crypto::identity::from_seed(key_seed).id();
        slot.address = fmt::format("10.{}.{}.{}:7946", (node >> 16U) & 0xffU, (node >> 8U) & 0xffU,
                                   node & 0xffU);
        const bool fresh_id = index_by_id_.emplace(slot.id, node).second;
        REEF_ASSERT(fresh_id);
        const bool fresh_address = index_by_address_.emplace(slot.address, node).second;
        REEF_ASSERT(fresh_address);
    }
}

const node_id& cluster::id(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].id;
}

const std::string& cluster::address(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].address;
}

std::optional<node_index> cluster::index_of(const node_id& id) const {
    const auto found = index_by_id_.find(id);
    if (found == index_by_id_.end()) {
        return std::nullopt;
    }
    return found->second;
}

bool cluster::is_up(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].up;
}

bool cluster::is_member(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].up && !nodes_[node].left;
}

const membership::swim* cluster::swim_of(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].swim.get();
}

std::uint64_t cluster::lives(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].lives;
}

std::uint64_t cluster::incarnation_max(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].incarnation_max;
}

const cpu_stats& cluster::cpu(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].cpu;
}

duration cluster::input_cost(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return options_.cpu_cost.scaled(nodes_[node].slow_factor);
}

const sim_disk& cluster::disk(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].disk;
}

double cluster::slow_factor(node_index node) const {
    REEF_ASSERT(node < nodes_.size());
    return nodes_[node].slow_factor;
}

std::size_t cluster::cell(node_index observer, node_index target) const {
    REEF_ASSERT(observer < nodes_.size());
    REEF_ASSERT(target < nodes_.size());
    return static_cast<std::size_t>(observer) * nodes_.size() + target;
}

void cluster::start(node_index node, std::span<const node_index> seeds) {
    REEF_ASSERT(node < nodes_.size());
    node_slot& slot = nodes_[node];
    REEF_ASSERT(!slot.up);
    REEF_ASSERT(!slot.swim);
    // reefd reads DATA_DIR/incarnation, bumps it and fsyncs it before it joins.
    const std::uint64_t incarnation = slot.disk.read() + 1;
    slot.disk.write(incarnation, now(), now());
    slot.swim = std::make_unique<membership::swim>(options_.swim_limits, slot.id, slot.address,
                                                   incarnation, random_.fork_seed());
    slot.up = true;
    slot.left = false;
    ++slot.life;
    ++slot.lives;
    slot.cpu_free = now();
    slot.queued = 0;
    slot.tick_queued = false;
    slot.ticks_at_last_tick = 0;
    slot.incarnation_now = incarnation;
    slot.incarnation_max = std::max(slot.incarnation_max, incarnation);
    ++up_count_;
    ++stats_.starts;
    reset_view_row(node);
    trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
    trace_.add_byte(trace_start);
    trace_.add_u64(node);
    trace_.add_u64(incarnation);
    log_event("start", node, node, 0);

    std::vector<std::string> addresses;
    for (const node_index seed : seeds) {
        REEF_ASSERT(seed < nodes_.size());
        if (seed != node) {
            addresses.push_back(nodes_[seed].address);
        }
    }
    if (!addresses.empty()) {
        slot.swim->join(now(), addresses);
    }
    after_input(node);
}

void cluster::crash(node_index node) {
    REEF_ASSERT(node < nodes_.size());
    node_slot& slot = nodes_[node];
    REEF_ASSERT(slot.up);
    add_stats(retired_stats_, slot.swim->stats());
    slot.swim.reset();
    slot.up = false;
    slot.left = false;
    ++slot.life; // queued inputs of the old life are dropped when they come up
    slot.queued = 0;
    slot.tick_queued = false;
    scheduler_.cancel_timer(node);
    slot.disk.crash(now());
    REEF_ASSERT(up_count_ > 0);
    --up_count_;
    ++stats_.crashes;
    reset_view_row(node);
    trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
    trace_.add_byte(trace_crash);
    trace_.add_u64(node);
    log_event("crash", node, node, 0);
}

void cluster::leave(node_index node) {
    REEF_ASSERT(node < nodes_.size());
    node_slot& slot = nodes_[node];
    REEF_ASSERT(slot.up);
    REEF_ASSERT(!slot.left);
    slot.left = true;
    trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
    trace_.add_byte(trace_leave);
    trace_.add_u64(node);
    log_event("leave", node, node, 0);
    slot.swim->leave(now());
    after_input(node);
}

void cluster::set_slow(node_index node, double factor) {
    REEF_ASSERT(node < nodes_.size());
    REEF_ASSERT(factor > 0.0);
    nodes_[node].slow_factor = factor;
}

void cluster::reset_view_row(node_index observer) {
    const std::size_t begin = cell(observer, 0);
    std::fill_n(view_state_.begin() + static_cast<std::ptrdiff_t>(begin), nodes_.size(),
                view_unknown);
    std::fill_n(view_incarnation_.begin() + static_cast<std::ptrdiff_t>(begin), nodes_.size(), 0);
}

void cluster::run_until(instant end) {
    REEF_ASSERT(end >= now());
    while (!failed()) {
        const auto next = scheduler_.pop_until(end);
        if (!next) {
            break;
        }
        ++stats_.events;
        if (next->is_timer) {
            handle_timer(next->timer.node);
        } else if (next->item.kind == event_kind::arrive) {
            handle_arrive(next->item);
        } else {
            handle_process(next->item);
        }
    }
    if (!failed()) {
        scheduler_.advance_to(end);
    }
}

std::optional<instant> cluster::run_until(instant end, duration poll,
                                          const std::function<bool()>& done) {
    REEF_ASSERT(poll > duration::zero());
    instant next_poll = now();
    while (!failed()) {
        run_until(min(next_poll, end));
        if (failed()) {
            break;
        }
        if (done()) {
            return now();
        }
        if (now() >= end) {
            break;
        }
        next_poll = next_poll + poll;
    }
    return std::nullopt;
}

void cluster::handle_arrive(const event& item) {
    const node_index from = payloads_[item.payload].from;
    REEF_ASSERT(payloads_[item.payload].to == item.node);
    if (!network_.reachable(from, item.node)) {
        network_.count_blocked();
        log_event("blocked", from, item.node, 0);
        static_cast<void>(release(item.payload));
        return;
    }
    if (!nodes_[item.node].up) {
        ++stats_.messages_to_down_nodes;
        static_cast<void>(release(item.payload));
        return;
    }
    if (!enqueue_input(item.node, item.payload)) {
        ++stats_.inbox_overflows;
        static_cast<void>(release(item.payload));
    }
}

bool cluster::enqueue_input(node_index node, std::uint32_t payload) {
    node_slot& slot = nodes_[node];
    REEF_ASSERT(slot.up);
    if (payload != payload_tick && slot.queued >= options_.inbox_max) {
        return false;
    }
    const duration cost = options_.cpu_cost.scaled(slot.slow_factor);
    const instant begin = max(now(), slot.cpu_free);
    const instant done = begin + cost;
    slot.cpu.busy += cost;
    slot.cpu.queue_delay_max = max(slot.cpu.queue_delay_max, begin - now());
    ++slot.cpu.inputs;
    slot.cpu_free = done;
    if (!scheduler_.schedule(done, event_kind::process, node, slot.life, payload)) {
        fail(fmt::format("the event queue is full ({} events): a message storm?",
                         options_.events_max));
        return false;
    }
    ++slot.queued;
    return true;
}

void cluster::handle_process(const event& item) {
    node_slot& slot = nodes_[item.node];
    if (item.life != slot.life) {
        if (item.payload != payload_tick) {
            static_cast<void>(release(item.payload)); // the node crashed while this waited
        }
        return;
    }
    REEF_ASSERT(slot.up);
    REEF_ASSERT(slot.queued > 0);
    --slot.queued;
    const std::uint64_t now_ns = static_cast<std::uint64_t>(now().ns());
    if (item.payload == payload_tick) {
        slot.tick_queued = false;
        ++stats_.ticks;
        if (now() == slot.last_tick) {
            if (++slot.ticks_at_last_tick > ticks_same_instant_max) {
                fail(fmt::format("node {} livelocks: next_deadline() stays at {} ns after {} ticks",
                                 item.node, now().ns(), ticks_same_instant_max));
                return;
            }
        } else {
            slot.last_tick = now();
            slot.ticks_at_last_tick = 1;
        }
        trace_.add_u64(now_ns);
        trace_.add_byte(trace_tick);
        trace_.add_u64(item.node);
        slot.swim->on_tick(now());
    } else {
        const in_flight message = release(item.payload);
        ++stats_.messages_delivered;
        trace_.add_u64(now_ns);
        trace_.add_byte(static_cast<std::uint8_t>(message.body.index()));
        trace_.add_u64(message.from);
        trace_.add_u64(item.node);
        if (options_.event_log != nullptr) {
            log_delivery(message);
        }
        slot.swim->on_message(now(), nodes_[message.from].id, message.body);
    }
    after_input(item.node);
}

void cluster::handle_timer(node_index node) {
    node_slot& slot = nodes_[node];
    REEF_ASSERT(slot.up); // a crash cancels the timer
    REEF_ASSERT(!slot.tick_queued);
    slot.tick_queued = enqueue_input(node, payload_tick);
}

void cluster::after_input(node_index node) {
    node_slot& slot = nodes_[node];
    REEF_ASSERT(slot.swim);
    note_incarnation(node);
    std::vector<membership::effect> effects = slot.swim->take_effects();
    for (membership::effect& effect : effects) {
        if (auto* send = std::get_if<membership::send_effect>(&effect)) {
            route(node, std::move(*send));
        } else {
            record_change(node, std::get<membership::member_changed>(effect));
        }
    }
    if (options_.check_invariants) {
        slot.swim->check_invariants();
    }
    rearm(node);
}

void cluster::note_incarnation(node_index node) {
    node_slot& slot = nodes_[node];
    const std::uint64_t incarnation = slot.swim->incarnation();
    if (incarnation < slot.incarnation_now) {
        fail(fmt::format("node {} lowered its own incarnation from {} to {}", node,
                         slot.incarnation_now, incarnation));
        return;
    }
    if (incarnation > slot.incarnation_now && options_.persist_incarnation_changes) {
        // The daemon fsyncs before it executes the sends of this input; nothing can crash between.
        slot.disk.write(incarnation, now(), now());
    }
    slot.incarnation_now = incarnation;
    slot.incarnation_max = std::max(slot.incarnation_max, incarnation);
}

void cluster::rearm(node_index node) {
    node_slot& slot = nodes_[node];
    if (slot.tick_queued) {
        return; // the queued tick re-arms after it runs
    }
    const instant deadline = slot.swim->next_deadline();
    if (deadline == instant::never()) {
        scheduler_.cancel_timer(node);
        return;
    }
    const instant at = max(deadline, now());
    if (scheduler_.timer_deadline(node) != at) {
        scheduler_.arm_timer(node, at);
    }
}

bool cluster::check_message_bounds(node_index from, const membership::message& body) {
    const auto& limits = options_.swim_limits;
    const std::size_t gossip = std::visit(
        [](const auto& m) -> std::size_t {
            using type = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<type, membership::nack>) {
                return 0;
            } else if constexpr (std::is_same_v<type, membership::sync>) {
                return 0;
            } else {
                return m.gossip.size();
            }
        },
        body);
    if (gossip > limits.gossip_per_message_max) {
        fail(fmt::format("node {} sent a {} with {} gossip updates (gossip_per_message_max {})",
                         from, message_name(body.index()), gossip,
                         limits.gossip_per_message_max));
        return false;
    }
    if (const auto* whole_view = std::get_if<membership::sync>(&body)) {
        if (whole_view->members.size() > limits.members_max) {
            fail(fmt::format("node {} sent a sync with {} members (members_max {})", from,
                             whole_view->members.size(), limits.members_max));
            return false;
        }
    }
    return true;
}

std::optional<node_index> cluster::resolve(const membership::send_effect& send) {
    if (!send.address.empty()) {
        const auto found = index_by_address_.find(send.address);
        if (found == index_by_address_.end()) {
            return std::nullopt;
        }
        // The transport authenticates whoever answers at the address; a different id than the
        // one asked for is refused.
        if (!send.to.is_zero() && nodes_[found->second].id != send.to) {
            return std::nullopt;
        }
        return found->second;
    }
    if (send.to.is_zero()) {
        return std::nullopt;
    }
    return index_of(send.to);
}

void cluster::route(node_index from, membership::send_effect&& send) {
    ++stats_.messages_sent;
    if (!check_message_bounds(from, send.body)) {
        return;
    }
    const auto to = resolve(send);
    if (!to) {
        ++stats_.messages_unroutable;
        if (options_.event_log != nullptr) {
            fmt::print(options_.event_log, "{:.6f} unroutable {} -> {} ({}) {}\n", now().ns() / 1e9,
                       from, send.address, send.to.short_hex(), message_name(send.body.index()));
        }
        return;
    }
    if (*to == from) {
        ++stats_.messages_to_self;
        log_event("to-self", from, from, static_cast<std::uint8_t>(send.body.index()));
        return;
    }
    const auto arrival = network_.send(now(), from, *to);
    if (!arrival) {
        log_event("lost", from, *to, static_cast<std::uint8_t>(send.body.index()));
        return;
    }
    const std::uint32_t payload = store(in_flight{from, *to, std::move(send.body)});
    if (!scheduler_.schedule(*arrival, event_kind::arrive, *to, 0, payload)) {
        static_cast<void>(release(payload));
        fail(fmt::format("the event queue is full ({} events): a message storm?",
                         options_.events_max));
    }
}

std::uint32_t cluster::store(in_flight&& message) {
    ++in_flight_count_;
    stats_.in_flight_max = std::max<std::uint64_t>(stats_.in_flight_max, in_flight_count_);
    if (!payloads_free_.empty()) {
        const std::uint32_t payload = payloads_free_.back();
        payloads_free_.pop_back();
        payloads_[payload] = std::move(message);
        return payload;
    }
    REEF_ASSERT(payloads_.size() < payload_tick);
    payloads_.push_back(std::move(message));
    return static_cast<std::uint32_t>(payloads_.size() - 1);
}

cluster::in_flight cluster::release(std::uint32_t payload) {
    REEF_ASSERT(payload < payloads_.size());
    REEF_ASSERT(in_flight_count_ > 0);
    --in_flight_count_;
    in_flight message = std::move(payloads_[payload]);
    payloads_[payload].body = membership::message{}; // free the gossip vectors now
    payloads_free_.push_back(payload);
    return message;
}

void cluster::record_change(node_index observer, const membership::member_changed& change) {
    ++stats_.member_changes;
    const auto target = index_of(change.update.id);
    if (!target) {
        fail(fmt::format("node {} reported member {} that is not a node of this cluster", observer,
                         change.update.id.short_hex()));
        return;
    }
    const std::size_t at = cell(observer, *target);
    const std::uint8_t before = view_state_[at];
    const auto next = static_cast<std::uint8_t>(change.update.state);
    const bool was_live = before == static_cast<std::uint8_t>(member_state::alive) ||
                          before == static_cast<std::uint8_t>(member_state::suspect);
    // A node's own entry is not announced as new (it knows itself from the start); only the
    // stream about others must be consistent.
    const bool self = observer == *target;
    if (!self && change.is_new && was_live) {
        fail(fmt::format("node {} reported node {} as new, but had reported it {}", observer,
                         *target, state_name(before)));
        return;
    }
    if (!self && !change.is_new && before == view_unknown) {
        fail(fmt::format("node {} reported a change of node {} ({} -> {}) it never reported as new",
                         observer, *target, membership::to_string(change.previous),
                         state_name(next)));
        return;
    }
    if (!self && !change.is_new && before != static_cast<std::uint8_t>(change.previous)) {
        fail(fmt::format("node {} reported node {} changing from {}, but had reported it {}",
                         observer, *target, membership::to_string(change.previous),
                         state_name(before)));
        return;
    }
    if (change.update.incarnation > nodes_[*target].incarnation_max) {
        fail(fmt::format("node {} learned incarnation {} for node {}, which never used more "
                         "than {}",
                         observer, change.update.incarnation, *target,
                         nodes_[*target].incarnation_max));
        return;
    }
    view_state_[at] = next;
    view_incarnation_[at] = change.update.incarnation;
    trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
    trace_.add_byte(trace_change);
    trace_.add_u64(observer);
    trace_.add_u64(*target);
    trace_.add_byte(next);
    trace_.add_u64(change.update.incarnation);
    if (options_.event_log != nullptr) {
        fmt::print(options_.event_log, "{:.6f} change {} sees {} {} inc {}\n", now().ns() / 1e9,
                   observer, *target, state_name(next), change.update.incarnation);
    }
    for (const change_observer& notify : observers_) {
        notify(now(), observer, *target, change);
    }
}

view_entry cluster::view(node_index observer, node_index target) const {
    const std::size_t at = cell(observer, target);
    view_entry entry;
    if (view_state_[at] != view_unknown) {
        entry.state = static_cast<member_state>(view_state_[at]);
        entry.incarnation = view_incarnation_[at];
    }
    return entry;
}

bool cluster::converged() const {
    return disagreements(1).empty();
}

std::vector<std::string> cluster::disagreements(std::size_t limit) const {
    std::vector<std::string> found;
    const auto alive = static_cast<std::uint8_t>(member_state::alive);
    const auto suspect = static_cast<std::uint8_t>(member_state::suspect);
    for (node_index observer = 0; observer < nodes_.size(); ++observer) {
        if (!is_member(observer)) {
            continue;
        }
        for (node_index target = 0; target < nodes_.size(); ++target) {
            if (target == observer) {
                continue;
            }
            const std::uint8_t state = view_state_[cell(observer, target)];
            const bool target_member = is_member(target);
            const bool wrong =
                target_member ? state != alive : (state == alive || state == suspect);
            if (!wrong) {
                continue;
            }
            if (found.size() >= limit) {
                return found;
            }
            found.push_back(fmt::format("node {} sees node {} {}, but it is {}", observer, target,
                                        state_name(state),
                                        target_member ? "up" : (nodes_[target].up ? "leaving"
                                                                                  : "down")));
        }
    }
    return found;
}

void cluster::verify_views() {
    std::vector<bool> listed(nodes_.size());
    for (node_index observer = 0; observer < nodes_.size() && !failed(); ++observer) {
        if (!nodes_[observer].up) {
            continue;
        }
        std::fill(listed.begin(), listed.end(), false);
        for (const membership::member_view& member : nodes_[observer].swim->members()) {
            const auto target = index_of(member.update.id);
            if (!target) {
                fail(fmt::format("node {} lists member {} that is not a node of this cluster",
                                 observer, member.update.id.short_hex()));
                return;
            }
            listed[*target] = true;
            const std::uint8_t mirrored = view_state_[cell(observer, *target)];
            if (*target != observer &&
                mirrored != static_cast<std::uint8_t>(member.update.state)) {
                fail(fmt::format("node {} lists node {} as {}, but its member_changed effects said "
                                 "{}",
                                 observer, *target, membership::to_string(member.update.state),
                                 state_name(mirrored)));
                return;
            }
        }
        for (node_index target = 0; target < nodes_.size(); ++target) {
            const std::uint8_t mirrored = view_state_[cell(observer, target)];
            const bool forgettable = mirrored == view_unknown ||
                                     mirrored == static_cast<std::uint8_t>(member_state::dead) ||
                                     mirrored == static_cast<std::uint8_t>(member_state::left);
            if (target != observer && !listed[target] && !forgettable) {
                fail(fmt::format("node {} no longer lists node {}, which it reported {}", observer,
                                 target, state_name(mirrored)));
                return;
            }
        }
    }
}

void cluster::add_observer(change_observer observer) { observers_.push_back(std::move(observer)); }

void cluster::fail(std::string reason) {
    if (!failure_) {
        failure_ = fmt::format("at {:.6f} s: {}", now().ns() / 1e9, reason);
    }
}

const std::string& cluster::failure() const {
    REEF_ASSERT(failure_.has_value());
    return *failure_;
}

membership::swim_stats cluster::swim_totals() const {
    membership::swim_stats total = retired_stats_;
    for (const node_slot& slot : nodes_) {
        if (slot.swim) {
            add_stats(total, slot.swim->stats());
        }
    }
    return total;
}

void cluster::log_event(const char* what, node_index from, node_index to, std::uint8_t kind) {
    if (options_.event_log == nullptr) {
        return;
    }
    fmt::print(options_.event_log, "{:.6f} {} {} -> {} {}\n", now().ns() / 1e9, what, from, to,
               message_name(kind));
}

void cluster::log_delivery(const in_flight& message) {
    std::string line = fmt::format("{:.6f} deliver {} -> {} {}", now().ns() / 1e9, message.from,
                                   message.to, message_name(message.body.index()));
    const auto describe = [&](const std::vector<membership::member_update>& updates) {
        for (const membership::member_update& update : updates) {
            const auto target = index_of(update.id);
            line += fmt::format(" {}:{}:{}", target ? static_cast<std::int64_t>(*target) : -1,
                                membership::to_string(update.state), update.incarnation);
        }
    };
    std::visit(
        [&](const auto& body) {
            using type = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<type, membership::sync>) {
                line += fmt::format(" members={}{}", body.members.size(),
                                    body.reply_wanted ? " reply" : "");
            } else if constexpr (!std::is_same_v<type, membership::nack>) {
                const auto target = index_of(body.target);
                line += fmt::format(" seq={} target={}", body.seq,
                                    target ? static_cast<std::int64_t>(*target) : -1);
                describe(body.gossip);
            } else {
                line += fmt::format(" seq={}", body.seq);
            }
        },
        message.body);
    fmt::print(options_.event_log, "{}\n", line);
}

void cluster::check_invariants() const {
    std::size_t up = 0;
    for (node_index node = 0; node < nodes_.size(); ++node) {
        const node_slot& slot = nodes_[node];
        REEF_ASSERT(slot.up == (slot.swim != nullptr));
        REEF_ASSERT(!(slot.tick_queued && scheduler_.timer_armed(node)));
        REEF_ASSERT(slot.up || !scheduler_.timer_armed(node));
        REEF_ASSERT(slot.queued <= options_.inbox_max + 1);
        REEF_ASSERT(slot.incarnation_now <= slot.incarnation_max);
        up += slot.up ? 1 : 0;
    }
    REEF_ASSERT(up == up_count_);
    REEF_ASSERT(in_flight_count_ <= payloads_.size());
    REEF_ASSERT(payloads_free_.size() + in_flight_count_ == payloads_.size());
    network_.check_invariants();
}

} // namespace reef::sim
