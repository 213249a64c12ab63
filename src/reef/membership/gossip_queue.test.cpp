#include <gtest/gtest.h>

#include <map>

#include "reef/membership/gossip_queue.hpp"
#include "reef/membership/suspicion.hpp"

namespace reef::membership {
namespace {

struct item {
    int name = 0;
    gossip_slot gossip;
};

std::vector<int> take_names(gossip_queue<item>& queue, std::size_t count, std::uint32_t limit,
                            const item* skip = nullptr) {
    std::vector<item*> taken;
    queue.take(count, limit, skip, taken);
    std::vector<int> names;
    for (const item* i : taken) {
        names.push_back(i->name);
    }
    queue.check_invariants();
    return names;
}

TEST(gossip_queue, fresh_news_first_and_each_sent_limit_times) {
    std::map<int, item> items;
    gossip_queue<item> queue;
    for (int name = 1; name <= 3; ++name) {
        items[name].name = name;
        queue.push(&items[name]);
    }
    // Newest first among equals.
    EXPECT_EQ(take_names(queue, 2, 3), (std::vector<int>{3, 2}));
    // 1 has fewer transmissions now, so it goes first.
    EXPECT_EQ(take_names(queue, 2, 3), (std::vector<int>{1, 3}));
    EXPECT_EQ(items[3].gossip.transmits, 2U);
    EXPECT_EQ(take_names(queue, 10, 3), (std::vector<int>{2, 1, 3}));
    // 3 reached its limit and left the queue.
    EXPECT_FALSE(items[3].gossip.queued);
    EXPECT_EQ(queue.size(), 2U);
    EXPECT_EQ(take_names(queue, 10, 3), (std::vector<int>{2, 1}));
    EXPECT_TRUE(queue.empty());
    EXPECT_TRUE(take_names(queue, 10, 3).empty());
}

TEST(gossip_queue, push_again_makes_it_fresh_and_skip_and_erase_work) {
    std::map<int, item> items;
    gossip_queue<item> queue;
    for (int name = 1; name <= 3; ++name) {
        items[name].name = name;
        queue.push(&items[name]);
    }
    (void)take_names(queue, 3, 5);
    queue.push(&items[1]); // news about 1 again
    EXPECT_EQ(queue.size(), 3U);
    EXPECT_EQ(items[1].gossip.transmits, 0U);
    EXPECT_EQ(take_names(queue, 1, 5), (std::vector<int>{1}));
    EXPECT_EQ(take_names(queue, 2, 5, &items[3]), (std::vector<int>{1, 2}));
    queue.erase(&items[2]);
    queue.erase(&items[2]); // harmless twice
    EXPECT_EQ(queue.size(), 2U);
    EXPECT_EQ(take_names(queue, 5, 5), (std::vector<int>{3, 1}));
}

TEST(suspicion, timeout_starts_at_max_and_shrinks_to_min) {
    config limits; // probe_period 200 ms, suspicion_mult 4, suspicion_max_mult 6
    const auto bounds = suspicion_bounds_for(limits, 4);
    EXPECT_EQ(bounds.timeout_min, duration::milliseconds(800)); // log10(4) < 1
    EXPECT_EQ(bounds.timeout_max, duration::milliseconds(4800));
    EXPECT_EQ(bounds.confirmations_expected, 2U);
    EXPECT_EQ(suspicion_timeout(bounds, 0), bounds.timeout_max);
    const duration one = suspicion_timeout(bounds, 1);
    // max - (max - min) * log(2) / log(3)
    EXPECT_NEAR(one.sec(), 4.8 - 4.0 * std::log(2.0) / std::log(3.0), 1e-6);
    EXPECT_EQ(suspicion_timeout(bounds, 2), bounds.timeout_min);
    EXPECT_EQ(suspicion_timeout(bounds, 9), bounds.timeout_min);
}

TEST(suspicion, scales_with_cluster_size_and_small_clusters_expect_no_confirmations) {
    config limits;
    const auto big = suspicion_bounds_for(limits, 1000);
    EXPECT_NEAR(big.timeout_min.sec(), 4 * 3 * 0.2, 1e-6);
    EXPECT_EQ(big.confirmations_expected, 2U);
    const auto tiny = suspicion_bounds_for(limits, 3);
    EXPECT_EQ(tiny.confirmations_expected, 0U);
    EXPECT_EQ(suspicion_timeout(tiny, 0), tiny.timeout_min);
    const auto alone = suspicion_bounds_for(limits, 0);
    EXPECT_EQ(alone.timeout_min, duration::milliseconds(800));
}

} // namespace
} // namespace reef::membership
