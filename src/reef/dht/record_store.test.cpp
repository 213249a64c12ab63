#include <gtest/gtest.h>

#include "reef/dht/record_store.hpp"

namespace reef::dht {
namespace {

crypto::identity identity_of(std::uint8_t n) {
    crypto::seed32 seed{};
    seed[0] = n;
    seed[31] = 0xa5;
    return crypto::identity::from_seed(seed);
}

constexpr std::uint64_t now = 1'700'000'000;
constexpr std::uint64_t hour = 3600;

record make(std::uint8_t publisher, const std::string& name, std::uint64_t sequence,
            std::string value = "v", std::uint64_t expiry = now + 2 * hour) {
    return sign_record(identity_of(publisher), name, sequence, expiry, std::move(value));
}

errc code_of(const result<put_outcome>& put) {
    EXPECT_FALSE(put.ok());
    return put.ok() ? errc::internal : put.failure().code;
}

TEST(record_store, stores_and_gets) {
    record_store store{store_config{}};
    const record rec = make(1, "a", 1);
    auto put = store.put(rec, now);
    ASSERT_TRUE(put.ok()) << put.failure().describe();
    EXPECT_EQ(*put, put_outcome::stored);
    ASSERT_NE(store.get(rec.key, now), nullptr);
    EXPECT_EQ(*store.get(rec.key, now), rec);
    EXPECT_EQ(store.get(make(1, "b", 1).key, now), nullptr);
    EXPECT_EQ(store.size(), 1U);
    EXPECT_EQ(store.count_of(rec.publisher), 1U);
    store.check_invariants();
}

TEST(record_store, newest_sequence_wins_and_replays_are_stale) {
    record_store store{store_config{}};
    const record first = make(1, "a", 1, "one");
    const record second = make(1, "a", 2, "two");
    ASSERT_TRUE(store.put(first, now).ok());
    auto replaced = store.put(second, now);
    ASSERT_TRUE(replaced.ok());
    EXPECT_EQ(*replaced, put_outcome::replaced);
    EXPECT_EQ(store.get(first.key, now)->value, "two");

    // Replaying the older record (validly signed) is refused with a clear reason.
    auto replay = store.put(first, now);
    EXPECT_EQ(code_of(replay), errc::failed_precondition);
    EXPECT_EQ(replay.failure().message, "stale record: sequence 1, stored 2");
    EXPECT_EQ(store.get(first.key, now)->value, "two");

    // The same record again is harmless.
    auto again = store.put(second, now);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, put_outcome::unchanged);

    // Same sequence, different content: refused.
    auto conflict = store.put(make(1, "a", 2, "other"), now);
    EXPECT_EQ(code_of(conflict), errc::already_exists);
    EXPECT_EQ(store.get(first.key, now)->value, "two");
    EXPECT_EQ(store.size(), 1U);
    store.check_invariants();
}

TEST(record_store, rejects_invalid_records) {
    record_store store{store_config{}};
    record forged = make(1, "a", 1);
    forged.value = "w";
    EXPECT_EQ(code_of(store.put(forged, now)), errc::permission_denied);

    record wrong_publisher = make(2, "a", 5);
    const record honest = make(1, "a", 1);
    wrong_publisher.publisher = honest.publisher;
    wrong_publisher.key = honest.key;
    EXPECT_EQ(code_of(store.put(wrong_publisher, now)), errc::permission_denied);

    EXPECT_EQ(code_of(store.put(make(1, "a", 1, "v", now), now)), errc::failed_precondition);
    auto far = store.put(make(1, "a", 1, "v", now + store_config{}.lifetime_max_seconds + 1), now);
    EXPECT_EQ(code_of(far), errc::invalid_argument);
    EXPECT_EQ(store.size(), 0U);

    // A forged higher sequence cannot displace a stored record.
    ASSERT_TRUE(store.put(honest, now).ok());
    record forged_newer = honest;
    forged_newer.sequence = 99;
    EXPECT_EQ(code_of(store.put(forged_newer, now)), errc::permission_denied);
    EXPECT_EQ(store.get(honest.key, now)->sequence, 1U);
    store.check_invariants();
}

TEST(record_store, expiry_purges_on_tick) {
    record_store store{store_config{}};
    const record short_lived = make(1, "a", 1, "v", now + 10);
    const record long_lived = make(1, "b", 1, "v", now + hour);
    ASSERT_TRUE(store.put(short_lived, now).ok());
    ASSERT_TRUE(store.put(long_lived, now).ok());
    EXPECT_EQ(store.next_deadline(), now + 10);
    EXPECT_EQ(store.get(short_lived.key, now + 10), nullptr); // expired, not yet purged
    store.on_tick(now + 9);
    EXPECT_EQ(store.size(), 2U);
    store.on_tick(now + 10);
    EXPECT_EQ(store.size(), 1U);
    EXPECT_EQ(store.count_of(short_lived.publisher), 1U);
    EXPECT_EQ(store.next_deadline(), now + hour);
    EXPECT_TRUE(store.take_effects().empty()); // not ours: never republished
    store.on_tick(now + hour);
    EXPECT_EQ(store.size(), 0U);
    EXPECT_EQ(store.count_of(short_lived.publisher), 0U);
    EXPECT_EQ(store.next_deadline(), std::numeric_limits<std::uint64_t>::max());
    store.check_invariants();
}

TEST(record_store, per_publisher_bound) {
    store_config limits;
    limits.records_per_publisher_max = 3;
    record_store store{limits};
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(store.put(make(1, "n" + std::to_string(i), 1), now).ok());
    }
    auto refused = store.put(make(1, "n3", 1), now);
    EXPECT_EQ(code_of(refused), errc::resource_exhausted);
    EXPECT_NE(refused.failure().message.find("publisher"), std::string::npos);
    // Updating an existing key is still allowed, and other publishers are unaffected.
    EXPECT_TRUE(store.put(make(1, "n0", 2), now).ok());
    EXPECT_TRUE(store.put(make(2, "n0", 1), now).ok());
    EXPECT_EQ(store.count_of(identity_of(1).public_key_bytes()), 3U);
    store.check_invariants();
    // Room frees up when a record expires.
    store.on_tick(now + 2 * hour);
    EXPECT_TRUE(store.put(make(1, "n3", 1, "v", now + 3 * hour), now + 2 * hour).ok());
    store.check_invariants();
}

TEST(record_store, total_bound) {
    store_config limits;
    limits.records_max = 4;
    limits.records_per_publisher_max = 2;
    record_store store{limits};
    ASSERT_TRUE(store.put(make(1, "a", 1), now).ok());
    ASSERT_TRUE(store.put(make(1, "b", 1), now).ok());
    ASSERT_TRUE(store.put(make(2, "a", 1), now).ok());
    ASSERT_TRUE(store.put(make(3, "a", 1), now).ok());
    auto refused = store.put(make(4, "a", 1), now);
    EXPECT_EQ(code_of(refused), errc::resource_exhausted);
    EXPECT_NE(refused.failure().message.find("full"), std::string::npos);
    EXPECT_TRUE(store.put(make(3, "a", 2), now).ok()); // a replacement needs no room
    EXPECT_EQ(store.size(), 4U);
    store.check_invariants();
}

TEST(record_store, republish_deadlines_for_own_records) {
    store_config limits;
    limits.republish_before_expiry_seconds = 600;
    limits.republish_interval_seconds = hour;
    limits.republish_retry_seconds = 60;
    record_store store{limits};
    const auto me = identity_of(9);
    const record mine = sign_record(me, "mine", 1, now + 3 * hour, "x");
    const record soon = sign_record(me, "soon", 1, now + 1200, "y");
    ASSERT_TRUE(store.publish(mine, now).ok());
    ASSERT_TRUE(store.publish(soon, now).ok());
    ASSERT_TRUE(store.put(make(1, "theirs", 1, "z", now + 3 * hour), now).ok());

    // "soon" is due 600 s before its expiry; "mine" after the periodic interval.
    EXPECT_EQ(store.next_deadline(), now + 600);
    store.on_tick(now + 599);
    EXPECT_TRUE(store.take_effects().empty());
    store.on_tick(now + 600);
    auto due = store.take_effects();
    ASSERT_EQ(due.size(), 1U);
    EXPECT_EQ(due[0], (republish_due{soon.key, "soon", 1, now + 1200}));
    // Not answered: asked again after the retry interval.
    EXPECT_EQ(store.next_deadline(), now + 660);
    store.on_tick(now + 660);
    ASSERT_EQ(store.take_effects().size(), 1U);
    // Answered by a successor: the schedule follows the new record.
    const record successor = sign_record(me, "soon", 2, now + 660 + 3 * hour, "y");
    auto put = store.publish(successor, now + 660);
    ASSERT_TRUE(put.ok()) << put.failure().describe();
    EXPECT_EQ(*put, put_outcome::replaced);
    EXPECT_EQ(store.next_deadline(), now + hour);
    store.on_tick(now + hour);
    due = store.take_effects();
    ASSERT_EQ(due.size(), 1U); // "mine" only; "soon" is next due at now + 660 + hour
    EXPECT_EQ(due[0].key, mine.key);
    store.check_invariants();

    // An own record nobody renews is purged at expiry, schedule and all.
    for (std::uint64_t t = now + hour; t <= now + 3 * hour; t += 60) {
        store.on_tick(t);
        store.check_invariants();
    }
    EXPECT_EQ(store.get(mine.key, now + 3 * hour), nullptr);
    EXPECT_NE(store.get(successor.key, now + 3 * hour), nullptr);
    EXPECT_EQ(store.count_of(me.public_key_bytes()), 1U);
}

TEST(record_store, expired_records_do_not_block_new_ones_before_the_tick) {
    record_store store{store_config{}};
    ASSERT_TRUE(store.put(make(1, "a", 5, "old", now + 10), now).ok());
    // No tick yet: the expired record is gone for get() and for the sequence rule.
    auto put = store.put(make(1, "a", 1, "new", now + hour), now + 10);
    ASSERT_TRUE(put.ok()) << put.failure().describe();
    EXPECT_EQ(*put, put_outcome::stored);
    EXPECT_EQ(store.get(make(1, "a", 1).key, now + 10)->value, "new");
    EXPECT_EQ(store.size(), 1U);
    store.check_invariants();
}

TEST(record_store, own_record_replaced_from_elsewhere_keeps_its_schedule) {
    store_config limits;
    limits.republish_before_expiry_seconds = 600;
    limits.republish_interval_seconds = hour;
    record_store store{limits};
    const auto me = identity_of(9);
    const record mine = sign_record(me, "mine", 1, now + 3 * hour, "x");
    ASSERT_TRUE(store.publish(mine, now).ok());
    EXPECT_EQ(store.next_deadline(), now + hour);
    // The same key, signed by the same key elsewhere, arrives with a shorter life.
    const record elsewhere = sign_record(me, "mine", 2, now + 1800, "y");
    ASSERT_TRUE(store.put(elsewhere, now + 60).ok());
    EXPECT_EQ(store.next_deadline(), now + 1200);
    store.on_tick(now + 1200);
    const auto due = store.take_effects();
    ASSERT_EQ(due.size(), 1U);
    EXPECT_EQ(due[0], (republish_due{mine.key, "mine", 2, now + 1800}));
    // Repeated copies of a stored record change nothing.
    auto again = store.put(elsewhere, now + 1200);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, put_outcome::unchanged);
    EXPECT_EQ(store.next_deadline(), now + 1260);
    store.check_invariants();
}

TEST(record_store, config_validation) {
    EXPECT_TRUE(store_config{}.validate().ok());
    store_config bad;
    bad.records_max = 0;
    EXPECT_FALSE(bad.validate().ok());
    bad = store_config{};
    bad.records_per_publisher_max = bad.records_max + 1;
    EXPECT_FALSE(bad.validate().ok());
    bad = store_config{};
    bad.republish_before_expiry_seconds = bad.lifetime_max_seconds;
    EXPECT_FALSE(bad.validate().ok());
}

} // namespace
} // namespace reef::dht
