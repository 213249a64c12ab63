#include <gtest/gtest.h>

#include <limits>

#include "reef/dht/codec.hpp"
#include "reef/wire/dht.pb.h"

namespace reef::dht {
namespace {

node_id id_of(std::uint8_t first, std::uint8_t last = 1) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = last;
    return node_id{bytes};
}

crypto::identity identity_of(std::uint8_t n) {
    crypto::seed32 seed{};
    seed[0] = n;
    return crypto::identity::from_seed(seed);
}

record sample_record() {
    return sign_record(identity_of(1), "profile", 5, 1'800'000'000, std::string("v\0\xff", 3));
}

std::vector<wire_contact> contacts(std::size_t count) {
    std::vector<wire_contact> out;
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(wire_contact{id_of(static_cast<std::uint8_t>(i + 1)),
                                   "10.0.0." + std::to_string(i + 1) + ":7400"});
    }
    return out;
}

std::string failure_of(std::string_view bytes) {
    auto decoded = decode(bytes);
    EXPECT_FALSE(decoded.ok());
    if (decoded.ok()) {
        return {};
    }
    EXPECT_EQ(decoded.failure().code, errc::invalid_argument);
    return decoded.failure().message;
}

void expect_round_trip(const message& original) {
    const std::string bytes = encode(original);
    auto decoded = decode(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_EQ(*decoded, original);
    EXPECT_EQ(encode(*decoded), bytes);
}

wire::DhtMessage proto_of(const message& body) {
    wire::DhtMessage proto;
    EXPECT_TRUE(proto.ParseFromString(encode(body)));
    return proto;
}

TEST(codec, every_kind_round_trips) {
    expect_round_trip(ping{0});
    expect_round_trip(pong{std::numeric_limits<std::uint64_t>::max()});
    expect_round_trip(find_node{7, id_of(9)});
    expect_round_trip(find_node_reply{8, contacts(reply_contacts_max)});
    expect_round_trip(find_node_reply{8, {}});
    expect_round_trip(find_node_reply{8, {{id_of(3), "[::1]:7401"}, {id_of(4), "node.lan:9"}}});
    expect_round_trip(store{9, sample_record()});
    expect_round_trip(store_reply{10, std::nullopt});
    expect_round_trip(store_reply{10, errc::failed_precondition});
    expect_round_trip(find_value{11, sample_record().key});
    expect_round_trip(find_value_reply{12, sample_record(), {}});
    expect_round_trip(find_value_reply{12, std::nullopt, contacts(3)});
    expect_round_trip(find_value_reply{12, std::nullopt, {}});
}

TEST(codec, decoded_records_verify_and_keep_their_signature) {
    const record rec = sample_record();
    auto decoded = decode(encode(store{1, rec}));
    ASSERT_TRUE(decoded.ok());
    const auto& got = std::get<store>(*decoded).value;
    EXPECT_TRUE(verify(got).ok());
    EXPECT_EQ(got.key, rec.key);
    // The largest record fits.
    const record largest = sign_record(identity_of(2), std::string(record_name_size_max, 'n'),
                                       std::numeric_limits<std::uint64_t>::max(),
                                       std::numeric_limits<std::uint64_t>::max(),
                                       std::string(record_value_size_max, 'v'));
    expect_round_trip(find_value_reply{1, largest, {}});
}

TEST(codec, garbage_and_empty) {
    EXPECT_EQ(failure_of(""), "dht message has no body (or a kind this node does not know)");
    EXPECT_EQ(failure_of("\xff\xff\xff"), "dht message is not a valid protobuf message");
    EXPECT_NE(failure_of(std::string(message_size_max + 1, '\0')).find("more than"),
              std::string::npos);
}

TEST(codec, ids_must_be_32_nonzero_bytes) {
    auto proto = proto_of(find_node{1, id_of(1)});
    proto.mutable_find_node()->set_target(std::string(31, 'x'));
    EXPECT_EQ(failure_of(proto.SerializeAsString()), "find_node.target must be 32 bytes, got 31");
    proto.mutable_find_node()->set_target(std::string(32, '\0'));
    EXPECT_EQ(failure_of(proto.SerializeAsString()), "find_node.target is the zero id");
    proto = proto_of(find_value{1, id_of(1)});
    proto.mutable_find_value()->clear_key();
    EXPECT_EQ(failure_of(proto.SerializeAsString()), "find_value.key must be 32 bytes, got 0");
}

TEST(codec, contact_lists_are_bounded_and_checked) {
    auto proto = proto_of(find_node_reply{1, contacts(reply_contacts_max)});
    wire::DhtContact extra;
    extra.set_id(std::string(32, 'z'));
    extra.set_address("10.9.9.9:1");
    *proto.mutable_find_node_reply()->add_contacts() = extra;
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "find_node_reply.contacts has 21 entries, more than 20");

    proto = proto_of(find_node_reply{1, contacts(2)});
    auto* second = proto.mutable_find_node_reply()->mutable_contacts(1);
    second->set_address("10.0.0.2");
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "find_node_reply.contacts[1].address is not host:port");
    second->set_address("10.0.0.2:0");
    EXPECT_FALSE(decode(proto.SerializeAsString()).ok());
    second->set_address(std::string("\xc3\x28:1", 4)); // invalid UTF-8 is just a bad address
    EXPECT_FALSE(decode(proto.SerializeAsString()).ok());
    second->set_address(std::string(300, 'a') + ":1");
    EXPECT_FALSE(decode(proto.SerializeAsString()).ok());
    second->set_address("10.0.0.2:1");
    second->set_id(std::string(32, '\0'));
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "find_node_reply.contacts[1].id is the zero id");
    second->set_id(proto.find_node_reply().contacts(0).id());
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "find_node_reply.contacts[1].id repeats find_node_reply.contacts[0].id");
    second->set_id(std::string(33, 'a'));
    EXPECT_FALSE(decode(proto.SerializeAsString()).ok());

    auto value_reply = proto_of(find_value_reply{1, std::nullopt, contacts(reply_contacts_max)});
    *value_reply.mutable_find_value_reply()->add_contacts() = extra;
    EXPECT_EQ(failure_of(value_reply.SerializeAsString()),
              "find_value_reply.contacts has 21 entries, more than 20");
}

TEST(codec, records_are_shape_checked) {
    const auto base = proto_of(store{1, sample_record()});
    auto proto = base;
    proto.mutable_store()->clear_record();
    EXPECT_EQ(failure_of(proto.SerializeAsString()), "store.record is missing");

    proto = base;
    proto.mutable_store()->mutable_record()->set_signature(std::string(63, 's'));
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "store.record.signature must be 64 bytes, got 63");
    proto = base;
    proto.mutable_store()->mutable_record()->set_publisher(std::string(33, 'p'));
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "store.record.publisher must be 32 bytes, got 33");
    proto = base;
    proto.mutable_store()->mutable_record()->clear_name();
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "store.record.name must be 1..128 bytes, got 0");
    proto.mutable_store()->mutable_record()->set_name(std::string(record_name_size_max + 1, 'n'));
    EXPECT_FALSE(decode(proto.SerializeAsString()).ok());
    proto = base;
    proto.mutable_store()->mutable_record()->set_value(std::string(record_value_size_max + 1, 'v'));
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "store.record.value too large: 1025 bytes, at most 1024");

    // A tampered record still decodes (shape is fine) but no longer verifies.
    proto = base;
    proto.mutable_store()->mutable_record()->set_sequence(6);
    auto decoded = decode(proto.SerializeAsString());
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(verify(std::get<store>(*decoded).value).failure().code, errc::permission_denied);
}

TEST(codec, find_value_reply_has_a_record_or_contacts) {
    auto proto = proto_of(find_value_reply{1, sample_record(), {}});
    auto* contact = proto.mutable_find_value_reply()->add_contacts();
    contact->set_id(std::string(32, 'c'));
    contact->set_address("10.0.0.1:1");
    EXPECT_EQ(failure_of(proto.SerializeAsString()),
              "find_value_reply has both a record and contacts");
    EXPECT_FALSE(validate(find_value_reply{1, sample_record(), contacts(1)}).ok());
}

TEST(codec, store_reply_codes_are_closed) {
    wire::DhtMessage proto;
    proto.mutable_store_reply()->set_code(static_cast<std::uint32_t>(errc::internal) + 1);
    EXPECT_EQ(failure_of(proto.SerializeAsString()), "store_reply.code 12 is not an error code");
    proto.mutable_store_reply()->set_code(static_cast<std::uint32_t>(errc::resource_exhausted));
    auto decoded = decode(proto.SerializeAsString());
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(std::get<store_reply>(*decoded).failure, errc::resource_exhausted);
}

TEST(codec, unknown_fields_are_ignored) {
    // Forward compatibility: a newer peer may add fields; they are skipped, not fatal.
    std::string bytes = encode(find_node{3, id_of(5)});
    bytes += std::string("\xa0\x06\x01", 3); // field 100, varint 1
    auto decoded = decode(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_EQ(*decoded, (message{find_node{3, id_of(5)}}));
}

} // namespace
} // namespace reef::dht
