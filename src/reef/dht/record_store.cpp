#include "reef/dht/record_store.hpp"

#include <algorithm>

namespace reef::dht {

namespace {

constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();

std::string describe_sequence(std::uint64_t incoming, std::uint64_t stored) {
    return "sequence " + std::to_string(incoming) + ", stored " + std::to_string(stored);
}

} // namespace

status store_config::validate() const {
    if (records_max == 0 || records_per_publisher_max == 0) {
        return make_error(errc::invalid_argument, "record store bounds must be positive");
    }
    if (records_per_publisher_max > records_max) {
        return make_error(errc::invalid_argument,
                          "records_per_publisher_max is larger than records_max");
    }
    if (lifetime_max_seconds == 0 || republish_interval_seconds == 0 ||
        republish_retry_seconds == 0) {
        return make_error(errc::invalid_argument, "record store durations must be positive");
    }
    if (republish_before_expiry_seconds >= lifetime_max_seconds) {
        return make_error(errc::invalid_argument,
                          "republish_before_expiry_seconds must be below lifetime_max_seconds");
    }
    return {};
}

record_store::record_store(const store_config& limits) : limits_(limits) {
    REEF_ASSERT(limits.validate().ok());
}

result<put_outcome> record_store::put(const record& rec, std::uint64_t now_unix_seconds) {
    return insert(rec, now_unix_seconds, false);
}

result<put_outcome> record_store::publish(const record& rec, std::uint64_t now_unix_seconds) {
    return insert(rec, now_unix_seconds, true);
}

status record_store::check_replacement(const record& stored, const record& incoming) const {
    REEF_ASSERT(stored.key == incoming.key);
    if (incoming.sequence < stored.sequence) {
        return make_error(errc::failed_precondition,
                          "stale record: " + describe_sequence(incoming.sequence, stored.sequence));
    }
    if (incoming.sequence == stored.sequence && !(incoming == stored)) {
        return make_error(errc::already_exists,
                          "record conflicts: " +
                              describe_sequence(incoming.sequence, stored.sequence) +
                              " with different content");
    }
    return {};
}

status record_store::check_room(const record& rec) const {
    if (records_.size() >= limits_.records_max) {
        return make_error(errc::resource_exhausted,
                          "record store is full (" + std::to_string(limits_.records_max) +
                              " records)");
    }
    if (count_of(rec.publisher) >= limits_.records_per_publisher_max) {
        return make_error(errc::resource_exhausted,
                          "publisher already has " +
                              std::to_string(limits_.records_per_publisher_max) +
                              " records stored");
    }
    return {};
}

result<put_outcome> record_store::insert(const record& rec, std::uint64_t now_unix_seconds,
                                         bool own) {
    auto found = records_.find(rec.key);
    // The k closest nodes are sent the same record again and again (every republish); a copy of
    // a stored, unexpired record was verified when it was stored, so skip the signature check.
    const bool copy = found != records_.end() && found->second.rec == rec &&
                      rec.expiry_unix_seconds > now_unix_seconds;
    if (!copy) {
        if (auto ok = verify(rec, now_unix_seconds); !ok) {
            return ok.failure();
        }
    }
    REEF_ASSERT(rec.expiry_unix_seconds > now_unix_seconds);
    if (rec.expiry_unix_seconds - now_unix_seconds > limits_.lifetime_max_seconds) {
        return make_error(errc::invalid_argument,
                          "record expiry is more than " +
                              std::to_string(limits_.lifetime_max_seconds) + " s ahead");
    }
    if (found != records_.end() && found->second.rec.expiry_unix_seconds <= now_unix_seconds) {
        // Expired but not purged yet (no tick since): as good as absent.
        erase(found);
        found = records_.end();
    }
    put_outcome outcome = put_outcome::stored;
    if (found != records_.end()) {
        if (auto ok = check_replacement(found->second.rec, rec); !ok) {
            return ok.failure();
        }
        outcome = found->second.rec.sequence == rec.sequence ? put_outcome::unchanged
                                                             : put_outcome::replaced;
        if (outcome == put_outcome::replaced) {
            REEF_ASSERT(found->second.rec.publisher == rec.publisher);
            expiries_.erase({found->second.rec.expiry_unix_seconds, rec.key});
            found->second.rec = rec;
            expiries_.insert({rec.expiry_unix_seconds, rec.key});
        }
    } else {
        if (auto ok = check_room(rec); !ok) {
            return ok.failure();
        }
        found = records_.emplace(rec.key, entry{rec, false, never}).first;
        ++per_publisher_[rec.publisher];
        expiries_.insert({rec.expiry_unix_seconds, rec.key});
    }
    // A record of ours stays ours when a successor arrives from elsewhere (another device with
    // the same key): its schedule follows the newest record either way.
    entry& slot = found->second;
    slot.own = slot.own || own;
    if (slot.own && (outcome != put_outcome::unchanged || slot.republish_at == never)) {
        schedule_republish(slot, now_unix_seconds);
    }
    REEF_ASSERT(records_.size() <= limits_.records_max);
    REEF_ASSERT(expiries_.size() == records_.size());
    return outcome;
}

void record_store::schedule_republish(entry& slot, std::uint64_t now_unix_seconds) {
    REEF_ASSERT(slot.own);
    const record& rec = slot.rec;
    REEF_ASSERT(rec.expiry_unix_seconds > now_unix_seconds);
    if (slot.republish_at != never) {
        republishes_.erase({slot.republish_at, rec.key});
    }
    const std::uint64_t before_expiry =
        rec.expiry_unix_seconds -
        std::min(limits_.republish_before_expiry_seconds, rec.expiry_unix_seconds);
    const std::uint64_t periodic = now_unix_seconds + limits_.republish_interval_seconds;
    slot.republish_at = std::max(now_unix_seconds, std::min(before_expiry, periodic));
    republishes_.insert({slot.republish_at, rec.key});
}

const record* record_store::get(const id256& key, std::uint64_t now_unix_seconds) const {
    const auto found = records_.find(key);
    if (found == records_.end() || found->second.rec.expiry_unix_seconds <= now_unix_seconds) {
        return nullptr;
    }
    return &found->second.rec;
}

void record_store::erase(std::map<id256, entry>::iterator position) {
    REEF_ASSERT(position != records_.end());
    const record& rec = position->second.rec;
    expiries_.erase({rec.expiry_unix_seconds, rec.key});
    if (position->second.republish_at != never) {
        republishes_.erase({position->second.republish_at, rec.key});
    }
    auto count = per_publisher_.find(rec.publisher);
    REEF_ASSERT(count != per_publisher_.end());
    REEF_ASSERT(count->second > 0);
    if (--count->second == 0) {
        per_publisher_.erase(count);
    }
    records_.erase(position);
}

void record_store::on_tick(std::uint64_t now_unix_seconds) {
    while (!expiries_.empty() && expiries_.begin()->first <= now_unix_seconds) {
        erase(records_.find(expiries_.begin()->second));
    }
    while (!republishes_.empty() && republishes_.begin()->first <= now_unix_seconds) {
        const id256 key = republishes_.begin()->second;
        entry& slot = records_.at(key);
        republishes_.erase(republishes_.begin());
        effects_.push_back(republish_due{key, slot.rec.name, slot.rec.sequence,
                                         slot.rec.expiry_unix_seconds});
        // Until the driver publishes a successor, ask again now and then (never past expiry:
        // the record is purged then, and its schedule with it).
        slot.republish_at = now_unix_seconds + limits_.republish_retry_seconds;
        republishes_.insert({slot.republish_at, key});
    }
    REEF_ASSERT(republishes_.empty() || republishes_.begin()->first > now_unix_seconds);
}

std::vector<republish_due> record_store::take_effects() { return std::exchange(effects_, {}); }

std::uint64_t record_store::next_deadline() const {
    std::uint64_t next = never;
    if (!expiries_.empty()) {
        next = std::min(next, expiries_.begin()->first);
    }
    if (!republishes_.empty()) {
        next = std::min(next, republishes_.begin()->first);
    }
    return next;
}

std::size_t record_store::count_of(const crypto::public_key& publisher) const {
    const auto found = per_publisher_.find(publisher);
    return found == per_publisher_.end() ? 0 : found->second;
}

void record_store::check_invariants() const {
    REEF_ASSERT(records_.size() <= limits_.records_max);
    REEF_ASSERT(expiries_.size() == records_.size());
    REEF_ASSERT(republishes_.size() <= records_.size());
    std::size_t counted = 0;
    for (const auto& [publisher, count] : per_publisher_) {
        REEF_ASSERT(count > 0);
        REEF_ASSERT(count <= limits_.records_per_publisher_max);
        counted += count;
    }
    REEF_ASSERT(counted == records_.size());
    std::size_t own_scheduled = 0;
    for (const auto& [key, slot] : records_) {
        REEF_ASSERT(slot.rec.key == key);
        REEF_ASSERT(expiries_.contains({slot.rec.expiry_unix_seconds, key}));
        if (slot.republish_at != never) {
            REEF_ASSERT(slot.own);
            REEF_ASSERT(republishes_.contains({slot.republish_at, key}));
            ++own_scheduled;
        }
        REEF_ASSERT_SLOW(check_shape(slot.rec).ok());
    }
    REEF_ASSERT(own_scheduled == republishes_.size());
}

} // namespace reef::dht
