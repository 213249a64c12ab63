#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "reef/membership/codec.hpp"
#include "reef/wire/membership.pb.h"

namespace reef::membership {
namespace {

node_id id_of(std::uint8_t first, std::uint8_t last = 1) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = last;
    return node_id{bytes};
}

member_update sample_update(std::uint8_t n, member_state state = member_state::alive) {
    return member_update{id_of(n), "10.0.0." + std::to_string(n) + ":7400", 7U + n, state,
                         state == member_state::suspect ? id_of(200) : node_id{}};
}

std::string bytes_of(const google::protobuf::Message& proto) { return proto.SerializeAsString(); }

// The error message of decoding `bytes`, which must fail.
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
}

TEST(codec, every_kind_round_trips) {
    expect_round_trip(
        ping{1, id_of(1), {sample_update(2), sample_update(3, member_state::suspect)}});
    expect_round_trip(ping_req{2, id_of(4), "[::1]:7401", {sample_update(5, member_state::dead)}});
    expect_round_trip(ack{3, id_of(6), {}});
    expect_round_trip(nack{std::numeric_limits<std::uint64_t>::max(), id_of(7)});
    expect_round_trip(sync{{sample_update(8), sample_update(9, member_state::left)}, true});
    expect_round_trip(sync{{}, false});
}

TEST(codec, addresses) {
    EXPECT_TRUE(is_valid_address("127.0.0.1:7400"));
    EXPECT_TRUE(is_valid_address("node-7.example.org:1"));
    EXPECT_TRUE(is_valid_address("[fe80::1]:65535"));
    EXPECT_FALSE(is_valid_address(""));
    EXPECT_FALSE(is_valid_address("127.0.0.1"));
    EXPECT_FALSE(is_valid_address(":7400"));
    EXPECT_FALSE(is_valid_address("host:"));
    EXPECT_FALSE(is_valid_address("host:0"));
    EXPECT_FALSE(is_valid_address("host:65536"));
    EXPECT_FALSE(is_valid_address("host:12a"));
    EXPECT_FALSE(is_valid_address("host:+80"));
    EXPECT_FALSE(is_valid_address("ho st:80"));
    EXPECT_FALSE(is_valid_address("host:80\n"));
    EXPECT_FALSE(is_valid_address("fe80::1:7400")); // IPv6 must be bracketed
    // Host names of 63-byte labels: 255 bytes in all is the most accepted.
    const std::string label(63, 'a');
    const std::string host_250 = label + "." + label + "." + label + "." + std::string(58, 'b');
    EXPECT_TRUE(is_valid_address(host_250 + ":7400"));  // 255 bytes
    EXPECT_FALSE(is_valid_address(host_250 + "c:7400")); // 256 bytes
}

TEST(codec, garbage_and_empty_input_are_rejected) {
    EXPECT_NE(failure_of(std::string("\xff\xff\xff\xff\x0f", 5)).find("not a valid protobuf"),
              std::string::npos);
    EXPECT_NE(failure_of("").find("no body"), std::string::npos);
    // A truncated valid message.
    const std::string bytes = encode(sync{{sample_update(1), sample_update(2)}, true});
    EXPECT_FALSE(decode(std::string_view(bytes).substr(0, bytes.size() - 3)).ok());
}

TEST(codec, ids_must_be_32_bytes_and_not_zero) {
    wire::MembershipMessage proto;
    proto.mutable_nack()->set_seq(1);
    proto.mutable_nack()->set_target(std::string(31, '\x01'));
    EXPECT_NE(failure_of(bytes_of(proto)).find("nack.target must be 32 bytes, got 31"),
              std::string::npos);
    proto.mutable_nack()->set_target(std::string(32, '\0'));
    EXPECT_NE(failure_of(bytes_of(proto)).find("nack.target is the zero id"), std::string::npos);

    wire::MembershipMessage with_update;
    auto* update = with_update.mutable_ping()->add_gossip();
    with_update.mutable_ping()->set_target(std::string(32, '\x05'));
    update->set_id(std::string(33, '\x01'));
    update->set_address("a:1");
    EXPECT_NE(failure_of(bytes_of(with_update)).find("ping.gossip[0].id must be 32 bytes"),
              std::string::npos);
    update->set_id(std::string(32, '\0'));
    EXPECT_NE(failure_of(bytes_of(with_update)).find("ping.gossip[0].id is the zero id"),
              std::string::npos);
    update->set_id(std::string(32, '\x01'));
    update->set_origin(std::string(5, '\x01'));
    EXPECT_NE(failure_of(bytes_of(with_update)).find("ping.gossip[0].origin must be 32 bytes"),
              std::string::npos);
}

TEST(codec, addresses_states_and_incarnations_are_checked) {
    wire::MembershipMessage proto;
    auto* sync_body = proto.mutable_sync();
    auto* good = sync_body->add_members();
    good->set_id(std::string(32, '\x01'));
    good->set_address("10.0.0.1:7400");
    auto* bad = sync_body->add_members();
    bad->set_id(std::string(32, '\x02'));
    bad->set_address("");
    EXPECT_NE(failure_of(bytes_of(proto)).find("sync.members[1].address is empty"),
              std::string::npos);
    bad->set_address(std::string(300, 'x') + ":1");
    EXPECT_NE(failure_of(bytes_of(proto)).find("sync.members[1].address is 302 bytes"),
              std::string::npos);
    bad->set_address("no-port");
    EXPECT_NE(failure_of(bytes_of(proto)).find("not host:port"), std::string::npos);
    bad->set_address("10.0.0.2:7400");
    bad->set_state(static_cast<wire::MemberState>(9));
    EXPECT_NE(failure_of(bytes_of(proto)).find("sync.members[1].state 9 is not a member state"),
              std::string::npos);
    bad->set_state(static_cast<wire::MemberState>(-1));
    EXPECT_NE(failure_of(bytes_of(proto)).find("not a member state"), std::string::npos);
    bad->set_state(wire::MEMBER_STATE_DEAD);
    bad->set_incarnation(incarnation_max + 1);
    EXPECT_NE(failure_of(bytes_of(proto)).find("sync.members[1].incarnation"), std::string::npos);
    bad->set_incarnation(incarnation_max);
    EXPECT_TRUE(decode(bytes_of(proto)).ok());

    wire::MembershipMessage relay;
    relay.mutable_ping_req()->set_target(std::string(32, '\x03'));
    relay.mutable_ping_req()->set_target_address("nowhere");
    EXPECT_NE(failure_of(bytes_of(relay)).find("ping_req.target_address is not host:port"),
              std::string::npos);
}

TEST(codec, list_lengths_are_bounded) {
    wire::MembershipMessage proto;
    proto.mutable_ack()->set_target(std::string(32, '\x04'));
    for (std::size_t i = 0; i <= gossip_count_max; ++i) {
        auto* update = proto.mutable_ack()->add_gossip();
        update->set_id(std::string(32, '\x01'));
        update->set_address("a:1");
    }
    EXPECT_NE(failure_of(bytes_of(proto)).find("ack.gossip has 65 entries, more than 64"),
              std::string::npos);
    proto.mutable_ack()->mutable_gossip()->RemoveLast();
    EXPECT_TRUE(decode(bytes_of(proto)).ok());

    wire::MembershipMessage big;
    auto* members = big.mutable_sync()->mutable_members();
    members->Reserve(static_cast<int>(sync_members_max + 1));
    wire::MemberUpdate one;
    one.set_id(std::string(32, '\x01'));
    one.set_address("a:1");
    for (std::size_t i = 0; i <= sync_members_max; ++i) {
        *members->Add() = one;
    }
    EXPECT_NE(failure_of(bytes_of(big)).find("sync.members has 100001 entries"),
              std::string::npos);
}

TEST(codec, validate_names_the_bad_field_of_a_struct) {
    EXPECT_TRUE(validate(ping{1, id_of(1), {sample_update(2)}}).ok());
    auto bad = sample_update(2);
    bad.address = "x";
    auto result = validate(ack{1, id_of(1), {sample_update(3), bad}});
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.failure().message.find("ack.gossip[1].address"), std::string::npos);
    EXPECT_FALSE(validate(sync{std::vector<member_update>(3, member_update{}), false}).ok());
}

TEST(codec, encoding_an_invalid_message_is_a_bug) {
    EXPECT_DEATH((void)encode(ping{1, node_id{}, {}}), "validate");
}

// Property: whatever valid message is encoded decodes to itself.
rc::Gen<node_id> gen_id() {
    using bytes_type = std::array<std::uint8_t, 32>;
    return rc::gen::map(rc::gen::container<bytes_type>(rc::gen::arbitrary<std::uint8_t>()),
                        [](bytes_type bytes) {
                            bytes[0] |= 1U; // never the zero id
                            return node_id{bytes};
                        });
}

rc::Gen<member_update> gen_update() {
    return rc::gen::apply(
        [](node_id id, std::uint16_t port, std::uint64_t incarnation, std::uint8_t state,
           bool has_origin, node_id origin) {
            return member_update{id, "h" + std::to_string(port) + ":" + std::to_string(port + 1U),
                                 incarnation % (incarnation_max + 1),
                                 static_cast<member_state>(state % 4),
                                 has_origin ? origin : node_id{}};
        },
        gen_id(), rc::gen::inRange<std::uint16_t>(0, 65535), rc::gen::arbitrary<std::uint64_t>(),
        rc::gen::arbitrary<std::uint8_t>(), rc::gen::arbitrary<bool>(), gen_id());
}

RC_GTEST_PROP(codec, random_messages_round_trip, ()) {
    const auto gossip = *rc::gen::container<std::vector<member_update>>(
        *rc::gen::inRange<std::size_t>(0, gossip_count_max + 1), gen_update());
    const auto seq = *rc::gen::arbitrary<std::uint64_t>();
    const auto target = *gen_id();
    const message original = [&]() -> message {
        switch (*rc::gen::inRange(0, 5)) {
        case 0: return ping{seq, target, gossip};
        case 1: return ping_req{seq, target, "relay.example:9", gossip};
        case 2: return ack{seq, target, gossip};
        case 3: return nack{seq, target};
        default: return sync{gossip, *rc::gen::arbitrary<bool>()};
        }
    }();
    auto decoded = decode(encode(original));
    RC_ASSERT(decoded.ok());
    RC_ASSERT(*decoded == original);
}

// Property: arbitrary bytes never crash the decoder; whatever it accepts is valid and re-encodes.
RC_GTEST_PROP(codec, arbitrary_bytes_never_crash, (const std::string& bytes)) {
    auto decoded = decode(bytes);
    if (decoded.ok()) {
        RC_ASSERT(validate(*decoded).ok());
        auto again = decode(encode(*decoded));
        RC_ASSERT(again.ok());
        RC_ASSERT(*again == *decoded);
    } else {
        RC_ASSERT(!decoded.failure().message.empty());
    }
}

// Property: a valid encoding with a few bytes corrupted is rejected or decodes to something valid.
RC_GTEST_PROP(codec, corrupted_encodings_are_rejected_or_valid, ()) {
    const auto gossip = *rc::gen::container<std::vector<member_update>>(
        *rc::gen::inRange<std::size_t>(1, 8), gen_update());
    std::string bytes = encode(sync{gossip, true});
    const auto flips = *rc::gen::inRange(1, 4);
    for (int i = 0; i < flips; ++i) {
        const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size());
        bytes[at] = static_cast<char>(*rc::gen::arbitrary<std::uint8_t>());
    }
    auto decoded = decode(bytes);
    if (decoded.ok()) {
        RC_ASSERT(validate(*decoded).ok());
    }
}

} // namespace
} // namespace reef::membership
