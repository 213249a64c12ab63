#include <algorithm>
#include <compare>

#include <gtest/gtest.h>

#include "reef/base/bounded.hpp"
#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"

namespace reef {
namespace {

id256 id_with_first_byte(std::uint8_t first) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    return id256{bytes};
}

TEST(ids, hex_round_trip) {
    prng random(7);
    id256::bytes_type bytes{};
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(random.below(256));
    }
    const id256 id{bytes};
    auto parsed = id256::from_hex(id.hex());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, id);
    EXPECT_EQ(id.short_hex(), id.hex().substr(0, 12));
}

TEST(ids, bad_hex_is_rejected_with_reason) {
    auto short_id = id256::from_hex("abcd");
    ASSERT_FALSE(short_id.ok());
    EXPECT_EQ(short_id.failure().code, errc::invalid_argument);
    EXPECT_NE(short_id.failure().message.find("64 hex digits"), std::string::npos);

    auto not_hex = id256::from_hex(std::string(63, '0') + "g");
    ASSERT_FALSE(not_hex.ok());
    EXPECT_NE(not_hex.failure().message.find("not a hex digit"), std::string::npos);

    auto odd = from_hex("abc");
    ASSERT_FALSE(odd.ok());
}

TEST(ids, xor_distance_and_leading_zeros) {
    const id256 a = id_with_first_byte(0b1000'0000);
    const id256 b = id_with_first_byte(0b1100'0000);
    const id256 zero;
    EXPECT_EQ(a.distance_to(b), id_with_first_byte(0b0100'0000));
    EXPECT_EQ(a.distance_to(a), zero);
    EXPECT_EQ(a.distance_to(b).leading_zero_bits(), 1);
    EXPECT_EQ(zero.leading_zero_bits(), 256);
    EXPECT_TRUE(zero.is_zero());
    EXPECT_FALSE(a.is_zero());
    // The XOR metric is symmetric and satisfies the triangle inequality on these ids.
    EXPECT_EQ(a.distance_to(b), b.distance_to(a));
    EXPECT_LT(a.distance_to(b), a.distance_to(zero));
}

TEST(ids, from_bytes_checks_length) {
    std::array<std::uint8_t, 31> too_short{};
    EXPECT_FALSE(id256::from_bytes(too_short).ok());
    std::array<std::uint8_t, 32> exact{};
    EXPECT_TRUE(id256::from_bytes(exact).ok());
}

// Two random ids almost always differ in the first byte, so half of the pairs share a random
// prefix to reach every 64-bit word and the tie-breaks inside it.
TEST(ids, order_is_bytewise_lexicographic) {
    prng random(11);
    const auto random_bytes = [&random] {
        id256::bytes_type bytes{};
        for (auto& b : bytes) {
            // Small values now and then, so equal and adjacent bytes are common.
            const std::uint64_t value = random.below(4) == 0 ? random.below(3) : random.next_u64();
            b = static_cast<std::uint8_t>(value);
        }
        return bytes;
    };
    for (int round = 0; round < 20000; ++round) {
        id256::bytes_type x = random_bytes();
        id256::bytes_type y = random_bytes();
        if (round % 2 == 0) {
            const auto shared = static_cast<std::size_t>(random.below(id256::size_bytes + 1));
            std::copy_n(x.begin(), shared, y.begin());
        }
        const id256 a{x};
        const id256 b{y};
        const bool less = std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
        const bool greater = std::lexicographical_compare(y.begin(), y.end(), x.begin(), x.end());
        ASSERT_EQ(a < b, less) << a.hex() << " " << b.hex();
        ASSERT_EQ(a > b, greater) << a.hex() << " " << b.hex();
        ASSERT_EQ(a == b, x == y) << a.hex() << " " << b.hex();
        ASSERT_EQ(a != b, x != y);
        ASSERT_EQ(a <= b, !greater);
        ASSERT_EQ((a <=> b) == std::strong_ordering::equal, x == y);
        ASSERT_EQ(a <=> a, std::strong_ordering::equal);
    }
}

TEST(ids, order_is_usable_at_compile_time) {
    constexpr id256 zero;
    constexpr id256 last_byte{id256::bytes_type{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    static_assert(zero < last_byte);
    static_assert(zero == id256{});
    static_assert(last_byte != zero);
    EXPECT_LT(id_with_first_byte(1), id_with_first_byte(2));
}

TEST(prng, same_seed_same_sequence_and_bounds) {
    prng a(42);
    prng b(42);
    prng c(43);
    bool differs = false;
    for (int i = 0; i < 1000; ++i) {
        const auto x = a.next_u64();
        EXPECT_EQ(x, b.next_u64());
        differs = differs || x != c.next_u64();
        const auto bounded = a.below(10);
        b.below(10);
        EXPECT_LT(bounded, 10U);
        const double u = a.unit();
        b.unit();
        EXPECT_GE(u, 0.0);
        EXPECT_LT(u, 1.0);
    }
    EXPECT_TRUE(differs);
}

TEST(prng, below_is_roughly_uniform) {
    prng random(1);
    std::array<int, 4> counts{};
    for (int i = 0; i < 40000; ++i) {
        ++counts[random.below(4)];
    }
    for (int count : counts) {
        EXPECT_GT(count, 9000);
        EXPECT_LT(count, 11000);
    }
}

TEST(time, arithmetic_and_never) {
    const instant start = instant::from_ns(1000);
    const instant later = start + duration::milliseconds(5);
    EXPECT_EQ((later - start).ns(), 5'000'000);
    EXPECT_EQ(start + duration::max(), instant::never());
    EXPECT_EQ(instant::never() + duration::seconds(1), instant::never());
    EXPECT_EQ(min(start, later), start);
    EXPECT_DOUBLE_EQ(duration::milliseconds(1500).sec(), 1.5);
}

TEST(result, value_and_error) {
    result<int> good = 5;
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 5);
    result<int> bad = make_error(errc::timeout, "no answer from 10.0.0.1");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.failure().describe(), "timeout: no answer from 10.0.0.1");
    status fine;
    EXPECT_TRUE(fine.ok());
}

TEST(bounded_queue, refuses_when_full) {
    bounded_queue<int> queue(2);
    EXPECT_TRUE(queue.try_push(1));
    EXPECT_TRUE(queue.try_push(2));
    EXPECT_FALSE(queue.try_push(3));
    EXPECT_TRUE(queue.full());
    EXPECT_EQ(queue.pop(), 1);
    EXPECT_TRUE(queue.try_push(3));
    EXPECT_EQ(queue.size(), 2U);
}

TEST(assert, fires_on_bug) {
    EXPECT_DEATH(REEF_ASSERT(1 + 1 == 3), "assertion failed: 1 \\+ 1 == 3");
}

} // namespace
} // namespace reef
