#include "reef/membership/gossip_queue.hpp"

#include "reef/base/assert.hpp"

namespace reef::membership {

void gossip_queue::push(const node_id& id) {
    erase(id);
    const key fresh{0, order_next_++, id};
    const bool inserted = queue_.insert(fresh).second;
    REEF_ASSERT(inserted);
    index_.emplace(id, fresh);
    REEF_ASSERT(queue_.size() == index_.size());
}

void gossip_queue::erase(const node_id& id) {
    auto found = index_.find(id);
    if (found == index_.end()) {
        return;
    }
    const auto erased = queue_.erase(found->second);
    REEF_ASSERT(erased == 1);
    index_.erase(found);
}

void gossip_queue::take(std::size_t count_max, std::uint32_t limit, const node_id& skip,
                        std::vector<node_id>& out) {
    REEF_ASSERT(limit > 0);
    // Taken keys are re-inserted after the walk, with one more transmission, so the walk never
    // meets them again.
    std::vector<key> taken;
    for (auto it = queue_.begin(); it != queue_.end() && taken.size() < count_max;) {
        if (it->id == skip) {
            ++it;
            continue;
        }
        taken.push_back(*it);
        it = queue_.erase(it);
    }
    for (auto& k : taken) {
        out.push_back(k.id);
        ++k.transmits;
        if (k.transmits >= limit) {
            index_.erase(k.id);
        } else {
            queue_.insert(k);
            index_[k.id] = k;
        }
    }
    REEF_ASSERT(queue_.size() == index_.size());
}

std::uint32_t gossip_queue::transmits(const node_id& id) const {
    auto found = index_.find(id);
    REEF_ASSERT(found != index_.end());
    return found->second.transmits;
}

void gossip_queue::check_invariants() const {
    REEF_ASSERT(queue_.size() == index_.size());
#if REEF_SLOW_CHECKS
    for (const auto& k : queue_) {
        auto found = index_.find(k.id);
        REEF_ASSERT(found != index_.end());
        REEF_ASSERT(found->second.order == k.order);
        REEF_ASSERT(found->second.transmits == k.transmits);
    }
#endif
}

} // namespace reef::membership
