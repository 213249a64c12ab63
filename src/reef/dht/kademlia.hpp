#pragma once
// One node's Kademlia DHT: the routing table, the lookups in flight, the record store and the
// request/reply protocol between nodes (messages.hpp), as one sans-IO state machine.
//
// Thread-safety: none; one owner drives it (node::node in reefd, or the simulator).
// Inputs, each with the current `instant` and, where records are involved, the wall-clock unix
// seconds (record expiries cross machines, so they cannot be monotonic):
//  - observe / remove: contacts from membership (alive: observe; dead or left: remove);
//  - on_message: a decoded, shape-validated message from an authenticated peer;
//  - on_unreachable: the transport could not deliver to a peer;
//  - on_tick: deadlines (query timeouts, pings, bucket refresh, republishing, operation timeouts);
//  - start_put / start_get / start_closest: operations asked for by a user (the control API).
// Outputs: take_effects() (messages to send, finished operations) and next_deadline().
//
// Protocol (docs/design/dht.md, "Node protocol"):
//  - every valid message observes its sender into the routing table (the transport authenticated
//    its id and the address it listens on);
//  - requests are answered at once: ping -> pong, find_node -> the k closest contacts,
//    find_value -> the record or the k closest contacts, store -> record_store::put's verdict;
//  - replies are matched to what is in flight by query id: a query id is (block << 24 | n), where
//    each lookup, ping and store owns one block, so concurrent lookups never collide; replies
//    matching nothing in flight are dropped and counted;
//  - put: sign the record (sequence = max(stored + 1, unix seconds x 1,000,000), so a restarted
//    publisher never goes back), keep it in this node's store, look up the k closest nodes to its
//    key, send them store, and finish when all answered or store_timeout passed;
//  - get: a lookup whose queries are find_value; a found record must verify and carry the asked
//    key, else the reply is treated as a lie (sender failed). The get finishes with the highest
//    sequence seen once get_confirmations nodes returned a valid record, or when the lookup ends
//    (then this node's own store is the last resort);
//  - closest: a lookup, the k closest live nodes;
//  - hand-off (Kademlia section 2.5): when a new contact enters the routing table, this node
//    sends it every stored record for which the newcomer is among the k closest nodes this node
//    knows and this node is the closest of the others, so a record stored while the network was
//    smaller (an early announcement) reaches the nodes that lookups will ask;
//  - background work (bounded by background_max; further requests are dropped and counted): the
//    routing table's pings and refresh lookups, the first self-lookup when the table gets its
//    first contact (bootstrap), then the announcement of this node's address record, and the
//    republishing of this node's records before they expire.
//
// Untrusted input is never asserted on: unsolicited replies, replies from the wrong node, lying
// records and oversized lists are counted in kademlia_stats and dropped.
//
// Invariants (check_invariants): the table's and the store's own; every in-flight query block
// belongs to a live operation or ping; operations within operations_max + background_max.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/address.hpp"
#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/dht/contact.hpp"
#include "reef/dht/lookup.hpp"
#include "reef/dht/messages.hpp"
#include "reef/dht/record.hpp"
#include "reef/dht/record_store.hpp"
#include "reef/dht/routing_table.hpp"

namespace reef::dht {

struct kademlia_config {
    routing_config routing;
    lookup_config lookup;
    store_config store;
    /// User operations (put, get, closest) in flight; more are refused with resource_exhausted.
    std::size_t operations_max = 256;
    /// Background lookups, stores and pings in flight; more are dropped and counted.
    std::size_t background_max = 32;
    /// A user operation not finished by then ends with errc::timeout.
    duration operation_timeout = duration::seconds(8);
    /// How long a store request may take before its node counts as failed.
    duration store_timeout = duration::seconds(2);
    /// Hand-off stores in flight; more are dropped and counted (republishing repairs them).
    std::size_t handoffs_max = 256;
    /// Valid records from this many nodes end a get early.
    std::size_t get_confirmations = 3;
    /// Lifetime of records this node signs (puts, its address record, republishes).
    std::uint64_t record_lifetime_seconds = 24 * 3600;

    [[nodiscard]] status validate() const;
};

using operation_id = std::uint64_t;

/// Send `body` to `to` (its id and dialable address).
struct send_message {
    wire_contact to;
    message body;
};

struct put_result {
    record stored;
    /// Nodes that acknowledged the store, this node included when it is among the k closest.
    std::vector<node_id> stored_on;
    /// Nodes among the k closest that refused or did not answer.
    std::size_t failed = 0;
    std::size_t rounds = 0;
};

struct get_result {
    record found;
    /// Nodes that returned a valid record (any sequence).
    std::size_t holders = 0;
    std::size_t rounds = 0;
    /// True when no other node had it and this node's own store answered.
    bool from_local_store = false;
};

using operation_value = std::variant<put_result, get_result, lookup_result>;

/// A user operation finished: its value, or the error (timeout, not_found, unavailable when
/// there is nobody to ask).
struct operation_done {
    operation_id id = 0;
    result<operation_value> outcome;
};

using kademlia_effect = std::variant<send_message, operation_done>;

struct kademlia_stats {
    std::uint64_t requests_answered = 0;
    std::uint64_t replies_accepted = 0;
    std::uint64_t replies_unsolicited = 0;   // no such query in flight, or from the wrong node
    std::uint64_t records_rejected = 0;      // a find_value reply with a bad or foreign record
    std::uint64_t stores_accepted = 0;       // store requests this node stored
    std::uint64_t stores_refused = 0;        // store requests record_store refused
    std::uint64_t background_dropped = 0;    // pings, refreshes or republishes over background_max
    std::uint64_t operations_started = 0;
    std::uint64_t operations_failed = 0;
    std::uint64_t republished = 0;
    std::uint64_t handoffs = 0;              // records sent to a newcomer closer to their key
};

class kademlia {
public:
    /// `limits` must validate (asserted). `publisher` signs this node's records; its id is this
    /// node's id. `own_addresses` go into this node's address record (may be empty: none is
    /// published).
    kademlia(const kademlia_config& limits, const crypto::identity& publisher,
             std::vector<host_port> own_addresses, std::uint64_t seed, instant now);

    /// A live peer at `address`, from membership or another trusted source.
    void observe(instant now, const node_id& id, const std::string& address);
    /// Membership declared `id` dead or it left.
    void remove(const node_id& id);

    /// A message from the authenticated peer `from`, who listens at `from_address`.
    void on_message(instant now, std::uint64_t unix_seconds, const node_id& from,
                    const std::string& from_address, const message& incoming);
    /// Messages to `to` could not be delivered: its queries fail at once.
    void on_unreachable(instant now, const node_id& to);
    void on_tick(instant now, std::uint64_t unix_seconds);

    /// Sign and store `value` under `name` (this node's key space). invalid_argument for a bad
    /// name or value, resource_exhausted when operations_max are in flight or the local store
    /// refuses. `lifetime_seconds` 0 means record_lifetime_seconds.
    [[nodiscard]] result<operation_id> start_put(instant now, std::uint64_t unix_seconds,
                                                 std::string name, std::string value,
                                                 std::uint64_t lifetime_seconds = 0);
    [[nodiscard]] result<operation_id> start_get(instant now, std::uint64_t unix_seconds,
                                                 const id256& key);
    [[nodiscard]] result<operation_id> start_closest(instant now, const node_id& target);

    [[nodiscard]] std::vector<kademlia_effect> take_effects();
    [[nodiscard]] instant next_deadline() const;

    const node_id& self() const { return self_; }
    const routing_table& table() const { return table_; }
    const record_store& store() const { return store_; }
    const kademlia_stats& stats() const { return stats_; }
    std::size_t operations_in_flight() const { return operations_.size(); }

    void check_invariants() const;

private:
    enum class operation_kind : std::uint8_t { put, get, closest, refresh, bootstrap };

    struct operation {
        operation_kind kind = operation_kind::closest;
        bool user = false;
        std::uint64_t block = 0;                  // query-id block of the lookup
        std::optional<class lookup> search;
        std::map<std::uint64_t, node_id> queried; // lookup queries in flight: query id -> node
        instant deadline;
        id256 key;                                // the lookup's target
        std::size_t rounds = 0;
        // put: the record, then the store round once the lookup is done.
        std::optional<record> to_store;
        bool storing = false;
        std::map<std::uint64_t, wire_contact> stores_in_flight;  // query block -> node
        bool stores_retried = false;
        std::vector<node_id> stored_on;
        std::size_t store_failed = 0;
        instant store_deadline;
        // get
        std::optional<record> best;
        std::size_t holders = 0;
    };

    struct pending_ping {
        node_id to;
        instant deadline;
    };

    std::optional<operation_id> begin(instant now, operation_kind kind, bool user,
                                      const node_id& target);
    void after_observe(instant now);
    /// table_.observe, plus the hand-off of records when the contact is new.
    void note_contact(instant now, const contact& seen);
    void hand_off(instant now, const contact& newcomer);
    void answer(std::uint64_t unix_seconds, const wire_contact& from, const message& request);
    void on_reply(instant now, std::uint64_t unix_seconds, const node_id& from,
                  const message& reply);
    bool accept_record(operation& op, const node_id& from, const record& found,
                       std::uint64_t unix_seconds);
    void on_store_reply(instant now, operation_id id, operation& op, const node_id& from,
                        const store_reply& verdict);
    void tick_operation(instant now, operation_id id);
    void pump(instant now, operation_id id);
    void start_store_round(instant now, operation_id id, const lookup_result& found);
    void finish_store(operation_id id);
    void finish_get(operation_id id);
    void finish(operation_id id, result<operation_value> outcome);
    record sign_next(std::uint64_t unix_seconds, std::string name, std::string value,
                     std::uint64_t lifetime_seconds) const;
    result<operation_id> start_store(instant now, record to_store, bool user);
    void announce(instant now, std::uint64_t unix_seconds);
    void republish(instant now, std::uint64_t unix_seconds, const republish_due& due);
    void drain_table(instant now);
    std::uint64_t next_block();

    kademlia_config limits_;
    crypto::identity publisher_;
    node_id self_;
    std::vector<host_port> own_addresses_;
    routing_table table_;
    record_store store_;
    std::map<operation_id, operation> operations_;
    std::map<std::uint64_t, operation_id> blocks_;  // query block -> operation (lookups, stores)
    std::map<std::uint64_t, pending_ping> pings_;   // query block -> ping
    std::map<std::uint64_t, pending_ping> handoffs_;  // query block -> hand-off store
    std::uint64_t next_block_ = 1;
    operation_id next_operation_ = 1;
    std::size_t user_operations_ = 0;
    bool bootstrapped_ = false;
    bool announce_due_ = false;
    // The latest input's clocks, for next_deadline() (store deadlines are unix seconds).
    instant last_now_;
    std::uint64_t last_unix_ = 0;
    std::vector<kademlia_effect> effects_;
    kademlia_stats stats_;
};

} // namespace reef::dht
