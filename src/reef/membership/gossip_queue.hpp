#pragma once
// The infection-style dissemination queue (memberlist's TransmitLimitedQueue): at most one pending
// update per member, handed out fewest-transmissions first and, among equals, newest first, each
// until it has been sent `limit` times.
//
// Thread-safety: none. Invariants: an entry is queued iff its slot says so, and then exactly once;
// the queue never holds more entries than its owner has (the owner bounds those by members_max).
//
// The queue holds pointers to the owner's entries (which must stay put while queued, as the
// elements of a node-based container do) and each entry carries its own `gossip_slot`, so taking
// gossip for a message costs no lookups: this is on the path of every message sent. The owner
// sends each member's *current* state, which is always at least as new as the state that was
// queued.

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

#include "reef/base/assert.hpp"

namespace reef::membership {

/// Per-entry bookkeeping, embedded in the owner's entry as a member named `gossip`.
struct gossip_slot {
    std::uint32_t transmits = 0;
    std::uint64_t order = 0; // larger = newer
    bool queued = false;
};

template <typename Entry>
class gossip_queue {
public:
    /// Queue `entry` as fresh news (zero transmissions), replacing any older turn it had.
    void push(Entry* entry) {
        REEF_ASSERT(entry != nullptr);
        erase(entry);
        entry->gossip = gossip_slot{0, order_next_++, true};
        const bool inserted = queue_.insert(key{0, entry->gossip.order, entry}).second;
        REEF_ASSERT(inserted);
    }

    /// Forget `entry` (before the owner destroys it).
    void erase(Entry* entry) {
        if (!entry->gossip.queued) {
            return;
        }
        const auto erased = queue_.erase(key{entry->gossip.transmits, entry->gossip.order, entry});
        REEF_ASSERT(erased == 1);
        entry->gossip.queued = false;
    }

    /// Up to `count_max` entries to piggyback, skipping `skip` (may be null); each taken entry
    /// counts one transmission and leaves the queue once it reaches `limit`.
    void take(std::size_t count_max, std::uint32_t limit, const Entry* skip,
              std::vector<Entry*>& out) {
        REEF_ASSERT(limit > 0);
        // Taken keys are re-inserted after the walk, so the walk never meets them again. Node
        // handles are reused: no allocation per transmission.
        taken_.clear();
        for (auto it = queue_.begin(); it != queue_.end() && taken_.size() < count_max;) {
            if (it->entry == skip) {
                ++it;
                continue;
            }
            auto next = std::next(it);
            taken_.push_back(queue_.extract(it));
            it = next;
        }
        for (auto& handle : taken_) {
            Entry* entry = handle.value().entry;
            out.push_back(entry);
            ++entry->gossip.transmits;
            if (entry->gossip.transmits >= limit) {
                entry->gossip.queued = false;
                continue;
            }
            handle.value().transmits = entry->gossip.transmits;
            queue_.insert(std::move(handle));
        }
        taken_.clear();
    }

    std::size_t size() const { return queue_.size(); }
    bool empty() const { return queue_.empty(); }

    /// O(n): every queued key matches its entry's slot.
    void check_invariants() const {
        for (const auto& k : queue_) {
            REEF_ASSERT(k.entry->gossip.queued);
            REEF_ASSERT(k.entry->gossip.transmits == k.transmits);
            REEF_ASSERT(k.entry->gossip.order == k.order);
        }
    }

private:
    struct key {
        std::uint32_t transmits = 0;
        std::uint64_t order = 0;
        Entry* entry = nullptr;
        bool operator<(const key& other) const {
            if (transmits != other.transmits) {
                return transmits < other.transmits;
            }
            return order > other.order; // orders are unique
        }
    };
    std::set<key> queue_;
    std::vector<typename std::set<key>::node_type> taken_;
    std::uint64_t order_next_ = 1;
};

} // namespace reef::membership
