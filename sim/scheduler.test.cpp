#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "reef/base/prng.hpp"
#include "sim/scheduler.hpp"

namespace reef::sim {
namespace {

instant at_ms(std::int64_t ms) { return instant::from_ns(ms * 1'000'000); }

TEST(event_queue, pops_in_time_order_whatever_the_push_order) {
    event_queue queue(1000);
    prng random(3);
    std::vector<std::int64_t> times;
    for (std::uint64_t sequence = 0; sequence < 500; ++sequence) {
        const auto ms = static_cast<std::int64_t>(random.below(100));
        times.push_back(ms);
        ASSERT_TRUE(queue.try_push(event{at_ms(ms), sequence}));
    }
    std::sort(times.begin(), times.end());
    instant previous;
    std::uint64_t previous_sequence = 0;
    for (const std::int64_t expected : times) {
        const event item = queue.pop();
        EXPECT_EQ(item.at, at_ms(expected));
        if (item.at == previous) {
            EXPECT_GT(item.sequence, previous_sequence) << "ties must pop in sequence order";
        }
        previous = item.at;
        previous_sequence = item.sequence;
    }
    EXPECT_TRUE(queue.empty());
}

TEST(event_queue, refuses_when_full) {
    event_queue queue(2);
    EXPECT_TRUE(queue.try_push(event{at_ms(1), 0}));
    EXPECT_TRUE(queue.try_push(event{at_ms(2), 1}));
    EXPECT_FALSE(queue.try_push(event{at_ms(0), 2}));
    EXPECT_EQ(queue.size(), 2U);
    EXPECT_EQ(queue.pop().at, at_ms(1)) << "the refused event must not have been queued";
}

TEST(timer_heap, arming_again_moves_the_one_timer) {
    timer_heap timers(4);
    timers.arm(2, at_ms(50), 0);
    timers.arm(2, at_ms(10), 1);
    EXPECT_EQ(timers.size(), 1U);
    EXPECT_EQ(timers.deadline(2), at_ms(10));
    timers.arm(2, at_ms(90), 2);
    EXPECT_EQ(timers.size(), 1U);
    EXPECT_EQ(timers.deadline(2), at_ms(90));
    timers.cancel(2);
    EXPECT_FALSE(timers.armed(2));
    EXPECT_TRUE(timers.empty());
    EXPECT_EQ(timers.deadline(2), instant::never());
}

TEST(timer_heap, matches_a_reference_model_under_random_operations) {
    constexpr std::size_t nodes = 64;
    timer_heap timers(nodes);
    std::map<node_index, std::pair<std::int64_t, std::uint64_t>> model;
    prng random(11);
    std::uint64_t sequence = 0;
    for (int step = 0; step < 20'000; ++step) {
        const auto node = static_cast<node_index>(random.below(nodes));
        const std::uint64_t choice = random.below(10);
        if (choice < 6) {
            const auto ms = static_cast<std::int64_t>(random.below(1000));
            timers.arm(node, at_ms(ms), sequence);
            model[node] = {ms, sequence++};
        } else if (choice < 8) {
            timers.cancel(node);
            model.erase(node);
        } else if (!model.empty()) {
            const auto earliest = std::min_element(
                model.begin(), model.end(),
                [](const auto& a, const auto& b) { return a.second < b.second; });
            const timer_heap::entry popped = timers.pop();
            EXPECT_EQ(popped.node, earliest->first);
            EXPECT_EQ(popped.at, at_ms(earliest->second.first));
            model.erase(earliest);
        }
        ASSERT_EQ(timers.size(), model.size());
        if (step % 97 == 0) {
            timers.check_invariants();
        }
    }
}

TEST(scheduler, interleaves_timers_and_events_by_time_then_sequence) {
    scheduler clock(4, 100);
    clock.arm_timer(1, at_ms(5));                                   // sequence 0
    ASSERT_TRUE(clock.schedule(at_ms(5), event_kind::arrive, 2, 0, 7)); // sequence 1
    ASSERT_TRUE(clock.schedule(at_ms(3), event_kind::process, 3, 0, 8));

    auto first = clock.pop_until(at_ms(100));
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->is_timer);
    EXPECT_EQ(first->item.payload, 8U);
    EXPECT_EQ(clock.now(), at_ms(3));

    auto second = clock.pop_until(at_ms(100));
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->is_timer) << "the timer was armed before the event was scheduled";
    EXPECT_EQ(second->timer.node, 1U);

    auto third = clock.pop_until(at_ms(100));
    ASSERT_TRUE(third);
    EXPECT_FALSE(third->is_timer);
    EXPECT_EQ(third->item.payload, 7U);
    EXPECT_FALSE(clock.pop_until(at_ms(100)));
}

TEST(scheduler, rearming_takes_a_new_place_in_the_tie_order) {
    scheduler clock(2, 100);
    clock.arm_timer(0, at_ms(5));
    ASSERT_TRUE(clock.schedule(at_ms(5), event_kind::arrive, 1, 0, 1));
    clock.arm_timer(0, at_ms(5)); // re-armed after the event: now it runs after it
    auto first = clock.pop_until(at_ms(5));
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->is_timer);
    auto second = clock.pop_until(at_ms(5));
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->is_timer);
    EXPECT_EQ(clock.timers_pending(), 0U);
}

TEST(scheduler, pop_until_stops_at_the_limit_and_time_never_goes_back) {
    scheduler clock(1, 100);
    ASSERT_TRUE(clock.schedule(at_ms(10), event_kind::arrive, 0, 0, 0));
    EXPECT_FALSE(clock.pop_until(at_ms(9)));
    EXPECT_EQ(clock.now(), instant{}) << "nothing due: the clock stays";
    clock.advance_to(at_ms(9));
    EXPECT_EQ(clock.now(), at_ms(9));
    auto due = clock.pop_until(at_ms(10));
    ASSERT_TRUE(due);
    EXPECT_EQ(clock.now(), at_ms(10));
    EXPECT_EQ(clock.events_pending(), 0U);
}

TEST(scheduler, cancelled_timer_never_fires) {
    scheduler clock(3, 10);
    clock.arm_timer(0, at_ms(1));
    clock.arm_timer(1, at_ms(2));
    clock.cancel_timer(0);
    auto fired = clock.pop_until(at_ms(10));
    ASSERT_TRUE(fired);
    EXPECT_TRUE(fired->is_timer);
    EXPECT_EQ(fired->timer.node, 1U);
    EXPECT_FALSE(clock.pop_until(at_ms(10)));
}

} // namespace
} // namespace reef::sim
