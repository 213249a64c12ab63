#include "reef/dht/routing_table.hpp"

#include <algorithm>
#include <string>

#include "reef/base/assert.hpp"

namespace reef::dht {

status routing_config::validate() const {
    if (bucket_size == 0 || bucket_size > 256) {
        return make_error(errc::invalid_argument, "bucket_size must be in [1, 256]");
    }
    if (replacements_max == 0 || replacements_max > 256) {
        return make_error(errc::invalid_argument, "replacements_max must be in [1, 256]");
    }
    if (ping_timeout <= duration::zero()) {
        return make_error(errc::invalid_argument, "ping_timeout must be positive");
    }
    if (refresh_interval <= ping_timeout) {
        return make_error(errc::invalid_argument, "refresh_interval must exceed ping_timeout");
    }
    return {};
}

routing_table::routing_table(const routing_config& limits, node_id self, std::uint64_t seed,
                             instant now)
    : limits_(limits), self_(self), prng_(seed), absent_touched_(now) {
    REEF_ASSERT(limits_.validate().ok());
    REEF_ASSERT(!self_.is_zero());
}

int routing_table::bucket_index(const node_id& self, const node_id& id) {
    REEF_ASSERT(self != id);
    const int zeros = self.distance_to(id).leading_zero_bits();
    REEF_ASSERT(zeros >= 0 && zeros < buckets_count);
    return buckets_count - 1 - zeros;
}

routing_table::bucket* routing_table::find_bucket(int index) {
    auto found = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                                  [](const bucket& b, int wanted) { return b.index < wanted; });
    return found != buckets_.end() && found->index == index ? &*found : nullptr;
}

const routing_table::bucket* routing_table::find_bucket(int index) const {
    auto found = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                                  [](const bucket& b, int wanted) { return b.index < wanted; });
    return found != buckets_.end() && found->index == index ? &*found : nullptr;
}

routing_table::bucket& routing_table::bucket_for(int index, instant now) {
    REEF_ASSERT(index >= 0 && index < buckets_count);
    auto found = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                                  [](const bucket& b, int wanted) { return b.index < wanted; });
    if (found != buckets_.end() && found->index == index) {
        return *found;
    }
    bucket fresh;
    fresh.index = index;
    fresh.touched = max(absent_touched_, now);
    return *buckets_.insert(found, std::move(fresh));
}

void routing_table::release_if_empty(const bucket& target) {
    if (!target.contacts.empty()) {
        return;
    }
    REEF_ASSERT(target.replacements.empty());
    REEF_ASSERT(!target.ping);
    absent_touched_ = min(absent_touched_, target.touched);
    const auto offset = &target - buckets_.data();
    REEF_ASSERT(offset >= 0 && static_cast<std::size_t>(offset) < buckets_.size());
    buckets_.erase(buckets_.begin() + offset);
}

namespace {

/// Grow `list` geometrically but never past `bound`: a full bucket then wastes no capacity.
void make_room(std::vector<contact>& list, std::size_t bound) {
    if (list.size() == list.capacity()) {
        list.reserve(std::min(bound, std::max<std::size_t>(1, 2 * list.capacity())));
    }
}

} // namespace

void routing_table::touch(bucket& target, instant now) {
    target.touched = max(target.touched, now);
}

observe_outcome routing_table::observe(const contact& seen, instant now) {
    if (seen.id == self_ || !is_well_formed(seen)) {
        stats_.rejected++;
        return observe_outcome::rejected;
    }
    bucket& target = bucket_for(bucket_index(self_, seen.id), now);
    touch(target, now);

    auto known = std::find_if(target.contacts.begin(), target.contacts.end(),
                              [&](const contact& c) { return c.id == seen.id; });
    if (known != target.contacts.end()) {
        contact updated = std::move(*known);
        target.contacts.erase(known);
        updated.address = seen.address;
        if (seen.rtt) {
            updated.rtt = seen.rtt;
        }
        updated.last_seen = max(updated.last_seen, now);
        target.contacts.push_back(std::move(updated));
        if (target.ping && target.ping->id == seen.id) {
            // The oldest contact answered: it stays, the newcomers stay in the cache.
            target.ping.reset();
        }
        return observe_outcome::updated;
    }

    contact fresh = seen;
    fresh.last_seen = now;
    if (target.contacts.size() < limits_.bucket_size) {
        std::erase_if(target.replacements, [&](const contact& c) { return c.id == seen.id; });
        make_room(target.contacts, limits_.bucket_size);
        target.contacts.push_back(std::move(fresh));
        size_++;
        stats_.inserted++;
        return observe_outcome::inserted;
    }

    auto cached = std::find_if(target.replacements.begin(), target.replacements.end(),
                               [&](const contact& c) { return c.id == seen.id; });
    if (cached != target.replacements.end()) {
        if (!fresh.rtt) {
            fresh.rtt = cached->rtt;
        }
        target.replacements.erase(cached);
    } else if (target.replacements.size() >= limits_.replacements_max) {
        target.replacements.erase(target.replacements.begin());
        stats_.replacements_dropped++;
    }
    make_room(target.replacements, limits_.replacements_max);
    target.replacements.push_back(std::move(fresh));
    REEF_ASSERT(target.replacements.size() <= limits_.replacements_max);

    if (!target.ping) {
        const contact& oldest = target.contacts.front();
        target.ping = pending_ping{oldest.id, now + limits_.ping_timeout};
        effects_.emplace_back(ping_request{oldest});
        stats_.pings_requested++;
    }
    return observe_outcome::cached;
}

void routing_table::promote_replacement(bucket& target) {
    if (target.replacements.empty() || target.contacts.size() >= limits_.bucket_size) {
        return;
    }
    target.contacts.push_back(std::move(target.replacements.back()));
    target.replacements.pop_back();
    size_++;
    // Keep the bucket ordered by last_seen: the promoted contact may be older than the tail.
    std::stable_sort(target.contacts.begin(), target.contacts.end(),
                     [](const contact& a, const contact& b) { return a.last_seen < b.last_seen; });
}

void routing_table::evict(bucket& target, const node_id& id, instant now) {
    (void)now;
    auto found = std::find_if(target.contacts.begin(), target.contacts.end(),
                              [&](const contact& c) { return c.id == id; });
    if (found == target.contacts.end()) {
        return;
    }
    target.contacts.erase(found);
    size_--;
    stats_.evicted++;
    promote_replacement(target);
}

bool routing_table::remove(const node_id& id) {
    if (id == self_ || id.is_zero()) {
        return false;
    }
    bucket* holder = find_bucket(bucket_index(self_, id));
    if (holder == nullptr) {
        return false;
    }
    bucket& target = *holder;
    if (target.ping && target.ping->id == id) {
        target.ping.reset();
    }
    auto cached = std::find_if(target.replacements.begin(), target.replacements.end(),
                               [&](const contact& c) { return c.id == id; });
    if (cached != target.replacements.end()) {
        target.replacements.erase(cached);
        stats_.removed++;
        return true;
    }
    auto found = std::find_if(target.contacts.begin(), target.contacts.end(),
                              [&](const contact& c) { return c.id == id; });
    if (found == target.contacts.end()) {
        return false;
    }
    target.contacts.erase(found);
    size_--;
    stats_.removed++;
    promote_replacement(target);
    release_if_empty(target);
    return true;
}

void routing_table::on_ping_timeout(const node_id& id, instant now) {
    if (id == self_ || id.is_zero()) {
        return;
    }
    bucket* target = find_bucket(bucket_index(self_, id));
    if (target == nullptr || !target->ping || target->ping->id != id) {
        return;  // Answered, removed, or never pinged: nothing to do.
    }
    target->ping.reset();
    evict(*target, id, now);
    release_if_empty(*target);
}

node_id routing_table::random_id_in(int index) {
    REEF_ASSERT(index >= 0 && index < buckets_count);
    const int zeros = buckets_count - 1 - index;
    id256::bytes_type distance{};
    for (std::size_t word = 0; word < id256::size_bytes; word += 8) {
        std::uint64_t bits = prng_.next_u64();
        for (std::size_t b = 0; b < 8; ++b) {
            distance[word + b] = static_cast<std::uint8_t>(bits >> (8U * b));
        }
    }
    // Clear the first `zeros` bits and set the next one: the distance then selects bucket `index`.
    for (int bit = 0; bit <= zeros; ++bit) {
        const auto byte = static_cast<std::size_t>(bit / 8);
        const auto mask = static_cast<std::uint8_t>(0x80U >> static_cast<unsigned>(bit % 8));
        if (bit < zeros) {
            distance[byte] = static_cast<std::uint8_t>(distance[byte] & ~mask);
        } else {
            distance[byte] = static_cast<std::uint8_t>(distance[byte] | mask);
        }
    }
    const node_id target = self_.distance_to(id256{distance});
    REEF_ASSERT(bucket_index(self_, target) == index);
    return target;
}

int routing_table::lowest_occupied() const {
    // Every allocated bucket holds a contact.
    return buckets_.empty() ? buckets_count : buckets_.front().index;
}

void routing_table::on_tick(instant now) {
    const int refresh_from = lowest_occupied();
    for (std::size_t position = 0; position < buckets_.size();) {
        bucket& entry = buckets_[position];
        if (entry.ping && entry.ping->deadline <= now) {
            const node_id silent = entry.ping->id;
            entry.ping.reset();
            evict(entry, silent, now);
            if (entry.contacts.empty()) {
                release_if_empty(entry);
                continue;
            }
        }
        ++position;
    }
    // Refreshes in bucket order, allocated or not: the prng draws stay in the same order.
    const bool absent_due = absent_touched_ + limits_.refresh_interval <= now;
    std::size_t position = 0;
    for (int index = refresh_from; index < buckets_count; ++index) {
        while (position < buckets_.size() && buckets_[position].index < index) {
            ++position;
        }
        const bool allocated = position < buckets_.size() && buckets_[position].index == index;
        if (allocated) {
            bucket& entry = buckets_[position];
            if (entry.touched + limits_.refresh_interval > now) {
                continue;
            }
            entry.touched = now;
        } else if (!absent_due) {
            if (position == buckets_.size()) {
                break;  // nothing allocated beyond, and the absent buckets are not due
            }
            index = buckets_[position].index - 1;  // skip to the next allocated bucket
            continue;
        }
        effects_.emplace_back(refresh_request{index, random_id_in(index)});
        stats_.refreshes_requested++;
    }
    if (absent_due && refresh_from < buckets_count) {
        absent_touched_ = now;
    }
}

std::vector<table_effect> routing_table::take_effects() {
    std::vector<table_effect> out;
    out.swap(effects_);
    return out;
}

instant routing_table::next_deadline() const {
    // Buckets closer to self than the closest non-empty one cover id ranges too small to hold
    // anyone in a network of this size; refreshing them would only repeat the closest lookup.
    // Every allocated bucket is at or beyond it.
    const int refresh_from = lowest_occupied();
    instant deadline = instant::never();
    for (const bucket& entry : buckets_) {
        if (entry.ping) {
            deadline = min(deadline, entry.ping->deadline);
        }
        deadline = min(deadline, entry.touched + limits_.refresh_interval);
    }
    const auto eligible = static_cast<std::size_t>(buckets_count - refresh_from);
    if (eligible > buckets_.size()) {
        deadline = min(deadline, absent_touched_ + limits_.refresh_interval);
    }
    return deadline;
}

std::vector<contact> routing_table::closest(const node_id& target, std::size_t count) const {
    std::vector<const contact*> all;
    all.reserve(size_);
    for (const bucket& entry : buckets_) {
        for (const contact& c : entry.contacts) {
            all.push_back(&c);
        }
    }
    const std::size_t taken = std::min(count, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(taken), all.end(),
                      [&](const contact* a, const contact* b) {
                          return a->id.distance_to(target) < b->id.distance_to(target);
                      });
    std::vector<contact> out;
    out.reserve(taken);
    for (std::size_t index = 0; index < taken; ++index) {
        out.push_back(*all[index]);
    }
    return out;
}

std::optional<contact> routing_table::find(const node_id& id) const {
    if (id == self_ || id.is_zero()) {
        return std::nullopt;
    }
    const bucket* entry = find_bucket(bucket_index(self_, id));
    if (entry == nullptr) {
        return std::nullopt;
    }
    for (const contact& c : entry->contacts) {
        if (c.id == id) {
            return c;
        }
    }
    return std::nullopt;
}

std::size_t routing_table::bucket_size(int index) const {
    REEF_ASSERT(index >= 0 && index < buckets_count);
    const bucket* entry = find_bucket(index);
    return entry == nullptr ? 0 : entry->contacts.size();
}

std::size_t routing_table::replacements_size(int index) const {
    REEF_ASSERT(index >= 0 && index < buckets_count);
    const bucket* entry = find_bucket(index);
    return entry == nullptr ? 0 : entry->replacements.size();
}

void routing_table::check_invariants() const {
    std::size_t counted = 0;
    std::vector<node_id> seen;
    int previous = -1;
    for (const bucket& entry : buckets_) {
        const int index = entry.index;
        REEF_ASSERT(index > previous && index < buckets_count);
        previous = index;
        REEF_ASSERT(!entry.contacts.empty());
        REEF_ASSERT(entry.contacts.size() <= limits_.bucket_size);
        REEF_ASSERT(entry.replacements.size() <= limits_.replacements_max);
        for (std::size_t i = 0; i < entry.contacts.size(); ++i) {
            const contact& c = entry.contacts[i];
            REEF_ASSERT(c.id != self_);
            REEF_ASSERT(!c.id.is_zero());
            REEF_ASSERT(bucket_index(self_, c.id) == index);
            if (i > 0) {
                REEF_ASSERT(entry.contacts[i - 1].last_seen <= c.last_seen);
            }
            seen.push_back(c.id);
        }
        for (const contact& c : entry.replacements) {
            REEF_ASSERT(c.id != self_);
            REEF_ASSERT(bucket_index(self_, c.id) == index);
            seen.push_back(c.id);
        }
        if (entry.ping) {
            REEF_ASSERT(entry.ping->deadline != instant::never());
            REEF_ASSERT(std::any_of(entry.contacts.begin(), entry.contacts.end(),
                                    [&](const contact& c) { return c.id == entry.ping->id; }));
        }
        counted += entry.contacts.size();
    }
    REEF_ASSERT(counted == size_);
    std::sort(seen.begin(), seen.end());
    REEF_ASSERT(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
}

} // namespace reef::dht
