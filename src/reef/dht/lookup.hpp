#pragma once
// Iterative Kademlia lookup of one target over S/Kademlia disjoint paths, as a sans-IO state
// machine.
//
// Thread-safety: none; one owner drives it (the node's event loop or the simulator).
// Inputs: the constructor (started with the closest known contacts), on_response, on_failure and
// on_tick, each with the current `instant`.
// Outputs: take_effects() (queries to send) and next_deadline(); result() once done().
//
// Disjoint paths (Baumgart and Mies, S/Kademlia, 2007): the initial contacts are dealt round-robin
// to `paths` sub-lookups. Each path queries up to `parallelism` nodes at a time and learns only
// from the answers to its own queries; a node queried by one path is never queried by another.
// A few lying nodes can therefore capture at most the paths that reach them, and the result is the
// union of what every path found.
//
// A path is finished when the result_size closest candidates it can still use (learned by it, not
// owned by another path, not failed) have all answered, or the next ones would exceed rounds_max.
// Failed nodes (timeouts, misbehaviour) are skipped, so the result holds live nodes only.
//
// Hostile input handling (counted in lookup_stats, never asserted):
//  - a response whose query id is not in flight (unsolicited, duplicate, late after a timeout) is
//    ignored;
//  - a response whose sender is not the node the query went to is ignored (the query stays in
//    flight);
//  - a response listing more than response_contacts_max contacts is rejected whole and its sender
//    is treated as failed: an honest node never sends one, so nothing in it is trusted;
//  - malformed entries (zero id, empty or long address) and entries naming this node are dropped,
//    the rest of the response is used.
//
// Invariants (check_invariants):
//  - at most `parallelism` queries in flight per path, and exactly the in-flight candidates have
//    an entry in the query map;
//  - a candidate is owned by at most one path, and only once it was queried;
//  - this node and the zero id are never candidates; candidates never exceed candidates_max.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/dht/contact.hpp"

namespace reef::dht {

struct lookup_config {
    /// Kademlia's k: how many closest nodes the lookup returns.
    std::size_t result_size = 20;
    /// Kademlia's alpha: queries in flight per path.
    std::size_t parallelism = 3;
    /// S/Kademlia's d: disjoint sub-lookups.
    std::size_t paths = 3;
    /// Per-query timeout: clamp(rtt_timeout_factor * rtt, timeout_min, timeout_max), or
    /// timeout_default when the contact's rtt is unknown.
    std::int64_t rtt_timeout_factor = 4;
    duration timeout_min = duration::milliseconds(50);
    duration timeout_max = duration::seconds(5);
    duration timeout_default = duration::seconds(1);
    /// Longest chain of queries (hops) before the lookup settles for what it has.
    std::size_t rounds_max = 16;
    /// A query that times out is sent again this many times (with a new query id and twice the
    /// timeout each time) before its node counts as failed: one lost datagram or a slow moment
    /// must not drop a live node from the result.
    std::size_t query_retries = 1;
    /// Candidates remembered; beyond it the farthest unqueried ones are dropped.
    std::size_t candidates_max = 512;
    /// Largest contact list accepted in one response (normally result_size).
    std::size_t response_contacts_max = 20;

    /// invalid_argument naming the first setting out of range.
    [[nodiscard]] status validate() const;
};

/// Ask `to` for its closest contacts to the lookup's target. The answer comes back through
/// on_response(query_id, ...); a transport failure through on_failure(query_id).
struct query {
    contact to;
    std::uint64_t query_id = 0;
};

enum class response_outcome : std::uint8_t {
    accepted,     // merged (malformed entries, if any, were dropped and counted)
    unsolicited,  // no such query in flight: never sent, already answered, or timed out
    wrong_sender, // the query went to a different node
    oversized,    // more than response_contacts_max contacts: rejected whole, sender failed
};

struct lookup_stats {
    std::uint64_t queries_sent = 0;
    std::uint64_t answered = 0;
    std::uint64_t timeouts = 0;           // queries given up after their last retry
    std::uint64_t retries = 0;
    std::uint64_t failures = 0;           // on_failure from the transport
    std::uint64_t unsolicited = 0;
    std::uint64_t wrong_sender = 0;
    std::uint64_t oversized = 0;
    std::uint64_t malformed_entries = 0;
    std::uint64_t self_entries = 0;
    std::uint64_t candidates_dropped = 0;  // over candidates_max
};

struct lookup_result {
    /// Up to result_size nodes that answered, closest to the target first, with the RTT this
    /// lookup measured and last_seen = the answer's arrival.
    std::vector<contact> closest;
    /// Longest chain of queries used: 1 when the initial contacts already knew the answer.
    std::size_t rounds = 0;
};

class lookup {
public:
    /// `limits` must validate; `self` must not be zero (asserted). `initial` is untrusted in
    /// spirit: self, malformed and duplicate entries are dropped. Query ids are consecutive from
    /// `first_query_id` (the owner keeps them unique across its lookups). The first queries are
    /// ready in take_effects() when the constructor returns.
    lookup(const lookup_config& limits, node_id self, node_id target,
           std::span<const contact> initial, std::uint64_t first_query_id, instant now);

    response_outcome on_response(instant now, std::uint64_t query_id, const node_id& from,
                                 std::span<const contact> contacts);
    /// The transport could not deliver query `query_id` (unknown ids are ignored).
    void on_failure(instant now, std::uint64_t query_id);
    /// Expire queries whose deadline passed. Harmless before next_deadline().
    void on_tick(instant now);

    [[nodiscard]] std::vector<query> take_effects();
    [[nodiscard]] instant next_deadline() const;

    /// No query in flight and none left to send.
    bool done() const { return done_; }
    /// The answer so far (final once done()).
    lookup_result result() const;
    const node_id& target() const { return target_; }
    const lookup_stats& stats() const { return stats_; }
    /// The id the next query will use.
    std::uint64_t next_query_id() const { return next_query_id_; }

    void check_invariants() const;

private:
    enum class candidate_state : std::uint8_t { fresh, in_flight, answered, failed };
    static constexpr int unowned = -1;

    struct candidate {
        contact peer;
        candidate_state state = candidate_state::fresh;
        int owner = unowned;          // the path that queried it
        std::uint32_t known_by = 0;   // bit p: path p learned it
        std::size_t depth = 0;        // queries needed to learn it (0 = initial contact)
        std::uint64_t query_id = 0;
        std::size_t retries = 0;
        instant sent_at;
        instant deadline;
    };
    using candidate_map = std::map<node_id, candidate>;  // keyed by distance to the target

    void merge(const contact& peer, int path, std::size_t depth);
    void fail(candidate_map::iterator found);
    void advance(instant now);
    bool advance_path(int path, instant now);
    void send(candidate& chosen, int path, instant now);
    duration timeout_for(const contact& peer) const;

    lookup_config limits_;
    node_id self_;
    node_id target_;
    candidate_map candidates_;
    std::map<std::uint64_t, node_id> in_flight_;  // query id -> distance key
    std::vector<std::size_t> in_flight_per_path_;
    std::uint64_t next_query_id_;
    std::size_t rounds_ = 0;
    bool done_ = false;
    std::vector<query> effects_;
    lookup_stats stats_;
};

} // namespace reef::dht
