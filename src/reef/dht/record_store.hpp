#pragma once
// The records one node stores for the DHT: a bounded, sans-IO table keyed by record key.
//
// Thread-safety: none (one owner, like every core).
// Time: wall-clock unix seconds passed in by the caller (record expiries cross machines, so they
// cannot be monotonic instants). The store never reads a clock.
//
// Rules (docs/formats/dht.md, "Storing"):
//  - only records that verify() at `now` are stored, with expiry at most lifetime_max_seconds
//    ahead;
//  - for one key the highest sequence wins; an equal sequence is accepted only if the record is
//    byte-for-byte the one stored (a publisher that signs two different values under one
//    sequence is not allowed to overwrite either); a lower sequence is stale (a replay);
//  - at most records_max records in all and records_per_publisher_max per publisher key; a new
//    key beyond either bound is refused (resource_exhausted), never silently dropped, and never
//    evicts another publisher's record;
//  - on_tick(now) drops expired records and emits a republish_due effect for each record this
//    node published (publish()) whose republish deadline has come. The driver answers it by
//    signing a successor (higher sequence, later expiry), calling publish() with it and storing it
//    on the k closest nodes.
//
// Invariants (check_invariants): table sizes within bounds; per-publisher counts equal the
// records; every record has exactly one expiry entry; republish entries only for own records.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/dht/record.hpp"

namespace reef::dht {

struct store_config {
    /// Records held in all.
    std::size_t records_max = 65'536;
    /// Records held per publisher key.
    std::size_t records_per_publisher_max = 64;
    /// Latest accepted expiry, relative to now: a record cannot pin storage for longer.
    std::uint64_t lifetime_max_seconds = 7 * 24 * 3600;
    /// Own records are republished this long before they expire ...
    std::uint64_t republish_before_expiry_seconds = 3600;
    /// ... and at least this often, so nodes that became closest to the key learn them.
    std::uint64_t republish_interval_seconds = 3600;
    /// A republish_due not answered by publish() is emitted again after this long.
    std::uint64_t republish_retry_seconds = 60;

    [[nodiscard]] status validate() const;
};

enum class put_outcome : std::uint8_t {
    stored,    // a new key
    replaced,  // a higher sequence replaced the stored record
    unchanged, // the very record was already stored
};

/// Effect: the record at `key`, published by this node, should be signed again (higher sequence,
/// later expiry) and published. `sequence` and `expiry_unix_seconds` are the stored record's.
struct republish_due {
    id256 key;
    std::string name;
    std::uint64_t sequence = 0;
    std::uint64_t expiry_unix_seconds = 0;
    bool operator==(const republish_due&) const = default;
};

class record_store {
public:
    /// `limits` must validate() (asserted).
    explicit record_store(const store_config& limits);

    /// Stores a record from another node. Errors: invalid_argument (malformed record, expiry too
    /// far ahead), permission_denied (bad signature), failed_precondition (expired, or a stale
    /// sequence), already_exists (same sequence, different content), resource_exhausted (bounds).
    [[nodiscard]] result<put_outcome> put(const record& rec, std::uint64_t now_unix_seconds);

    /// Stores a record this node signed, and schedules its republishing. Errors as put().
    [[nodiscard]] result<put_outcome> publish(const record& rec, std::uint64_t now_unix_seconds);

    /// The unexpired record at `key`, or nullptr. Valid until the next non-const call.
    const record* get(const id256& key, std::uint64_t now_unix_seconds) const;

    /// Drops expired records and emits due republishes.
    void on_tick(std::uint64_t now_unix_seconds);
    [[nodiscard]] std::vector<republish_due> take_effects();
    /// When on_tick next has work: the earliest expiry or republish deadline (unix seconds), or
    /// the largest value when the store is empty.
    std::uint64_t next_deadline() const;

    std::size_t size() const { return records_.size(); }
    /// Calls `visit(const record&)` for every unexpired record, in key order.
    template <typename Visit>
    void for_each(std::uint64_t now_unix_seconds, Visit&& visit) const {
        for (const auto& [key, slot] : records_) {
            if (slot.rec.expiry_unix_seconds > now_unix_seconds) {
                visit(slot.rec);
            }
        }
    }
    std::size_t count_of(const crypto::public_key& publisher) const;
    const store_config& limits() const { return limits_; }

    void check_invariants() const;

private:
    struct entry {
        record rec;
        bool own = false;
        std::uint64_t republish_at = std::numeric_limits<std::uint64_t>::max();
    };
    using deadline = std::pair<std::uint64_t, id256>;

    result<put_outcome> insert(const record& rec, std::uint64_t now_unix_seconds, bool own);
    status check_replacement(const record& stored, const record& incoming) const;
    status check_room(const record& rec) const;
    void schedule_republish(entry& slot, std::uint64_t now_unix_seconds);
    void erase(std::map<id256, entry>::iterator position);

    store_config limits_;
    std::map<id256, entry> records_;
    std::map<crypto::public_key, std::size_t> per_publisher_;
    std::set<deadline> expiries_;
    std::set<deadline> republishes_;
    std::vector<republish_due> effects_;
};

} // namespace reef::dht
