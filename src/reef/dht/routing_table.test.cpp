// Unit tests of the Kademlia routing table: placement, the full-bucket ping protocol, bounds,
// removal, closest() against brute force, refresh deadlines, and memory proportional to content.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>
#include <string>

#include "reef/base/prng.hpp"
#include "reef/dht/routing_table.hpp"

// Live heap bytes of this process, counted by the global allocation functions below so that a
// test can measure what a table allocates, deterministically.
namespace {
constexpr std::size_t heap_header = alignof(std::max_align_t);
std::size_t heap_live_bytes = 0;
} // namespace

void* operator new(std::size_t size) {
    void* raw = std::malloc(size + heap_header);
    if (raw == nullptr) {
        throw std::bad_alloc();
    }
    std::memcpy(raw, &size, sizeof size);
    heap_live_bytes += size;
    return static_cast<unsigned char*>(raw) + heap_header;
}
void* operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms too (std::stable_sort's buffer uses them): a sanitizer runtime would otherwise
// supply its own, whose memory the replaced operator delete below must not see.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return operator new(size);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
    return operator new(size, tag);
}
void operator delete(void* memory) noexcept {
    if (memory == nullptr) {
        return;
    }
    unsigned char* raw = static_cast<unsigned char*>(memory) - heap_header;
    std::size_t size = 0;
    std::memcpy(&size, raw, sizeof size);
    heap_live_bytes -= size;
    std::free(raw);
}
void operator delete[](void* memory) noexcept { operator delete(memory); }
void operator delete(void* memory, std::size_t) noexcept { operator delete(memory); }
void operator delete[](void* memory, std::size_t) noexcept { operator delete(memory); }
void operator delete(void* memory, const std::nothrow_t&) noexcept { operator delete(memory); }
void operator delete[](void* memory, const std::nothrow_t&) noexcept { operator delete(memory); }

namespace reef::dht {
namespace {

constexpr duration sec(std::int64_t n) { return duration::seconds(n); }
const instant start = instant::from_ns(1'000'000'000);

node_id random_id(prng& random) {
    id256::bytes_type bytes{};
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(random.next_u64());
    }
    return id256{bytes};
}

/// An id whose distance from `self` selects bucket `index`, with `salt` in its low bytes.
node_id id_in_bucket(const node_id& self, int index, std::uint64_t salt) {
    id256::bytes_type distance{};
    const int zeros = 255 - index;
    distance[static_cast<std::size_t>(zeros / 8)] =
        static_cast<std::uint8_t>(0x80U >> static_cast<unsigned>(zeros % 8));
    if (index < 64) {
        salt &= (std::uint64_t{1} << static_cast<unsigned>(index)) - 1;  // stay below the top bit
    }
    for (std::size_t b = 0; b < 8; ++b) {
        distance[31 - b] = static_cast<std::uint8_t>(distance[31 - b] | (salt >> (8U * b)));
    }
    return self.distance_to(id256{distance});
}

contact make_contact(const node_id& id) {
    return contact{id, "10.0.0.1:7400", std::nullopt, instant{}};
}

node_id self_id() {
    prng random(7);
    return random_id(random);
}

TEST(routing_table, config_validates) {
    EXPECT_TRUE(routing_config{}.validate().ok());
    routing_config bad;
    bad.bucket_size = 0;
    EXPECT_FALSE(bad.validate().ok());
    bad = {};
    bad.replacements_max = 0;
    EXPECT_FALSE(bad.validate().ok());
    bad = {};
    bad.refresh_interval = bad.ping_timeout;
    EXPECT_FALSE(bad.validate().ok());
}

TEST(routing_table, bucket_index_from_leading_zero_bits) {
    const node_id self = self_id();
    for (int index : {0, 1, 7, 8, 100, 254, 255}) {
        EXPECT_EQ(routing_table::bucket_index(self, id_in_bucket(self, index, 3)), index);
    }
}

TEST(routing_table, places_contacts_in_their_buckets_and_never_self) {
    const node_id self = self_id();
    routing_table table({}, self, 1, start);
    EXPECT_EQ(table.observe(make_contact(self), start), observe_outcome::rejected);
    EXPECT_EQ(table.observe(make_contact(node_id{}), start), observe_outcome::rejected);
    contact no_address = make_contact(id_in_bucket(self, 5, 1));
    no_address.address.clear();
    EXPECT_EQ(table.observe(no_address, start), observe_outcome::rejected);
    contact long_address = make_contact(id_in_bucket(self, 5, 1));
    long_address.address.assign(contact_address_size_max + 1, 'a');
    EXPECT_EQ(table.observe(long_address, start), observe_outcome::rejected);

    EXPECT_EQ(table.observe(make_contact(id_in_bucket(self, 200, 1)), start),
              observe_outcome::inserted);
    EXPECT_EQ(table.observe(make_contact(id_in_bucket(self, 3, 1)), start),
              observe_outcome::inserted);
    EXPECT_EQ(table.observe(make_contact(id_in_bucket(self, 3, 1)), start + sec(1)),
              observe_outcome::updated);
    EXPECT_EQ(table.size(), 2U);
    EXPECT_EQ(table.bucket_size(200), 1U);
    EXPECT_EQ(table.bucket_size(3), 1U);
    EXPECT_FALSE(table.find(self).has_value());
    EXPECT_EQ(table.find(id_in_bucket(self, 3, 1))->last_seen, start + sec(1));
    EXPECT_EQ(table.stats().rejected, 4U);
    table.check_invariants();
}

struct full_bucket : ::testing::Test {
    node_id self = self_id();
    routing_config limits;
    std::unique_ptr<routing_table> table;
    instant now = start;

    void SetUp() override {
        limits.bucket_size = 4;
        limits.replacements_max = 3;
        table = std::make_unique<routing_table>(limits, self, 9, start);
        for (std::uint64_t n = 0; n < 4; ++n) {
            now = now + sec(1);
            EXPECT_EQ(table->observe(make_contact(id_in_bucket(self, 250, n)), now),
                      observe_outcome::inserted);
        }
        EXPECT_TRUE(table->take_effects().empty());
    }
};

TEST_F(full_bucket, newcomer_is_cached_and_oldest_pinged) {
    now = now + sec(1);
    EXPECT_EQ(table->observe(make_contact(id_in_bucket(self, 250, 10)), now),
              observe_outcome::cached);
    auto effects = table->take_effects();
    ASSERT_EQ(effects.size(), 1U);
    const auto* ping = std::get_if<ping_request>(&effects[0]);
    ASSERT_NE(ping, nullptr);
    EXPECT_EQ(ping->target.id, id_in_bucket(self, 250, 0));
    // A second newcomer while the ping is pending does not ping again.
    EXPECT_EQ(table->observe(make_contact(id_in_bucket(self, 250, 11)), now),
              observe_outcome::cached);
    EXPECT_TRUE(table->take_effects().empty());
    EXPECT_EQ(table->replacements_size(250), 2U);
    EXPECT_EQ(table->next_deadline(), now + limits.ping_timeout);
    table->check_invariants();
}

TEST_F(full_bucket, ping_timeout_evicts_oldest_for_newest_replacement) {
    now = now + sec(1);
    (void)table->observe(make_contact(id_in_bucket(self, 250, 10)), now);
    (void)table->observe(make_contact(id_in_bucket(self, 250, 11)), now);
    (void)table->take_effects();
    table->on_tick(now + limits.ping_timeout);
    EXPECT_FALSE(table->find(id_in_bucket(self, 250, 0)).has_value());
    EXPECT_TRUE(table->find(id_in_bucket(self, 250, 11)).has_value());
    EXPECT_EQ(table->replacements_size(250), 1U);
    EXPECT_EQ(table->size(), 4U);
    EXPECT_EQ(table->stats().evicted, 1U);
    table->check_invariants();
}

TEST_F(full_bucket, explicit_ping_failure_evicts) {
    now = now + sec(1);
    (void)table->observe(make_contact(id_in_bucket(self, 250, 10)), now);
    (void)table->take_effects();
    table->on_ping_timeout(id_in_bucket(self, 250, 1), now);  // not the pinged one: ignored
    EXPECT_EQ(table->stats().evicted, 0U);
    table->on_ping_timeout(id_in_bucket(self, 250, 0), now);
    EXPECT_FALSE(table->find(id_in_bucket(self, 250, 0)).has_value());
    EXPECT_TRUE(table->find(id_in_bucket(self, 250, 10)).has_value());
    table->check_invariants();
}

TEST_F(full_bucket, answered_ping_keeps_oldest_and_newcomer_stays_cached) {
    now = now + sec(1);
    (void)table->observe(make_contact(id_in_bucket(self, 250, 10)), now);
    (void)table->take_effects();
    now = now + sec(1);
    EXPECT_EQ(table->observe(make_contact(id_in_bucket(self, 250, 0)), now),
              observe_outcome::updated);
    table->on_tick(now + limits.ping_timeout * 2);
    EXPECT_TRUE(table->find(id_in_bucket(self, 250, 0)).has_value());
    EXPECT_FALSE(table->find(id_in_bucket(self, 250, 10)).has_value());
    EXPECT_EQ(table->replacements_size(250), 1U);
    EXPECT_EQ(table->stats().evicted, 0U);
    // The answered contact is now the newest; the next newcomer pings the next oldest.
    (void)table->observe(make_contact(id_in_bucket(self, 250, 12)), now);
    auto effects = table->take_effects();
    ASSERT_EQ(effects.size(), 1U);
    EXPECT_EQ(std::get<ping_request>(effects[0]).target.id, id_in_bucket(self, 250, 1));
    table->check_invariants();
}

TEST_F(full_bucket, replacement_cache_is_bounded) {
    for (std::uint64_t n = 100; n < 150; ++n) {
        EXPECT_EQ(table->observe(make_contact(id_in_bucket(self, 250, n)), now),
                  observe_outcome::cached);
        EXPECT_LE(table->replacements_size(250), limits.replacements_max);
    }
    EXPECT_EQ(table->replacements_size(250), limits.replacements_max);
    EXPECT_EQ(table->stats().replacements_dropped, 50U - limits.replacements_max);
    EXPECT_EQ(table->size(), 4U);
    table->check_invariants();
}

TEST_F(full_bucket, remove_promotes_a_replacement) {
    (void)table->observe(make_contact(id_in_bucket(self, 250, 10)), now);
    (void)table->take_effects();
    EXPECT_TRUE(table->remove(id_in_bucket(self, 250, 0)));  // also the pinged contact
    EXPECT_FALSE(table->remove(id_in_bucket(self, 250, 0)));
    EXPECT_TRUE(table->find(id_in_bucket(self, 250, 10)).has_value());
    EXPECT_EQ(table->replacements_size(250), 0U);
    EXPECT_TRUE(table->remove(id_in_bucket(self, 250, 2)));
    EXPECT_EQ(table->size(), 3U);
    EXPECT_FALSE(table->remove(self));
    // The cancelled ping no longer evicts anyone.
    table->on_tick(now + limits.ping_timeout);
    EXPECT_EQ(table->size(), 3U);
    table->check_invariants();
}

TEST(routing_table, closest_matches_brute_force) {
    prng random(12345);
    const node_id self = random_id(random);
    routing_table table({}, self, 3, start);
    std::vector<node_id> all;
    for (int n = 0; n < 3000; ++n) {
        const node_id id = random_id(random);
        if (table.observe(make_contact(id), start) == observe_outcome::inserted) {
            all.push_back(id);
        }
    }
    EXPECT_EQ(table.size(), all.size());
    table.check_invariants();
    for (int round = 0; round < 200; ++round) {
        const node_id target = round % 10 == 0 ? all[static_cast<std::size_t>(round)]
                                               : random_id(random);
        const std::size_t count = 1 + random.below(40);
        auto expected = all;
        std::sort(expected.begin(), expected.end(), [&](const node_id& a, const node_id& b) {
            return a.distance_to(target) < b.distance_to(target);
        });
        expected.resize(std::min(count, expected.size()));
        const auto got = table.closest(target, count);
        ASSERT_EQ(got.size(), expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].id, expected[i]);
        }
    }
    EXPECT_TRUE(table.closest(self, 0).empty());
}

TEST(routing_table, refresh_requests_random_id_in_stale_bucket) {
    const node_id self = self_id();
    routing_config limits;
    routing_table table(limits, self, 5, start);
    EXPECT_EQ(table.next_deadline(), instant::never());  // empty: nothing to refresh
    (void)table.observe(make_contact(id_in_bucket(self, 240, 1)), start);
    (void)table.observe(make_contact(id_in_bucket(self, 255, 1)), start + sec(100));
    // Buckets 240..255 are eligible; 240..254 were last touched at start.
    EXPECT_EQ(table.next_deadline(), start + limits.refresh_interval);
    table.on_tick(start + limits.refresh_interval - sec(1));
    EXPECT_TRUE(table.take_effects().empty());

    table.on_tick(start + limits.refresh_interval);
    auto effects = table.take_effects();
    std::set<int> refreshed;
    for (const auto& e : effects) {
        const auto& refresh = std::get<refresh_request>(e);
        EXPECT_EQ(routing_table::bucket_index(self, refresh.target), refresh.bucket_index);
        refreshed.insert(refresh.bucket_index);
    }
    EXPECT_EQ(refreshed.size(), 15U);  // 240..254; 255 was touched later
    EXPECT_EQ(*refreshed.begin(), 240);
    EXPECT_EQ(refreshed.count(255), 0U);
    EXPECT_EQ(table.next_deadline(), start + sec(100) + limits.refresh_interval);
    table.on_tick(start + sec(100) + limits.refresh_interval);
    effects = table.take_effects();
    ASSERT_EQ(effects.size(), 1U);
    EXPECT_EQ(std::get<refresh_request>(effects[0]).bucket_index, 255);
    table.check_invariants();
}

TEST(routing_table, memory_follows_content) {
    const node_id self = self_id();
    // An empty table allocates nothing and is small.
    const std::size_t before_empty = heap_live_bytes;
    auto table = std::make_unique<routing_table>(routing_config{}, self, 3, start);
    const std::size_t empty_bytes = heap_live_bytes - before_empty;
    EXPECT_LE(empty_bytes, 512U) << "sizeof " << sizeof(routing_table);
    EXPECT_LE(sizeof(routing_table), 400U);

    // 77 contacts and 15 replacements in 16 buckets: full far buckets, sparse near ones, the shape
    // of a table in a network of some 10,000 nodes.
    prng random(11);
    std::size_t observed = 0;
    for (int index = 255; index >= 240; --index) {
        const std::uint64_t wanted = index >= 253 ? 25 : (index >= 249 ? 2 : 1);
        for (std::uint64_t n = 0; n < wanted; ++n) {
            (void)table->observe(make_contact(id_in_bucket(self, index, random.next_u64())),
                                 start);
            observed++;
        }
    }
    (void)table->take_effects();
    const std::size_t full_bytes = heap_live_bytes - before_empty;
    std::size_t occupied = 0;
    for (int index = 0; index < routing_table::buckets_count; ++index) {
        occupied += table->bucket_size(index) > 0 ? 1 : 0;
    }
    EXPECT_EQ(occupied, 16U);
    EXPECT_EQ(table->size() + table->replacements_size(255) + table->replacements_size(254) +
                  table->replacements_size(253),
              observed);
    // 92 contacts of about 90 B each, 16 buckets of about 100 B, and vector growth slack: well
    // under 16 KiB (the fixed array of buckets was about 180 KiB).
    EXPECT_LE(full_bytes, 16U * 1024U) << "contacts " << table->size();
    table->check_invariants();

    // Emptying buckets gives their memory back.
    for (int index = 240; index <= 252; ++index) {
        for (const contact& c : table->closest(id_in_bucket(self, index, 0), 64)) {
            if (routing_table::bucket_index(self, c.id) == index) {
                EXPECT_TRUE(table->remove(c.id));
            }
        }
        EXPECT_EQ(table->bucket_size(index), 0U);
    }
    table->check_invariants();
    EXPECT_LT(heap_live_bytes - before_empty, full_bytes);
    table.reset();
    EXPECT_EQ(heap_live_bytes, before_empty);
    RecordProperty("empty_table_heap_bytes", static_cast<int>(empty_bytes));
    RecordProperty("full_table_heap_bytes", static_cast<int>(full_bytes));
    RecordProperty("sizeof_routing_table", static_cast<int>(sizeof(routing_table)));
}

TEST(routing_table, released_bucket_keeps_refreshing) {
    const node_id self = self_id();
    routing_config limits;
    routing_table table(limits, self, 5, start);
    const node_id near = id_in_bucket(self, 245, 1);
    (void)table.observe(make_contact(id_in_bucket(self, 240, 1)), start);
    (void)table.observe(make_contact(near), start + sec(50));
    EXPECT_TRUE(table.remove(near));  // bucket 245 is released
    EXPECT_EQ(table.bucket_size(245), 0U);
    EXPECT_EQ(table.next_deadline(), start + limits.refresh_interval);
    table.on_tick(start + limits.refresh_interval);
    std::set<int> refreshed;
    for (const auto& e : table.take_effects()) {
        refreshed.insert(std::get<refresh_request>(e).bucket_index);
    }
    EXPECT_EQ(refreshed.size(), 16U);  // 240..255, 245 included
    EXPECT_EQ(refreshed.count(245), 1U);
    EXPECT_EQ(table.next_deadline(), start + limits.refresh_interval + limits.refresh_interval);
    table.check_invariants();
}

TEST(routing_table, refresh_ids_are_deterministic_per_seed) {
    const node_id self = self_id();
    auto run = [&](std::uint64_t seed) {
        routing_table table({}, self, seed, start);
        (void)table.observe(make_contact(id_in_bucket(self, 250, 1)), start);
        table.on_tick(start + routing_config{}.refresh_interval);
        std::vector<node_id> targets;
        for (const auto& e : table.take_effects()) {
            targets.push_back(std::get<refresh_request>(e).target);
        }
        return targets;
    };
    EXPECT_EQ(run(1), run(1));
    EXPECT_NE(run(1), run(2));
}

} // namespace
} // namespace reef::dht
