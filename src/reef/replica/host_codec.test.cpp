#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <limits>

#include "reef/replica/host_codec.hpp"
#include "reef/wire/replica.pb.h"

namespace reef::replica {
namespace {

id256 id_of(std::uint8_t first, std::uint8_t last = 0x5a) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = last;
    return id256{bytes};
}

const group_id sample_group = id_of(7);

std::vector<node_id> members_of(std::size_t count) {
    std::vector<node_id> out;
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(id_of(static_cast<std::uint8_t>(i + 1)));
    }
    return out;
}

bool same(const host_message& a, const host_message& b) {
    if (a.index() != b.index()) {
        return false;
    }
    if (const auto* x = std::get_if<group_traffic>(&a)) {
        const auto& y = std::get<group_traffic>(b);
        return x->group == y.group && x->members == y.members && x->body == y.body;
    }
    if (const auto* x = std::get_if<client_request>(&a)) {
        const auto& y = std::get<client_request>(b);
        return x->id == y.id && x->group == y.group && x->members == y.members &&
               x->request == y.request && x->command == y.command && x->create == y.create;
    }
    const auto& x = std::get<client_answer>(a);
    const auto& y = std::get<client_answer>(b);
    return x.id == y.id && x.applied == y.applied && x.answer == y.answer &&
           x.leader == y.leader && x.members == y.members && x.request == y.request;
}

void expect_round_trip(const host_message& original) {
    ASSERT_TRUE(validate_host(original).ok()) << validate_host(original).failure().describe();
    const std::string bytes = encode(original);
    EXPECT_LE(bytes.size(), message_size_max);
    auto decoded = decode_host(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_TRUE(same(*decoded, original));
    EXPECT_EQ(encode(*decoded), bytes);
}

std::string failure_of(std::string_view bytes) {
    auto decoded = decode_host(bytes);
    EXPECT_FALSE(decoded.ok());
    if (decoded.ok()) {
        return {};
    }
    EXPECT_EQ(decoded.failure().code, errc::invalid_argument);
    return decoded.failure().message;
}

std::string invalid_of(const host_message& body) {
    auto ok = validate_host(body);
    EXPECT_FALSE(ok.ok());
    if (ok.ok()) {
        return {};
    }
    EXPECT_EQ(ok.failure().code, errc::invalid_argument);
    return ok.failure().message;
}

std::string raw(const id256& id) {
    return {reinterpret_cast<const char*>(id.bytes().data()), id.bytes().size()};
}

wire::ReplicaHostMessage proto_of(const host_message& body) {
    wire::ReplicaHostMessage proto;
    EXPECT_TRUE(proto.ParseFromString(encode(body)));
    return proto;
}

const host_message sample_traffic = group_traffic{sample_group, members_of(3), epoch_change{4}};
const host_message sample_request =
    client_request{9, sample_group, members_of(3), request_id{5, 6}, "incr"};
const host_message sample_answer = client_answer{9, true, "ok", std::nullopt, {}, {}};

TEST(host_codec, every_kind_round_trips) {
    const std::string binary("\0put\0\xff\x80", 7);
    expect_round_trip(sample_traffic);
    expect_round_trip(group_traffic{id256{}, members_of(1), stale_epoch{0}});
    expect_round_trip(group_traffic{
        sample_group, members_of(16),
        append{3, 0, 0, {entry{1, 3, request_id{}, ""}, entry{2, 3, request_id{1, 2}, binary}},
               1, std::nullopt}});
    expect_round_trip(group_traffic{sample_group, members_of(2),
                                    epoch_promise{2, snapshot{4, 1, binary}, {}, 4}});
    expect_round_trip(group_traffic{sample_group, members_of(5), append_reply{1, false, 0, 0}});
    expect_round_trip(sample_request);
    expect_round_trip(client_request{0, sample_group, members_of(1), request_id{}, ""});
    expect_round_trip(client_request{std::numeric_limits<std::uint64_t>::max(), sample_group,
                                     members_of(16), request_id{1, 1}, binary});
    expect_round_trip(client_request{1, sample_group, members_of(2), request_id{},
                                     std::string(command_size_max, 'c')});
    expect_round_trip(sample_answer);
    expect_round_trip(client_answer{1, false, "", id_of(3), {id_of(1), id_of(3)}, {}});
    expect_round_trip(client_answer{1, false, "", std::nullopt, {}, {}});
    expect_round_trip(client_answer{2, true, "", std::nullopt, {}, {}});
    expect_round_trip(client_answer{4, true, "v", std::nullopt, {}, request_id{7, 8}});
    expect_round_trip(client_answer{2, true, binary, id_of(0, 1), {}, {}});
    expect_round_trip(client_answer{3, true, std::string(answer_size_max, 'a'), id_of(9), {}, {}});
}

TEST(host_codec, absent_leader_and_request_are_empty_on_the_wire) {
    const auto answer = proto_of(sample_answer);
    EXPECT_TRUE(answer.answer().leader().empty());
    const auto request =
        proto_of(client_request{1, sample_group, members_of(1), request_id{}, "get"});
    EXPECT_FALSE(request.request().has_request());
}

TEST(host_codec, the_largest_traffic_fits_one_message) {
    // Every entry with the longest varints and request id, 16 members, and commands plus snapshot
    // state filling payload_size_max.
    constexpr std::uint64_t top = index_max;
    const std::size_t command = 63;
    std::vector<entry> entries;
    for (std::size_t i = 0; i < entries_max; ++i) {
        entries.push_back(entry{top - entries_max + 1 + i, epoch_max,
                                request_id{std::numeric_limits<std::uint64_t>::max(),
                                           std::numeric_limits<std::uint64_t>::max()},
                                std::string(command, 'x')});
    }
    const std::size_t state = state_size_max;
    ASSERT_GE(payload_size_max, state + entries_max * command);
    entries[0].command += std::string(payload_size_max - state - entries_max * command, 'y');
    const host_message largest = group_traffic{
        id_of(0xff, 0xff), members_of(host_members_max),
        append{epoch_max, top - entries_max, epoch_max, std::move(entries), top,
               snapshot{top, epoch_max, std::string(state, 's')}}};
    const std::string bytes = encode(largest);
    EXPECT_LE(bytes.size(), message_size_max);
    auto decoded = decode_host(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_TRUE(same(*decoded, largest));
}

TEST(host_codec, member_sets_are_checked) {
    auto traffic_with = [](std::vector<node_id> members) -> host_message {
        return group_traffic{sample_group, std::move(members), epoch_change{1}};
    };
    auto request_with = [](std::vector<node_id> members) -> host_message {
        return client_request{1, sample_group, std::move(members), request_id{}, "get"};
    };
    EXPECT_EQ(invalid_of(traffic_with({})),
              "traffic.members is empty (a group has at least one member)");
    EXPECT_EQ(invalid_of(request_with(members_of(17))), "request.members has 17 ids, more than 16");
    EXPECT_EQ(invalid_of(traffic_with({id_of(1), id256{}})), "traffic.members[1] is the zero id");
    EXPECT_EQ(invalid_of(request_with({id_of(2), id_of(1)})),
              "request.members[1] is not greater than request.members[0] (members are sorted and "
              "unique)");
    EXPECT_EQ(invalid_of(traffic_with({id_of(1), id_of(1)})),
              "traffic.members[1] is not greater than traffic.members[0] (members are sorted and "
              "unique)");

    // The same rules on the wire, plus the id length.
    auto traffic = proto_of(sample_traffic);
    traffic.mutable_traffic()->clear_members();
    EXPECT_EQ(failure_of(traffic.SerializeAsString()),
              "traffic.members is empty (a group has at least one member)");
    auto request = proto_of(sample_request);
    for (int i = 0; i < 14; ++i) {
        request.mutable_request()->add_members(raw(id_of(static_cast<std::uint8_t>(50 + i))));
    }
    EXPECT_EQ(failure_of(request.SerializeAsString()), "request.members has 17 ids, more than 16");
    request = proto_of(sample_request);
    request.mutable_request()->set_members(1, "short");
    EXPECT_EQ(failure_of(request.SerializeAsString()),
              "request.members[1] must be 32 bytes, got 5");
    request.mutable_request()->set_members(1, raw(id256{}));
    EXPECT_EQ(failure_of(request.SerializeAsString()), "request.members[1] is the zero id");
    traffic = proto_of(sample_traffic);
    traffic.mutable_traffic()->set_members(2, raw(id_of(1)));
    EXPECT_EQ(failure_of(traffic.SerializeAsString()),
              "traffic.members[2] is not greater than traffic.members[1] (members are sorted and "
              "unique)");
    traffic.mutable_traffic()->set_members(2, raw(id_of(2)));
    EXPECT_EQ(failure_of(traffic.SerializeAsString()),
              "traffic.members[2] is not greater than traffic.members[1] (members are sorted and "
              "unique)");
}

TEST(host_codec, group_ids_are_checked) {
    auto request = proto_of(sample_request);
    request.mutable_request()->set_group(std::string(31, 'g'));
    EXPECT_EQ(failure_of(request.SerializeAsString()), "request.group must be 32 bytes, got 31");
    request.mutable_request()->clear_group();
    EXPECT_EQ(failure_of(request.SerializeAsString()), "request.group must be 32 bytes, got 0");
    auto traffic = proto_of(sample_traffic);
    traffic.mutable_traffic()->mutable_message()->set_group(std::string(33, 'g'));
    EXPECT_EQ(failure_of(traffic.SerializeAsString()),
              "traffic.message: group must be 32 bytes, got 33");
}

TEST(host_codec, the_group_message_is_checked_as_decode_does) {
    auto traffic = proto_of(sample_traffic);
    traffic.mutable_traffic()->clear_message();
    EXPECT_EQ(failure_of(traffic.SerializeAsString()), "traffic.message is missing");
    traffic = proto_of(sample_traffic);
    traffic.mutable_traffic()->mutable_message()->clear_body();
    EXPECT_EQ(failure_of(traffic.SerializeAsString()),
              "traffic.message: replica message has no body (or a kind this node does not know)");
    traffic = proto_of(group_traffic{sample_group, members_of(3),
                                     append{2, 4, 1, {entry{5, 2, request_id{}, ""}}, 4, {}}});
    traffic.mutable_traffic()->mutable_message()->mutable_append()->mutable_entries(0)->set_index(
        7);
    EXPECT_EQ(failure_of(traffic.SerializeAsString()),
              "traffic.message: append.entries[0].index is 7, expected 5 (append.prev_index + 1)");
    EXPECT_EQ(invalid_of(group_traffic{sample_group, members_of(1), epoch_change{epoch_max + 1}}),
              "traffic.message: epoch_change.epoch is 9223372036854775808, more than 2^63 - 1");
}

TEST(host_codec, sizes_are_checked) {
    const std::string long_command(command_size_max + 1, 'c');
    const std::string long_answer(answer_size_max + 1, 'a');
    EXPECT_EQ(invalid_of(client_request{1, sample_group, members_of(1), {}, long_command}),
              "request.command too large: 65537 bytes, at most 65536");
    EXPECT_EQ(invalid_of(client_answer{1, true, long_answer, std::nullopt, {}, {}}),
              "answer.answer too large: 65537 bytes, at most 65536");
    auto request = proto_of(sample_request);
    request.mutable_request()->set_command(long_command);
    EXPECT_EQ(failure_of(request.SerializeAsString()),
              "request.command too large: 65537 bytes, at most 65536");
    auto answer = proto_of(sample_answer);
    answer.mutable_answer()->set_answer(long_answer);
    EXPECT_EQ(failure_of(answer.SerializeAsString()),
              "answer.answer too large: 65537 bytes, at most 65536");
    const std::string whole(message_size_max + 1, '\0');
    EXPECT_EQ(failure_of(whole), "replica host message is 1048577 bytes, more than 1048576");
}

TEST(host_codec, leaders_are_checked) {
    EXPECT_EQ(invalid_of(client_answer{1, false, "", id256{}, {}, {}}),
              "answer.leader is the zero id");
    auto answer = proto_of(sample_answer);
    answer.mutable_answer()->set_leader("abc");
    EXPECT_EQ(failure_of(answer.SerializeAsString()), "answer.leader must be 32 bytes, got 3");
    answer.mutable_answer()->set_leader(raw(id256{}));
    EXPECT_EQ(failure_of(answer.SerializeAsString()), "answer.leader is the zero id");
}

TEST(host_codec, malformed_input_is_rejected) {
    EXPECT_EQ(failure_of(""),
              "replica host message has no body (or a kind this node does not know)");
    EXPECT_EQ(failure_of("\xff\xff\xff"), "replica host message is not a valid protobuf message");
    // An unknown kind (field 9) is not a body this node knows.
    EXPECT_EQ(failure_of(std::string("\x4a\x00", 2)),
              "replica host message has no body (or a kind this node does not know)");
}

// Property: random messages of every kind round-trip.
RC_GTEST_PROP(host_codec, random_messages_round_trip, ()) {
    auto members = *rc::gen::container<std::vector<std::uint8_t>>(
        *rc::gen::inRange<std::size_t>(1, host_members_max + 1),
        rc::gen::inRange<std::uint8_t>(1, 255));
    std::sort(members.begin(), members.end());
    members.erase(std::unique(members.begin(), members.end()), members.end());
    std::vector<node_id> ids;
    for (auto first : members) {
        ids.push_back(id_of(first));
    }
    const group_id group = id_of(*rc::gen::arbitrary<std::uint8_t>(), 0);
    const auto id = *rc::gen::arbitrary<std::uint64_t>();
    host_message original;
    switch (*rc::gen::inRange(0, 3)) {
    case 0: {
        const auto epoch = *rc::gen::inRange<std::uint64_t>(0, 1000);
        original = group_traffic{group, ids,
                                 append{epoch, 0, 0,
                                        {entry{1, epoch, request_id{id, 1},
                                               *rc::gen::arbitrary<std::string>()}},
                                        0, std::nullopt}};
        break;
    }
    case 1:
        original = client_request{id, group, ids,
                                  request_id{*rc::gen::arbitrary<std::uint64_t>(),
                                             *rc::gen::arbitrary<std::uint64_t>()},
                                  *rc::gen::arbitrary<std::string>(),
                                  *rc::gen::arbitrary<bool>()};
        break;
    default: {
        std::optional<node_id> leader;
        if (*rc::gen::arbitrary<bool>()) {
            leader = ids.back();
        }
        original = client_answer{id, *rc::gen::arbitrary<bool>(),
                                 *rc::gen::arbitrary<std::string>(), leader,
                                 *rc::gen::arbitrary<bool>() ? ids : std::vector<node_id>{},
                                 request_id{*rc::gen::arbitrary<std::uint64_t>(),
                                            *rc::gen::arbitrary<std::uint64_t>()}};
    }
    }
    RC_ASSERT(validate_host(original).ok());
    auto decoded = decode_host(encode(original));
    RC_ASSERT(decoded.ok());
    RC_ASSERT(same(*decoded, original));
}

// Property: random bytes never crash; what decodes is valid and round-trips.
RC_GTEST_PROP(host_codec, arbitrary_bytes_never_crash, (const std::string& bytes)) {
    auto decoded = decode_host(bytes);
    if (decoded.ok()) {
        RC_ASSERT(validate_host(*decoded).ok());
        auto again = decode_host(encode(*decoded));
        RC_ASSERT(again.ok());
        RC_ASSERT(same(*again, *decoded));
    } else {
        RC_ASSERT(!decoded.failure().message.empty());
    }
}

// Property: a valid encoding with a few bytes corrupted is rejected or decodes to something valid.
RC_GTEST_PROP(host_codec, corrupted_encodings_are_rejected_or_valid, ()) {
    const host_message originals[] = {sample_traffic, sample_request,
                                      client_answer{3, false, "no", id_of(2), {}, {}}};
    std::string bytes = encode(originals[*rc::gen::inRange(0, 3)]);
    const auto flips = *rc::gen::inRange(1, 4);
    for (int i = 0; i < flips; ++i) {
        const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size());
        bytes[at] = static_cast<char>(*rc::gen::arbitrary<std::uint8_t>());
    }
    auto decoded = decode_host(bytes);
    if (decoded.ok()) {
        RC_ASSERT(validate_host(*decoded).ok());
        RC_ASSERT(decode_host(encode(*decoded)).ok());
    } else {
        RC_ASSERT(!decoded.failure().message.empty());
    }
}

} // namespace
} // namespace reef::replica
