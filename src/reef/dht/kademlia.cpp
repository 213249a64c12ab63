#include "reef/dht/kademlia.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "reef/base/assert.hpp"

namespace reef::dht {

namespace {

/// Query ids are (block << block_bits | n): one block per lookup, store or ping.
constexpr unsigned block_bits = 24;
constexpr std::uint64_t block_queries_max = std::uint64_t{1} << block_bits;
/// A signed sequence starts at the wall-clock time in microseconds, so a publisher that lost its
/// store (a restart) still moves forward.
constexpr std::uint64_t sequence_per_second = 1'000'000;

std::uint64_t block_of(std::uint64_t query_id) { return query_id >> block_bits; }

wire_contact to_wire(const contact& peer) { return wire_contact{peer.id, peer.address}; }

std::vector<contact> from_wire(instant now, const std::vector<wire_contact>& listed) {
    std::vector<contact> out;
    out.reserve(listed.size());
    for (const auto& entry : listed) {
        out.push_back(contact{entry.id, entry.address, std::nullopt, now});
    }
    return out;
}

bool is_request(const message& body) {
    return std::holds_alternative<ping>(body) || std::holds_alternative<find_node>(body) ||
           std::holds_alternative<find_value>(body) || std::holds_alternative<dht::store>(body);
}

} // namespace

status kademlia_config::validate() const {
    if (auto inner = routing.validate(); !inner) {
        return inner;
    }
    if (auto inner = lookup.validate(); !inner) {
        return inner;
    }
    if (auto inner = store.validate(); !inner) {
        return inner;
    }
    if (routing.bucket_size > reply_contacts_max ||
        lookup.response_contacts_max > reply_contacts_max) {
        return make_error(errc::invalid_argument,
                          "bucket_size and response_contacts_max must be <= 20 (the wire limit)");
    }
    if (operations_max == 0 || background_max == 0 || handoffs_max == 0) {
        return make_error(errc::invalid_argument,
                          "operations_max, background_max and handoffs_max must be > 0");
    }
    if (operation_timeout <= duration{} || store_timeout <= duration{}) {
        return make_error(errc::invalid_argument, "operation and store timeouts must be > 0");
    }
    if (get_confirmations == 0) {
        return make_error(errc::invalid_argument, "get_confirmations must be > 0");
    }
    if (record_lifetime_seconds == 0 ||
        record_lifetime_seconds > store.lifetime_max_seconds) {
        return make_error(errc::invalid_argument,
                          "record_lifetime_seconds must be in 1..store.lifetime_max_seconds");
    }
    return {};
}

kademlia::kademlia(const kademlia_config& limits, const crypto::identity& publisher,
                   std::vector<host_port> own_addresses, std::uint64_t seed, instant now)
    : limits_(limits),
      publisher_(publisher),
      self_(publisher.id()),
      own_addresses_(std::move(own_addresses)),
      table_(limits.routing, publisher.id(), seed, now),
      store_(limits.store),
      last_now_(now) {
    REEF_ASSERT(limits.validate().ok());
    REEF_ASSERT(own_addresses_.size() <= node_addresses_count_max);
}

void kademlia::observe(instant now, const node_id& id, const std::string& address) {
    last_now_ = now;
    if (id == self_) {
        return;
    }
    note_contact(now, contact{id, address, std::nullopt, now});
    after_observe(now);
}

void kademlia::note_contact(instant now, const contact& seen) {
    if (table_.observe(seen, now) == observe_outcome::inserted) {
        hand_off(now, seen);
    }
}

void kademlia::hand_off(instant now, const contact& newcomer) {
    const std::size_t k = limits_.lookup.result_size;
    store_.for_each(last_unix_, [&](const record& rec) {
        const id256 newcomer_distance = newcomer.id.distance_to(rec.key);
        const id256 self_distance = self_.distance_to(rec.key);
        std::size_t closer_than_newcomer = 0;
        for (const auto& known : table_.closest(rec.key, k)) {
            if (known.id == newcomer.id) {
                continue;
            }
            if (known.id.distance_to(rec.key) < self_distance) {
                return; // another node is closer than this one: it hands off
            }
            closer_than_newcomer += known.id.distance_to(rec.key) < newcomer_distance ? 1 : 0;
        }
        if (self_distance < newcomer_distance) {
            ++closer_than_newcomer;
        }
        if (closer_than_newcomer >= k) {
            return; // the newcomer is not among the k closest
        }
        if (handoffs_.size() >= limits_.handoffs_max) {
            ++stats_.background_dropped;
            return;
        }
        const std::uint64_t block = next_block();
        handoffs_.emplace(block, pending_ping{newcomer.id, now + limits_.store_timeout});
        ++stats_.handoffs;
        effects_.emplace_back(std::in_place_type<send_message>, to_wire(newcomer),
                              dht::store{block << block_bits, rec});
    });
}

void kademlia::remove(const node_id& id) { (void)table_.remove(id); }

void kademlia::after_observe(instant now) {
    // The first contact makes the network reachable: look up our own id (announcing this node to
    // the nodes whose buckets it belongs in), then publish the address record.
    if (!bootstrapped_ && table_.size() > 0) {
        bootstrapped_ = true;
        if (auto started = begin(now, operation_kind::bootstrap, false, self_)) {
            pump(now, *started);
        }
    }
    drain_table(now);
}

void kademlia::on_message(instant now, std::uint64_t unix_seconds, const node_id& from,
                          const std::string& from_address, const message& incoming) {
    last_now_ = now;
    last_unix_ = unix_seconds;
    if (from == self_ || from.is_zero()) {
        return;
    }
    if (!from_address.empty()) {
        note_contact(now, contact{from, from_address, std::nullopt, now});
        after_observe(now);
    }
    if (is_request(incoming)) {
        answer(unix_seconds, wire_contact{from, from_address}, incoming);
    } else {
        on_reply(now, unix_seconds, from, incoming);
    }
}

void kademlia::answer(std::uint64_t unix_seconds, const wire_contact& from,
                      const message& request) {
    if (from.address.empty()) {
        return; // no way to answer a peer whose listen address is unknown
    }
    ++stats_.requests_answered;
    auto closest_to = [&](const node_id& target) {
        std::vector<wire_contact> listed;
        for (const auto& known : table_.closest(target, reply_contacts_max + 1)) {
            if (known.id != from.id && listed.size() < reply_contacts_max) {
                listed.push_back(to_wire(known));
            }
        }
        return listed;
    };
    message reply;
    if (const auto* asked = std::get_if<ping>(&request)) {
        reply = pong{asked->query_id};
    } else if (const auto* asked = std::get_if<find_node>(&request)) {
        reply = find_node_reply{asked->query_id, closest_to(asked->target)};
    } else if (const auto* asked = std::get_if<find_value>(&request)) {
        find_value_reply answer_value{asked->query_id, std::nullopt, {}};
        if (const record* held = store_.get(asked->key, unix_seconds)) {
            answer_value.found = *held;
        } else {
            answer_value.contacts = closest_to(asked->key);
        }
        reply = std::move(answer_value);
    } else {
        const auto& to_keep = std::get<dht::store>(request);
        auto stored = store_.put(to_keep.value, unix_seconds);
        store_reply verdict{to_keep.query_id, std::nullopt};
        if (stored) {
            ++stats_.stores_accepted;
        } else {
            ++stats_.stores_refused;
            verdict.failure = stored.failure().code;
        }
        reply = verdict;
    }
    effects_.emplace_back(std::in_place_type<send_message>, from, std::move(reply));
}

void kademlia::on_reply(instant now, std::uint64_t unix_seconds, const node_id& from,
                        const message& reply) {
    auto unsolicited = [&] { ++stats_.replies_unsolicited; };
    if (const auto* answer_ping = std::get_if<pong>(&reply)) {
        auto found = pings_.find(block_of(answer_ping->query_id));
        if (found == pings_.end() || found->second.to != from) {
            unsolicited();
            return;
        }
        pings_.erase(found); // the sender was observed above: that is the answer
        ++stats_.replies_accepted;
        return;
    }
    std::uint64_t query_id = 0;
    std::visit([&](const auto& body) { query_id = body.query_id; }, reply);
    if (auto handed = handoffs_.find(block_of(query_id));
        handed != handoffs_.end() && std::holds_alternative<store_reply>(reply) &&
        handed->second.to == from) {
        handoffs_.erase(handed);
        ++stats_.replies_accepted;
        return;
    }
    auto owner = blocks_.find(block_of(query_id));
    if (owner == blocks_.end()) {
        unsolicited();
        return;
    }
    const operation_id id = owner->second;
    operation& op = operations_.at(id);
    if (const auto* verdict = std::get_if<store_reply>(&reply)) {
        on_store_reply(now, id, op, from, *verdict);
        return;
    }
    if (!op.search || !op.queried.contains(query_id)) {
        unsolicited();
        return;
    }
    std::vector<contact> listed;
    if (const auto* nodes = std::get_if<find_node_reply>(&reply)) {
        listed = from_wire(now, nodes->contacts);
    } else {
        const auto& value = std::get<find_value_reply>(reply);
        listed = from_wire(now, value.contacts);
        if (value.found && !accept_record(op, from, *value.found, unix_seconds)) {
            op.queried.erase(query_id);
            op.search->on_failure(now, query_id);
            pump(now, id);
            return;
        }
    }
    const auto outcome = op.search->on_response(now, query_id, from, listed);
    if (outcome == response_outcome::unsolicited || outcome == response_outcome::wrong_sender) {
        unsolicited();
        return;
    }
    op.queried.erase(query_id);
    ++stats_.replies_accepted;
    if (op.kind == operation_kind::get && op.holders >= limits_.get_confirmations) {
        finish_get(id);
        return;
    }
    pump(now, id);
}

bool kademlia::accept_record(operation& op, const node_id& from, const record& found,
                             std::uint64_t unix_seconds) {
    (void)from;
    // Holders usually return the very same record: a byte-identical copy of one already verified
    // in this get needs no second signature check (about 80 us each).
    const bool seen = op.best && *op.best == found && op.kind == operation_kind::get;
    if (!seen && (op.kind != operation_kind::get || found.key != op.key ||
                  !verify(found, unix_seconds).ok())) {
        // A record nobody asked for, for another key, forged or expired: the sender lies.
        ++stats_.records_rejected;
        return false;
    }
    ++op.holders;
    if (!op.best || found.sequence > op.best->sequence) {
        op.best = found;
    }
    return true;
}

void kademlia::on_store_reply(instant now, operation_id id, operation& op, const node_id& from,
                              const store_reply& verdict) {
    auto pending = op.stores_in_flight.find(block_of(verdict.query_id));
    if (pending == op.stores_in_flight.end() || pending->second.id != from) {
        ++stats_.replies_unsolicited;
        return;
    }
    ++stats_.replies_accepted;
    blocks_.erase(pending->first);
    op.stores_in_flight.erase(pending);
    if (verdict.failure) {
        ++op.store_failed;
    } else {
        op.stored_on.push_back(from);
    }
    if (op.stores_in_flight.empty()) {
        finish_store(id);
    }
    (void)now;
}

void kademlia::on_unreachable(instant now, const node_id& to) {
    last_now_ = now;
    table_.on_ping_timeout(to, now);
    for (auto* waiting : {&pings_, &handoffs_}) {
        std::erase_if(*waiting, [&](const auto& entry) { return entry.second.to == to; });
    }
    std::vector<operation_id> touched;
    for (auto& [id, op] : operations_) {
        for (auto query = op.queried.begin(); query != op.queried.end();) {
            if (query->second == to && op.search) {
                op.search->on_failure(now, query->first);
                query = op.queried.erase(query);
                touched.push_back(id);
            } else {
                ++query;
            }
        }
        for (auto pending = op.stores_in_flight.begin(); pending != op.stores_in_flight.end();) {
            if (pending->second.id == to) {
                ++op.store_failed;
                blocks_.erase(pending->first);
                pending = op.stores_in_flight.erase(pending);
                touched.push_back(id);
            } else {
                ++pending;
            }
        }
    }
    for (operation_id id : touched) {
        auto found = operations_.find(id);
        if (found == operations_.end()) {
            continue;
        }
        if (found->second.storing && found->second.stores_in_flight.empty()) {
            finish_store(id);
        } else if (!found->second.storing) {
            pump(now, id);
        }
    }
    drain_table(now);
}

void kademlia::on_tick(instant now, std::uint64_t unix_seconds) {
    last_now_ = now;
    last_unix_ = unix_seconds;
    table_.on_tick(now);
    drain_table(now);
    for (auto* waiting : {&pings_, &handoffs_}) {
        std::erase_if(*waiting, [&](const auto& entry) { return entry.second.deadline <= now; });
    }
    if (announce_due_) {
        announce_due_ = false;
        announce(now, unix_seconds);
    }
    store_.on_tick(unix_seconds);
    for (const auto& due : store_.take_effects()) {
        republish(now, unix_seconds, due);
    }
    std::vector<operation_id> ids;
    ids.reserve(operations_.size());
    for (const auto& entry : operations_) {
        ids.push_back(entry.first);
    }
    for (operation_id id : ids) {
        tick_operation(now, id);
    }
}

void kademlia::tick_operation(instant now, operation_id id) {
    auto found = operations_.find(id);
    if (found == operations_.end()) {
        return;
    }
    operation& op = found->second;
    if (now >= op.deadline) {
        finish(id, make_error(errc::timeout, "no answer within the operation timeout"));
        return;
    }
    if (op.storing) {
        if (now >= op.store_deadline && !op.stores_retried) {
            // Once more to the silent holders (new query ids), waiting twice as long.
            op.stores_retried = true;
            op.store_deadline = now + limits_.store_timeout * 2;
            for (auto& [block, holder] : std::exchange(op.stores_in_flight, {})) {
                blocks_.erase(block);
                const std::uint64_t again = next_block();
                blocks_.emplace(again, id);
                effects_.emplace_back(std::in_place_type<send_message>, holder,
                                      dht::store{again << block_bits, *op.to_store});
                op.stores_in_flight.emplace(again, std::move(holder));
            }
        } else if (now >= op.store_deadline) {
            op.store_failed += op.stores_in_flight.size();
            finish_store(id);
        }
        return;
    }
    if (op.search) {
        op.search->on_tick(now);
        pump(now, id);
    }
}

result<operation_id> kademlia::start_put(instant now, std::uint64_t unix_seconds,
                                         std::string name, std::string value,
                                         std::uint64_t lifetime_seconds) {
    last_now_ = now;
    last_unix_ = unix_seconds;
    if (name.empty() || name.size() > record_name_size_max) {
        return make_error(errc::invalid_argument,
                          "name must be 1.." + std::to_string(record_name_size_max) + " bytes");
    }
    if (value.size() > record_value_size_max) {
        return make_error(errc::invalid_argument,
                          "value must be at most " + std::to_string(record_value_size_max) +
                              " bytes");
    }
    if (lifetime_seconds > limits_.store.lifetime_max_seconds) {
        return make_error(errc::invalid_argument,
                          "lifetime must be at most " +
                              std::to_string(limits_.store.lifetime_max_seconds) + " seconds");
    }
    if (user_operations_ >= limits_.operations_max) {
        return make_error(errc::resource_exhausted, "too many DHT operations in flight");
    }
    const std::uint64_t lifetime =
        lifetime_seconds == 0 ? limits_.record_lifetime_seconds : lifetime_seconds;
    auto signed_record = sign_next(unix_seconds, std::move(name), std::move(value), lifetime);
    if (auto kept = store_.publish(signed_record, unix_seconds); !kept) {
        return kept.failure();
    }
    return start_store(now, std::move(signed_record), true);
}

result<operation_id> kademlia::start_get(instant now, std::uint64_t unix_seconds,
                                         const id256& key) {
    last_now_ = now;
    last_unix_ = unix_seconds;
    if (user_operations_ >= limits_.operations_max) {
        return make_error(errc::resource_exhausted, "too many DHT operations in flight");
    }
    auto started = begin(now, operation_kind::get, true, key);
    REEF_ASSERT(started.has_value()); // user operations are bounded above
    operations_.at(*started).key = key;
    pump(now, *started);
    return *started;
}

result<operation_id> kademlia::start_closest(instant now, const node_id& target) {
    last_now_ = now;
    if (user_operations_ >= limits_.operations_max) {
        return make_error(errc::resource_exhausted, "too many DHT operations in flight");
    }
    if (table_.size() == 0) {
        return make_error(errc::unavailable, "the routing table is empty: no node to ask");
    }
    auto started = begin(now, operation_kind::closest, true, target);
    REEF_ASSERT(started.has_value()); // user operations are bounded above
    pump(now, *started);
    return *started;
}

record kademlia::sign_next(std::uint64_t unix_seconds, std::string name, std::string value,
                           std::uint64_t lifetime_seconds) const {
    std::uint64_t sequence = unix_seconds * sequence_per_second;
    if (const record* stored = store_.get(record_key(self_, name), unix_seconds)) {
        sequence = std::max(sequence, stored->sequence + 1);
    }
    return sign_record(publisher_, std::move(name), sequence, unix_seconds + lifetime_seconds,
                       std::move(value));
}

result<operation_id> kademlia::start_store(instant now, record to_store, bool user) {
    const id256 key = to_store.key;
    auto started = begin(now, operation_kind::put, user, key);
    if (!started) {
        ++stats_.background_dropped;
        return make_error(errc::resource_exhausted, "too many background DHT operations");
    }
    operations_.at(*started).to_store = std::move(to_store);
    pump(now, *started);
    return *started;
}

void kademlia::announce(instant now, std::uint64_t unix_seconds) {
    if (own_addresses_.empty()) {
        return;
    }
    auto made = make_node_addresses(publisher_, own_addresses_, 0, 0);
    REEF_ASSERT(made.ok()); // own addresses were validated by the caller
    auto signed_record = sign_next(unix_seconds, std::string(node_addresses_name), made->value,
                                   limits_.record_lifetime_seconds);
    if (store_.publish(signed_record, unix_seconds)) {
        (void)start_store(now, std::move(signed_record), false);
    }
}

void kademlia::republish(instant now, std::uint64_t unix_seconds, const republish_due& due) {
    const record* stored = store_.get(due.key, unix_seconds);
    if (stored == nullptr) {
        return;
    }
    auto successor = sign_next(unix_seconds, stored->name, stored->value,
                               limits_.record_lifetime_seconds);
    if (store_.publish(successor, unix_seconds)) {
        ++stats_.republished;
        (void)start_store(now, std::move(successor), false);
    }
}

std::optional<operation_id> kademlia::begin(instant now, operation_kind kind, bool user,
                                            const node_id& target) {
    if (!user && operations_.size() - user_operations_ >= limits_.background_max) {
        return std::nullopt;
    }
    REEF_ASSERT(!user || user_operations_ < limits_.operations_max);
    const operation_id id = next_operation_++;
    operation op;
    op.kind = kind;
    op.user = user;
    op.block = next_block();
    op.deadline = now + limits_.operation_timeout;
    op.key = target;
    op.search.emplace(limits_.lookup, self_, target,
                      table_.closest(target, limits_.lookup.result_size),
                      op.block << block_bits, now);
    blocks_.emplace(op.block, id);
    operations_.emplace(id, std::move(op));
    if (user) {
        ++user_operations_;
        ++stats_.operations_started;
    }
    return id;
}

void kademlia::pump(instant now, operation_id id) {
    operation& op = operations_.at(id);
    if (!op.search || op.storing) {
        return;
    }
    for (const auto& asked : op.search->take_effects()) {
        if (asked.query_id - (op.block << block_bits) >= block_queries_max) {
            finish(id, make_error(errc::resource_exhausted, "lookup exceeded its query ids"));
            return;
        }
        op.queried.emplace(asked.query_id, asked.to.id);
        message body;
        if (op.kind == operation_kind::get) {
            body = find_value{asked.query_id, op.key};
        } else {
            body = find_node{asked.query_id, op.search->target()};
        }
        effects_.emplace_back(std::in_place_type<send_message>, to_wire(asked.to),
                              std::move(body));
    }
    if (!op.search->done()) {
        return;
    }
    const lookup_result found = op.search->result();
    for (const auto& answered : found.closest) {
        note_contact(now, answered);
    }
    op.rounds = found.rounds;
    switch (op.kind) {
    case operation_kind::put:
        start_store_round(now, id, found);
        return;
    case operation_kind::get:
        finish_get(id);
        return;
    case operation_kind::closest:
        finish(id, operation_value{found});
        return;
    case operation_kind::bootstrap:
        announce_due_ = true;
        finish(id, operation_value{found});
        return;
    case operation_kind::refresh:
        finish(id, operation_value{found});
        return;
    }
}

void kademlia::start_store_round(instant now, operation_id id, const lookup_result& found) {
    operation& op = operations_.at(id);
    REEF_ASSERT(op.to_store.has_value());
    op.storing = true;
    op.store_deadline = now + limits_.store_timeout;
    // This node keeps its own records (it republishes them); it counts as a holder when it is
    // one of the k closest.
    const std::size_t k = limits_.lookup.result_size;
    const bool self_among_closest =
        found.closest.size() < k ||
        self_.distance_to(op.key) < found.closest.back().id.distance_to(op.key);
    if (self_among_closest) {
        op.stored_on.push_back(self_);
    }
    std::size_t sent = 0;
    for (const auto& holder : found.closest) {
        if (sent + (self_among_closest ? 1 : 0) >= k) {
            break;
        }
        const std::uint64_t block = next_block();
        blocks_.emplace(block, id);
        op.stores_in_flight.emplace(block, to_wire(holder));
        effects_.emplace_back(std::in_place_type<send_message>, to_wire(holder),
                              dht::store{block << block_bits, *op.to_store});
        ++sent;
    }
    if (op.stores_in_flight.empty()) {
        finish_store(id);
    }
}

void kademlia::finish_store(operation_id id) {
    operation& op = operations_.at(id);
    put_result done{*op.to_store, op.stored_on, op.store_failed, op.rounds};
    finish(id, operation_value{std::move(done)});
}

void kademlia::finish_get(operation_id id) {
    operation& op = operations_.at(id);
    if (op.search) {
        op.rounds = op.search->result().rounds; // also when confirmations end the get early
    }
    if (op.best) {
        finish(id, operation_value{get_result{*op.best, op.holders, op.rounds, false}});
        return;
    }
    if (const record* held = store_.get(op.key, last_unix_)) {
        finish(id, operation_value{get_result{*held, 0, op.rounds, true}});
        return;
    }
    finish(id, make_error(errc::not_found, "no node holds a record with this key"));
}

void kademlia::finish(operation_id id, result<operation_value> outcome) {
    auto found = operations_.find(id);
    REEF_ASSERT(found != operations_.end());
    operation& op = found->second;
    blocks_.erase(op.block);
    for (const auto& pending : op.stores_in_flight) {
        blocks_.erase(pending.first);
    }
    if (op.user) {
        REEF_ASSERT(user_operations_ > 0);
        --user_operations_;
        if (!outcome) {
            ++stats_.operations_failed;
        }
        effects_.emplace_back(std::in_place_type<operation_done>, id, std::move(outcome));
    }
    operations_.erase(found);
}

void kademlia::drain_table(instant now) {
    for (auto& wanted : table_.take_effects()) {
        if (auto* asked = std::get_if<ping_request>(&wanted)) {
            if (pings_.size() >= limits_.background_max) {
                ++stats_.background_dropped;
                continue; // the ping deadline passes and the table evicts the contact
            }
            const std::uint64_t block = next_block();
            pings_.emplace(block, pending_ping{asked->target.id,
                                               now + limits_.routing.ping_timeout});
            effects_.emplace_back(std::in_place_type<send_message>, to_wire(asked->target),
                                  ping{block << block_bits});
        } else {
            const auto& refresh = std::get<refresh_request>(wanted);
            if (auto started = begin(now, operation_kind::refresh, false, refresh.target)) {
                pump(now, *started);
            } else {
                ++stats_.background_dropped;
            }
        }
    }
}

std::uint64_t kademlia::next_block() {
    REEF_ASSERT(next_block_ < (std::uint64_t{1} << (64 - block_bits)));
    return next_block_++;
}

std::vector<kademlia_effect> kademlia::take_effects() { return std::exchange(effects_, {}); }

instant kademlia::next_deadline() const {
    instant earliest = table_.next_deadline();
    if (announce_due_) {
        earliest = std::min(earliest, last_now_);
    }
    for (const auto* waiting : {&pings_, &handoffs_}) {
        for (const auto& entry : *waiting) {
            earliest = std::min(earliest, entry.second.deadline);
        }
    }
    for (const auto& [id, op] : operations_) {
        earliest = std::min(earliest, op.deadline);
        if (op.storing) {
            earliest = std::min(earliest, op.store_deadline);
        } else if (op.search) {
            earliest = std::min(earliest, op.search->next_deadline());
        }
    }
    const std::uint64_t store_due = store_.next_deadline();
    if (store_due != std::numeric_limits<std::uint64_t>::max()) {
        const std::uint64_t wait = store_due > last_unix_ ? store_due - last_unix_ : 0;
        const std::uint64_t wait_max = std::uint64_t{1} << 30U;
        earliest = std::min(earliest, last_now_ + duration::seconds(static_cast<std::int64_t>(
                                                      std::min(wait, wait_max))));
    }
    return earliest;
}

void kademlia::check_invariants() const {
    table_.check_invariants();
    store_.check_invariants();
    REEF_ASSERT(user_operations_ <= limits_.operations_max);
    REEF_ASSERT(operations_.size() - user_operations_ <= limits_.background_max);
    REEF_ASSERT(pings_.size() <= limits_.background_max);
    REEF_ASSERT(handoffs_.size() <= limits_.handoffs_max);
    for (const auto& [block, owner] : blocks_) {
        REEF_ASSERT(operations_.contains(owner));
        (void)block;
    }
    for (const auto& [id, op] : operations_) {
        REEF_ASSERT(blocks_.contains(op.block) || op.storing);
        REEF_ASSERT(!op.storing || op.to_store.has_value());
        for (const auto& pending : op.stores_in_flight) {
            REEF_ASSERT(blocks_.at(pending.first) == id);
        }
    }
}

} // namespace reef::dht
