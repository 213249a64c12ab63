#include <gtest/gtest.h>

#include "reef/dht/record.hpp"

namespace reef::dht {
namespace {

crypto::identity identity_of(std::uint8_t n) {
    crypto::seed32 seed{};
    seed[0] = n;
    seed[31] = 0x5a;
    return crypto::identity::from_seed(seed);
}

constexpr std::uint64_t expiry = 1'800'000'000;

record sample() { return sign_record(identity_of(1), "profile", 3, expiry, "hello"); }

TEST(record, signed_record_verifies) {
    const record rec = sample();
    EXPECT_TRUE(verify(rec).ok());
    EXPECT_TRUE(verify(rec, expiry - 1).ok());
    EXPECT_EQ(rec.key, record_key(identity_of(1).id(), "profile"));
    EXPECT_EQ(rec.key, record_key(identity_of(1).public_key_bytes(), "profile"));
    EXPECT_NE(rec.key, record_key(identity_of(2).id(), "profile"));
    EXPECT_NE(rec.key, record_key(identity_of(1).id(), "profile2"));
}

TEST(record, signing_bytes_start_with_the_domain) {
    const std::string bytes = signing_bytes(sample());
    EXPECT_EQ(bytes.substr(0, record_signing_domain.size()), record_signing_domain);
    EXPECT_EQ(bytes.size(), record_signing_domain.size() + 32 + 32 + 2 + 7 + 8 + 8 + 4 + 5);
}

TEST(record, any_flipped_signed_byte_is_rejected) {
    const record rec = sample();
    // Every field the signature covers, one bit at a time.
    for (std::size_t i = 0; i < rec.signature.size(); ++i) {
        record forged = rec;
        forged.signature[i] ^= 0x01U;
        auto ok = verify(forged);
        ASSERT_FALSE(ok.ok()) << "signature byte " << i;
        EXPECT_EQ(ok.failure().code, errc::permission_denied);
    }
    for (std::size_t i = 0; i < rec.value.size(); ++i) {
        record forged = rec;
        forged.value[i] = static_cast<char>(forged.value[i] ^ 0x20);
        auto ok = verify(forged);
        ASSERT_FALSE(ok.ok());
        EXPECT_EQ(ok.failure().message, "record has a bad signature");
    }
    for (int bit = 0; bit < 64; ++bit) {
        record forged = rec;
        forged.sequence ^= std::uint64_t{1} << static_cast<unsigned>(bit);
        EXPECT_FALSE(verify(forged).ok());
        forged = rec;
        forged.expiry_unix_seconds ^= std::uint64_t{1} << static_cast<unsigned>(bit);
        EXPECT_FALSE(verify(forged).ok());
    }
    for (std::size_t i = 0; i < 32; ++i) {
        record forged = rec;
        forged.key = id256{[&] {
            auto bytes = rec.key.bytes();
            bytes[i] ^= 0x80U;
            return bytes;
        }()};
        auto ok = verify(forged);
        ASSERT_FALSE(ok.ok());
        EXPECT_EQ(ok.failure().message, "record key does not match publisher and name");
        forged = rec;
        forged.publisher[i] ^= 0x01U;
        EXPECT_FALSE(verify(forged).ok());
    }
    record renamed = rec;
    renamed.name = "profilf";
    EXPECT_FALSE(verify(renamed).ok());
}

TEST(record, wrong_publisher_is_rejected) {
    // A record signed by identity 2 but claiming identity 1's key and name.
    const record honest = sample();
    record forged = sign_record(identity_of(2), "profile", 4, expiry, "evil");
    forged.publisher = honest.publisher;
    forged.key = honest.key;
    auto ok = verify(forged);
    ASSERT_FALSE(ok.ok());
    EXPECT_EQ(ok.failure().code, errc::permission_denied);
    // Identity 2's own record under that name lives at a different key.
    EXPECT_NE(sign_record(identity_of(2), "profile", 4, expiry, "x").key, honest.key);
}

TEST(record, expiry) {
    const record rec = sample();
    auto ok = verify(rec, expiry);
    ASSERT_FALSE(ok.ok());
    EXPECT_EQ(ok.failure().code, errc::failed_precondition);
    EXPECT_NE(ok.failure().message.find("expired"), std::string::npos);
    EXPECT_FALSE(verify(rec, expiry + 100).ok());
}

TEST(record, size_bounds) {
    const std::string largest(record_value_size_max, 'v');
    EXPECT_TRUE(verify(sign_record(identity_of(1), "n", 1, expiry, largest)).ok());
    record rec = sign_record(identity_of(1), std::string(record_name_size_max, 'n'), 1, expiry, "");
    EXPECT_TRUE(verify(rec).ok());
    rec.value = largest + "v";
    auto ok = verify(rec);
    ASSERT_FALSE(ok.ok());
    EXPECT_EQ(ok.failure().code, errc::invalid_argument);
    EXPECT_NE(ok.failure().message.find("value too large"), std::string::npos);
    rec = sample();
    rec.name = std::string(record_name_size_max + 1, 'n');
    rec.key = record_key(rec.publisher, rec.name);
    EXPECT_NE(verify(rec).failure().message.find("name too large"), std::string::npos);
    rec.name.clear();
    rec.key = record_key(rec.publisher, rec.name);
    EXPECT_EQ(verify(rec).failure().message, "record name is empty");
}

TEST(record, node_addresses) {
    const auto me = identity_of(7);
    const std::vector<host_port> addresses{{"10.0.0.7", 7400}, {"::1", 7401}, {"node.lan", 1}};
    auto rec = make_node_addresses(me, addresses, 1, expiry);
    ASSERT_TRUE(rec.ok()) << rec.failure().describe();
    EXPECT_TRUE(verify(*rec).ok());
    EXPECT_EQ(rec->key, node_addresses_key(me.id()));
    EXPECT_EQ(rec->value, "10.0.0.7:7400,[::1]:7401,node.lan:1");
    auto parsed = parse_node_addresses(*rec);
    ASSERT_TRUE(parsed.ok()) << parsed.failure().describe();
    EXPECT_EQ(*parsed, addresses);

    EXPECT_FALSE(make_node_addresses(me, {}, 1, expiry).ok());
    const std::vector<host_port> zero_port{{"10.0.0.7", 0}};
    EXPECT_FALSE(make_node_addresses(me, zero_port, 1, expiry).ok());
    const std::vector<host_port> too_many(node_addresses_count_max + 1, host_port{"a.b", 9});
    EXPECT_FALSE(make_node_addresses(me, too_many, 1, expiry).ok());

    EXPECT_FALSE(parse_node_addresses(sample()).ok());
    for (const char* bad : {"", ",", "10.0.0.1:1,", "10.0.0.1", "a:1,,b:2", "a:1 ,b:2"}) {
        record other = sign_record(me, std::string(node_addresses_name), 2, expiry, bad);
        EXPECT_FALSE(parse_node_addresses(other).ok()) << bad;
    }
    std::string nine;
    for (int i = 0; i < 9; ++i) {
        nine += (i == 0 ? "" : ",") + std::string("h:1");
    }
    EXPECT_FALSE(
        parse_node_addresses(sign_record(me, std::string(node_addresses_name), 2, expiry, nine))
            .ok());
}

} // namespace
} // namespace reef::dht
