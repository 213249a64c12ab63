#pragma once
// The infection-style dissemination queue (memberlist's TransmitLimitedQueue): at most one pending
// update per member, handed out fewest-transmissions first and, among equals, newest first, each
// until it has been sent `limit` times.
//
// Thread-safety: none. Invariants: every queued id appears once in both indexes; the queue never
// holds more entries than distinct ids pushed (the owner bounds those by members_max).
//
// The queue stores ids only: the owner sends the member's *current* state, which is always at
// least as new as the state that was queued.

#include <cstddef>
#include <cstdint>
#include <set>
#include <unordered_map>
#include <vector>

#include "reef/base/ids.hpp"

namespace reef::membership {

class gossip_queue {
public:
    /// Queue `id` as fresh news (zero transmissions), replacing any older entry for it.
    void push(const node_id& id);
    /// Forget `id` (the member was reclaimed).
    void erase(const node_id& id);
    /// Up to `count_max` ids to piggyback, skipping `skip`; each taken id counts one transmission
    /// and leaves the queue once it reaches `limit`.
    void take(std::size_t count_max, std::uint32_t limit, const node_id& skip,
              std::vector<node_id>& out);

    bool contains(const node_id& id) const { return index_.contains(id); }
    std::size_t size() const { return index_.size(); }
    bool empty() const { return index_.empty(); }
    /// Transmissions so far of a queued id (for tests).
    std::uint32_t transmits(const node_id& id) const;

    void check_invariants() const;

private:
    struct key {
        std::uint32_t transmits = 0;
        std::uint64_t order = 0; // larger = newer
        node_id id;
        bool operator<(const key& other) const {
            if (transmits != other.transmits) {
                return transmits < other.transmits;
            }
            return order > other.order;
        }
    };
    std::set<key> queue_;
    std::unordered_map<node_id, key, id256_hash> index_;
    std::uint64_t order_next_ = 1;
};

} // namespace reef::membership
