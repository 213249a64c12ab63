#pragma once
// Kademlia routing table: 256 k-buckets indexed by the XOR distance from this node, as a sans-IO
// state machine.
//
// Memory follows content: a bucket is allocated when its first contact arrives and released when
// its last one leaves, so an empty table is a few hundred bytes and a table of c contacts in b
// non-empty buckets costs about b x 100 B plus c contacts. Buckets that are not allocated share
// one refresh clock (see on_tick).
//
// Thread-safety: none; one owner drives it (the node's event loop or the simulator).
// Inputs: observe / remove / on_ping_timeout / on_tick, each with the current `instant`.
// Outputs: take_effects() (ping and refresh requests) and next_deadline().
//
// Long-lived contacts are preferred (Kademlia section 2.2): a contact that has stayed up is likely
// to stay up, so a full bucket does not drop its oldest contact for a newcomer. The newcomer goes
// to the bucket's bounded replacement cache and the table asks the driver to ping the oldest
// contact. An answer (any observe() of that contact) keeps it and leaves the newcomer cached; a
// timeout evicts it and promotes the most recently seen replacement.
//
// Invariants (check_invariants):
//  - this node is never in the table, and the zero id never is;
//  - every contact sits in the bucket its distance from this node selects, at most once in the
//    whole table (bucket or replacement cache, never both);
//  - a bucket holds at most bucket_size contacts, ordered by last_seen (oldest first), and at most
//    replacements_max replacements;
//  - a pending ping names a contact of its bucket and has a deadline;
//  - an allocated bucket holds at least one contact (replacements and pings need a full bucket).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/dht/contact.hpp"

namespace reef::dht {

struct routing_config {
    /// Kademlia's k: contacts per bucket, and the replication width of the DHT.
    std::size_t bucket_size = 20;
    /// Newcomers remembered per full bucket while its oldest contact is pinged.
    std::size_t replacements_max = 8;
    /// How long a pinged contact has to answer before it is evicted.
    duration ping_timeout = duration::seconds(2);
    /// A bucket with no news for this long asks for a lookup of a random id in its range.
    duration refresh_interval = duration::seconds(15 * 60);

    /// invalid_argument naming the first setting out of range.
    [[nodiscard]] status validate() const;
};

/// Ping `target` (the oldest contact of a full bucket). The driver reports an answer through
/// observe() and a failure through on_ping_timeout() (or lets ping_timeout expire).
struct ping_request {
    contact target;
};

/// Run a lookup for `target`, a random id inside bucket `bucket_index`, and observe() what it
/// finds.
struct refresh_request {
    int bucket_index = 0;
    node_id target;
};

/// Effects carry no ordering obligation beyond "in order".
using table_effect = std::variant<ping_request, refresh_request>;

enum class observe_outcome : std::uint8_t {
    inserted,  // a new contact entered its bucket
    updated,   // a known contact was refreshed (moved to the tail of its bucket)
    cached,    // the bucket is full: the contact waits in the replacement cache
    rejected,  // this node itself, or a malformed contact
};

struct routing_stats {
    std::uint64_t inserted = 0;
    std::uint64_t evicted = 0;             // contacts that failed a ping and were replaced
    std::uint64_t removed = 0;             // contacts removed because membership declared them dead
    std::uint64_t rejected = 0;            // self or malformed contacts passed to observe()
    std::uint64_t replacements_dropped = 0;  // oldest replacements pushed out of a full cache
    std::uint64_t pings_requested = 0;
    std::uint64_t refreshes_requested = 0;
};

class routing_table {
public:
    static constexpr int buckets_count = 256;

    /// `limits` must validate and `self` must not be zero (asserted: a caller bug). Every bucket's
    /// refresh clock starts at `now`.
    routing_table(const routing_config& limits, node_id self, std::uint64_t seed, instant now);

    /// Bucket of `id` as seen from `self`: 255 - leading zero bits of the XOR distance, so bucket
    /// 255 holds the half of the id space farthest from self. `id` must differ from `self`.
    static int bucket_index(const node_id& self, const node_id& id);

    /// Every valid message from an authenticated peer, and every answered query, lands here.
    /// `seen.last_seen` is ignored and replaced with `now`; an unknown rtt keeps the known one.
    observe_outcome observe(const contact& seen, instant now);
    /// Membership declared `id` dead (or it left): forget it. True if it was known.
    bool remove(const node_id& id);
    /// The driver's ping of `id` failed before ping_timeout (for example: unreachable).
    void on_ping_timeout(const node_id& id, instant now);
    /// Expire pings and emit due refreshes, in bucket order. Harmless before next_deadline().
    void on_tick(instant now);

    [[nodiscard]] std::vector<table_effect> take_effects();
    [[nodiscard]] instant next_deadline() const;

    /// The `count` contacts closest to `target` by XOR distance, closest first (distances are
    /// distinct, so the order is fully determined). Replacement caches are not included.
    std::vector<contact> closest(const node_id& target, std::size_t count) const;
    std::optional<contact> find(const node_id& id) const;
    /// Contacts in buckets (not counting replacement caches).
    std::size_t size() const { return size_; }
    std::size_t bucket_size(int index) const;
    std::size_t replacements_size(int index) const;
    const node_id& self() const { return self_; }
    const routing_config& limits() const { return limits_; }
    const routing_stats& stats() const { return stats_; }

    void check_invariants() const;

private:
    struct pending_ping {
        node_id id;
        instant deadline;
    };
    struct bucket {
        int index = 0;
        std::vector<contact> contacts;      // oldest last_seen first; never empty
        std::vector<contact> replacements;  // most recently seen last
        std::optional<pending_ping> ping;
        instant touched;
    };
    using bucket_list = std::vector<bucket>;

    bucket* find_bucket(int index);
    const bucket* find_bucket(int index) const;
    /// The bucket `index`, allocated (touched at `now`) if absent. Invalidates bucket references.
    bucket& bucket_for(int index, instant now);
    /// Release `target` if it lost its last contact; its refresh clock joins absent_touched_.
    void release_if_empty(const bucket& target);
    void touch(bucket& target, instant now);
    void evict(bucket& target, const node_id& id, instant now);
    void promote_replacement(bucket& target);
    node_id random_id_in(int index);
    int lowest_occupied() const;

    routing_config limits_;
    node_id self_;
    prng prng_;
    // Allocated buckets only, sorted by index; about log2(N) of them in a network of N nodes.
    bucket_list buckets_;
    // When the buckets that are not allocated were last refreshed. A released bucket's clock
    // merges in by taking the earlier of the two: a refresh may come early, never late.
    instant absent_touched_;
    std::size_t size_ = 0;
    std::vector<table_effect> effects_;
    routing_stats stats_;
};

} // namespace reef::dht
