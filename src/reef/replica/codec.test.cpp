#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>

#include "reef/replica/codec.hpp"
#include "reef/replica/member_set.hpp"
#include "reef/wire/replica.pb.h"

namespace reef::replica {
namespace {

group_id group_of(std::uint8_t first) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = 0x5a;
    return group_id{bytes};
}

const group_id sample_group = group_of(7);

entry entry_at(std::uint64_t index, std::uint64_t epoch, std::string command = "put k v") {
    return entry{index, epoch, request_id{0xc11e47, index}, std::move(command)};
}

std::vector<entry> entries_from(std::uint64_t first, std::size_t count, std::uint64_t epoch = 2) {
    std::vector<entry> out;
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(entry_at(first + i, epoch));
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

void expect_round_trip(const message& original, const group_id& group = sample_group) {
    const std::string bytes = encode(group, original);
    auto decoded = decode(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_EQ(decoded->group, group);
    EXPECT_EQ(decoded->body, original);
    EXPECT_EQ(encode(decoded->group, decoded->body), bytes);
}

wire::ReplicaMessage proto_of(const message& body) {
    wire::ReplicaMessage proto;
    EXPECT_TRUE(proto.ParseFromString(encode(sample_group, body)));
    return proto;
}

std::string bytes_of(const wire::ReplicaMessage& proto) { return proto.SerializeAsString(); }

TEST(codec, every_kind_round_trips) {
    const std::uint64_t big = index_max;
    expect_round_trip(epoch_change{0});
    expect_round_trip(epoch_change{epoch_max});
    expect_round_trip(epoch_promise{3, std::nullopt, {}, 0});
    expect_round_trip(epoch_promise{3, std::nullopt, entries_from(1, 5), 4});
    expect_round_trip(epoch_promise{3, snapshot{10, 2, "state"}, {}, 10});
    expect_round_trip(epoch_promise{3, snapshot{10, 2, ""}, entries_from(11, 3), 12});
    expect_round_trip(append{4, 0, 0, {}, 0, std::nullopt});
    expect_round_trip(append{4, 0, 0, entries_from(1, 2), 1, std::nullopt});
    expect_round_trip(append{4, 9, 3, entries_from(10, 64), 20, std::nullopt});
    expect_round_trip(append{4, 10, 2, entries_from(11, 1), 11, snapshot{10, 2, "s"}});
    expect_round_trip(append{epoch_max, big - 1, epoch_max, {entry_at(big, epoch_max)}, big, {}});
    expect_round_trip(append_reply{5, true, 12, 11});
    expect_round_trip(append_reply{5, false, 0, 0});
    expect_round_trip(stale_epoch{6});
    expect_round_trip(stale_epoch{0}, group_of(0));
}

TEST(codec, entries_keep_opaque_bytes_and_no_op_requests) {
    const std::string binary("\0put\0\xff\x80", 7);
    entry no_op{3, 2, request_id{}, ""};
    expect_round_trip(append{2, 0, 0, {entry_at(1, 1, binary), entry_at(2, 1, ""), no_op}, 0, {}});
    expect_round_trip(epoch_promise{2, snapshot{1, 1, std::string("\0\0\0", 3)}, {}, 1});
    // A no-op's request id costs nothing on the wire.
    const auto proto = proto_of(append{2, 2, 1, {no_op}, 0, {}});
    EXPECT_FALSE(proto.append().entries(0).has_request());
    // A request with only one half set still round trips.
    expect_round_trip(append{2, 0, 0, {entry{1, 1, request_id{0, 9}, "x"}}, 0, {}});
    expect_round_trip(append{2, 0, 0, {entry{1, 1, request_id{9, 0}, "x"}}, 0, {}});
}

TEST(codec, the_largest_messages_fit) {
    // Every entry at the largest command would not fit; the total is bounded instead.
    std::vector<entry> entries;
    std::size_t payload = state_size_max;
    for (std::uint64_t index = 1; index <= entries_max; ++index) {
        const std::size_t size = std::min(command_size_max, payload_size_max - payload);
        payload += size;
        entries.push_back(
            entry{index, epoch_max, request_id{~0ULL, ~0ULL}, std::string(size, 'c')});
    }
    const append largest{epoch_max, 0, epoch_max, entries, index_max,
                         snapshot{index_max, epoch_max, std::string(state_size_max, 's')}};
    ASSERT_TRUE(validate(largest).ok()) << validate(largest).failure().describe();
    const std::string bytes = encode(sample_group, largest);
    EXPECT_LE(bytes.size(), message_size_max);
    expect_round_trip(largest);

    epoch_promise promise{epoch_max, snapshot{index_max - entries_max, 1, ""}, {}, index_max};
    for (std::uint64_t i = 1; i <= entries_max; ++i) {
        promise.log.push_back(entry{index_max - entries_max + i, epoch_max, {~0ULL, ~0ULL}, "c"});
    }
    expect_round_trip(promise);
}

TEST(codec, garbage_empty_and_oversized) {
    EXPECT_EQ(failure_of(""), "group must be 32 bytes, got 0");
    EXPECT_EQ(failure_of("\xff\xff\xff"), "replica message is not a valid protobuf message");
    // Refused on its size alone: these bytes are not even looked at.
    EXPECT_EQ(failure_of(std::string(message_size_max + 1, '\xff')),
              "replica message is 1048577 bytes, more than 1048576");
    wire::ReplicaMessage proto;
    proto.set_group(std::string(32, 'g'));
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "replica message has no body (or a kind this node does not know)");
}

TEST(codec, group_ids_are_32_bytes) {
    auto proto = proto_of(epoch_change{1});
    proto.set_group(std::string(31, 'g'));
    EXPECT_EQ(failure_of(bytes_of(proto)), "group must be 32 bytes, got 31");
    proto.set_group(std::string(33, 'g'));
    EXPECT_EQ(failure_of(bytes_of(proto)), "group must be 32 bytes, got 33");
    proto.clear_group();
    EXPECT_EQ(failure_of(bytes_of(proto)), "group must be 32 bytes, got 0");
}

TEST(codec, entry_counts_are_bounded) {
    auto proto = proto_of(append{1, 0, 0, entries_from(1, entries_max, 1), 0, {}});
    auto* extra = proto.mutable_append()->add_entries();
    extra->set_index(entries_max + 1);
    EXPECT_EQ(failure_of(bytes_of(proto)), "append.entries has 4097 entries, more than 4096");
    proto = proto_of(epoch_promise{1, {}, entries_from(1, entries_max, 1), 0});
    proto.mutable_epoch_promise()->add_log()->set_index(entries_max + 1);
    EXPECT_EQ(failure_of(bytes_of(proto)), "epoch_promise.log has 4097 entries, more than 4096");
    EXPECT_FALSE(validate(append{1, 0, 0, entries_from(1, entries_max + 1, 1), 0, {}}).ok());
}

TEST(codec, entries_are_dense_and_ascending_from_one) {
    const auto base = proto_of(append{2, 0, 0, entries_from(1, 3), 0, {}});
    auto proto = base;
    proto.mutable_append()->mutable_entries(2)->set_index(4);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.entries[2].index is 4, expected 3 (entries are dense)");
    proto.mutable_append()->mutable_entries(2)->set_index(2);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.entries[2].index is 2, expected 3 (entries are dense)");
    proto = base;
    proto.mutable_append()->mutable_entries(1)->set_index(0);
    EXPECT_EQ(failure_of(bytes_of(proto)), "append.entries[1].index is 0 (indexes start at 1)");

    auto promise = proto_of(epoch_promise{2, {}, entries_from(1, 3), 0});
    promise.mutable_epoch_promise()->mutable_log(0)->set_index(0);
    EXPECT_EQ(failure_of(bytes_of(promise)),
              "epoch_promise.log[0].index is 0 (indexes start at 1)");
    promise.mutable_epoch_promise()->mutable_log(0)->set_index(5);
    EXPECT_EQ(failure_of(bytes_of(promise)),
              "epoch_promise.log[0].index is 5, expected 1 (no snapshot)");
    EXPECT_FALSE(validate(epoch_promise{2, {}, {entry_at(1, 1), entry_at(1, 1)}, 0}).ok());
}

TEST(codec, an_append_starts_after_prev_index) {
    auto proto = proto_of(append{2, 5, 1, entries_from(6, 2), 0, {}});
    proto.mutable_append()->set_prev_index(4);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.entries[0].index is 6, expected 5 (append.prev_index + 1)");
    proto.mutable_append()->set_prev_index(index_max);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.entries[0].index is 6, expected 9223372036854775808 "
              "(append.prev_index + 1)");
    // Without entries, prev_index only names where the follower's log must match.
    proto.mutable_append()->clear_entries();
    ASSERT_TRUE(decode(bytes_of(proto)).ok());
}

TEST(codec, a_promise_log_starts_after_its_snapshot) {
    auto proto = proto_of(epoch_promise{3, snapshot{10, 2, "s"}, entries_from(11, 2), 11});
    proto.mutable_epoch_promise()->mutable_base()->set_last_index(9);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "epoch_promise.log[0].index is 11, expected 10 "
              "(right after epoch_promise.base.last_index)");
    proto.mutable_epoch_promise()->clear_base();
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "epoch_promise.log[0].index is 11, expected 1 (no snapshot)");
}

TEST(codec, snapshots_are_checked) {
    auto proto = proto_of(append{2, 10, 2, {}, 10, snapshot{10, 2, "s"}});
    proto.mutable_append()->mutable_base()->set_last_index(0);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.base.last_index is 0 (a snapshot covers at least one entry)");
    proto.mutable_append()->mutable_base()->set_last_index(index_max + 1);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.base.last_index is 9223372036854775808, more than 2^63 - 1");
    proto.mutable_append()->mutable_base()->set_last_index(10);
    proto.mutable_append()->mutable_base()->set_last_epoch(epoch_max + 1);
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.base.last_epoch is 9223372036854775808, more than 2^63 - 1");
    proto.mutable_append()->mutable_base()->set_last_epoch(2);
    proto.mutable_append()->mutable_base()->set_state(std::string(state_size_max + 1, 's'));
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.base.state too large: 524289 bytes, at most 524288");

    auto promise = proto_of(epoch_promise{3, snapshot{4, 1, ""}, {}, 4});
    promise.mutable_epoch_promise()->mutable_base()->clear_last_index();
    EXPECT_EQ(failure_of(bytes_of(promise)),
              "epoch_promise.base.last_index is 0 (a snapshot covers at least one entry)");
    promise.mutable_epoch_promise()->mutable_base()->set_last_index(4);
    promise.mutable_epoch_promise()->mutable_base()->set_state(
        std::string(state_size_max + 1, 's'));
    EXPECT_EQ(failure_of(bytes_of(promise)),
              "epoch_promise.base.state too large: 524289 bytes, at most 524288");
}

TEST(codec, member_changes_and_snapshot_member_sets_are_checked) {
    const std::vector<node_id> members{group_of(1), group_of(2), group_of(3)};
    const entry change{3, 1, {}, encode_member_set(members)};
    expect_round_trip(append{1, 2, 1, {change}, 2, std::nullopt});
    expect_round_trip(append{1, 4, 1, {}, 4, snapshot{4, 1, "s", members}});

    EXPECT_EQ(validate(append{1, 2, 1, {entry{3, 1, {}, "abc"}}, 2, std::nullopt})
                  .failure()
                  .message,
              "append.entries[0].command (a member change): a member set is a non-empty "
              "multiple of 32 bytes, got 3");
    const std::vector<node_id> backwards{group_of(2), group_of(1)};
    EXPECT_NE(validate(append{1, 2, 1, {entry{3, 1, {}, std::string(64, '\x01')}}, 2,
                              std::nullopt})
                  .failure()
                  .message.find("not greater than the one before it"),
              std::string::npos);
    EXPECT_EQ(validate(append{1, 4, 1, {}, 4, snapshot{4, 1, "s", backwards}}).failure().message,
              "append.base.members must be 1..16 non-zero ids, strictly ascending");
    auto proto = proto_of(append{1, 4, 1, {}, 4, snapshot{4, 1, "s", members}});
    proto.mutable_append()->mutable_base()->set_members(std::string(33, 'm'));
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.base.members: a member set is a non-empty multiple of 32 bytes, got 33");
    proto.mutable_append()->mutable_base()->set_members(std::string(32, '\0'));
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.base.members: member 0 of a member set is the zero id");
}

TEST(codec, commands_and_payload_are_bounded) {
    auto proto = proto_of(append{2, 0, 0, entries_from(1, 2), 0, {}});
    proto.mutable_append()->mutable_entries(1)->set_command(std::string(command_size_max + 1, 'c'));
    EXPECT_EQ(failure_of(bytes_of(proto)),
              "append.entries[1].command too large: 65537 bytes, at most 65536");
    auto promise = proto_of(epoch_promise{2, {}, entries_from(1, 1), 0});
    promise.mutable_epoch_promise()->mutable_log(0)->set_command(
        std::string(command_size_max + 1, 'c'));
    EXPECT_EQ(failure_of(bytes_of(promise)),
              "epoch_promise.log[0].command too large: 65537 bytes, at most 65536");

    // Every command within bounds, the message under the frame limit, yet too much in total.
    std::vector<entry> entries;
    std::size_t payload = 0;
    for (std::uint64_t index = 1; payload <= payload_size_max; ++index) {
        entries.push_back(entry{index, 1, {1, index}, std::string(command_size_max, 'c')});
        payload += command_size_max;
    }
    const append too_much{2, 0, 0, entries, 0, {}};
    EXPECT_EQ(validate(too_much).failure().message,
              "append carries " + std::to_string(payload) +
                  " bytes of commands and snapshot state, more than " +
                  std::to_string(payload_size_max));
    wire::ReplicaMessage built;
    built.set_group(std::string(32, 'g'));
    for (const auto& item : entries) {
        auto* added = built.mutable_append()->add_entries();
        added->set_index(item.index);
        added->mutable_request()->set_client(item.request.client);
        added->mutable_request()->set_sequence(item.request.sequence);
        added->set_command(item.command);
    }
    ASSERT_LE(built.ByteSizeLong(), message_size_max);
    EXPECT_EQ(failure_of(bytes_of(built)), validate(too_much).failure().message);
    EXPECT_FALSE(validate(epoch_promise{2, snapshot{1, 1, std::string(state_size_max, 's')},
                                        std::vector<entry>(entries.begin(), entries.begin() + 5),
                                        0})
                     .ok());
}

TEST(codec, indexes_and_epochs_leave_room_for_one_more) {
    const std::uint64_t over = index_max + 1;
    auto check = [](const message& body, const std::string& expected) {
        EXPECT_EQ(validate(body).failure().message, expected);
        wire::ReplicaMessage proto;
        proto.set_group(std::string(32, 'g'));
        // Encode the out-of-range message by hand: encode() refuses it.
        std::visit(
            [&](const auto& m) {
                using T = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<T, epoch_change>) {
                    proto.mutable_epoch_change()->set_epoch(m.epoch);
                } else if constexpr (std::is_same_v<T, stale_epoch>) {
                    proto.mutable_stale_epoch()->set_promised(m.promised);
                } else if constexpr (std::is_same_v<T, append_reply>) {
                    auto* out = proto.mutable_append_reply();
                    out->set_epoch(m.epoch);
                    out->set_last_index(m.last_index);
                    out->set_commit_index(m.commit_index);
                }
            },
            body);
        if (proto.has_epoch_change() || proto.has_stale_epoch() || proto.has_append_reply()) {
            EXPECT_EQ(failure_of(bytes_of(proto)), expected);
        }
    };
    const std::string more = " is 9223372036854775808, more than 2^63 - 1";
    check(epoch_change{over}, "epoch_change.epoch" + more);
    check(stale_epoch{over}, "stale_epoch.promised" + more);
    check(append_reply{over, true, 1, 1}, "append_reply.epoch" + more);
    check(append_reply{1, true, over, 1}, "append_reply.last_index" + more);
    check(append_reply{1, true, 1, over}, "append_reply.commit_index" + more);
    check(epoch_promise{over, {}, {}, 0}, "epoch_promise.epoch" + more);
    check(epoch_promise{1, {}, {}, over}, "epoch_promise.commit_index" + more);
    check(epoch_promise{1, {}, {entry_at(1, over)}, 0}, "epoch_promise.log[0].epoch" + more);
    check(append{over, 0, 0, {}, 0, {}}, "append.epoch" + more);
    check(append{1, over, 0, {}, 0, {}}, "append.prev_index" + more);
    check(append{1, 0, over, {}, 0, {}}, "append.prev_epoch" + more);
    check(append{1, 0, 0, {}, over, {}}, "append.commit_index" + more);
    check(append{1, index_max, 0, {entry_at(over, 1)}, 0, {}},
          "append.entries[0].index" + more);

    auto proto = proto_of(append{1, 0, 0, entries_from(1, 1), 0, {}});
    proto.mutable_append()->mutable_entries(0)->set_epoch(over);
    EXPECT_EQ(failure_of(bytes_of(proto)), "append.entries[0].epoch" + more);
    proto = proto_of(epoch_change{1});
    proto.mutable_epoch_change()->set_epoch(std::numeric_limits<std::uint64_t>::max());
    EXPECT_FALSE(decode(bytes_of(proto)).ok());
}

TEST(codec, unknown_fields_are_ignored) {
    // Forward compatibility: a newer peer may add fields; they are skipped, not fatal.
    std::string bytes = encode(sample_group, append_reply{3, true, 4, 4});
    bytes += std::string("\xa0\x06\x01", 3); // field 100, varint 1
    auto decoded = decode(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_EQ(decoded->body, (message{append_reply{3, true, 4, 4}}));
}

TEST(codec, encode_refuses_invalid_messages) {
    EXPECT_DEATH((void)encode(sample_group, append{1, 0, 0, {entry_at(2, 1)}, 0, {}}), "validate");
}

// Property: whatever valid message is encoded decodes to itself.
rc::Gen<std::vector<entry>> gen_entries(std::uint64_t first) {
    return rc::gen::mapcat(rc::gen::inRange<std::size_t>(0, 12), [first](std::size_t count) {
        return rc::gen::map(
            rc::gen::container<std::vector<std::tuple<std::uint64_t, request_id, std::string>>>(
                count, rc::gen::tuple(rc::gen::inRange<std::uint64_t>(0, 8),
                                      rc::gen::construct<request_id>(
                                          rc::gen::arbitrary<std::uint64_t>(),
                                          rc::gen::arbitrary<std::uint64_t>()),
                                      rc::gen::arbitrary<std::string>())),
            [first](const auto& items) {
                std::vector<entry> out;
                for (std::size_t i = 0; i < items.size(); ++i) {
                    const auto& [epoch, request, command] = items[i];
                    out.push_back(entry{first + i, epoch, request, command});
                }
                return out;
            });
    });
}

RC_GTEST_PROP(codec, random_messages_round_trip, ()) {
    const auto epoch = *rc::gen::inRange<std::uint64_t>(0, 1000);
    const auto group = group_of(*rc::gen::arbitrary<std::uint8_t>());
    std::optional<snapshot> base;
    if (*rc::gen::arbitrary<bool>()) {
        base = snapshot{*rc::gen::inRange<std::uint64_t>(1, 100), epoch,
                        *rc::gen::arbitrary<std::string>()};
    }
    const std::uint64_t after_base = base ? base->last_index + 1 : 1;
    const auto prev_index = *rc::gen::inRange<std::uint64_t>(0, 200);
    const message original = [&]() -> message {
        switch (*rc::gen::inRange(0, 5)) {
        case 0: return epoch_change{epoch};
        case 1: return epoch_promise{epoch, base, *gen_entries(after_base), prev_index};
        case 2:
            return append{epoch, prev_index, epoch, *gen_entries(prev_index + 1), prev_index, base};
        case 3: return append_reply{epoch, *rc::gen::arbitrary<bool>(), prev_index, prev_index};
        default: return stale_epoch{epoch};
        }
    }();
    RC_ASSERT(validate(original).ok());
    auto decoded = decode(encode(group, original));
    RC_ASSERT(decoded.ok());
    RC_ASSERT(decoded->group == group);
    RC_ASSERT(decoded->body == original);
}

// Property: arbitrary bytes never crash the decoder; whatever it accepts is valid and re-encodes.
RC_GTEST_PROP(codec, arbitrary_bytes_never_crash, (const std::string& bytes)) {
    auto decoded = decode(bytes);
    if (decoded.ok()) {
        RC_ASSERT(validate(decoded->body).ok());
        auto again = decode(encode(decoded->group, decoded->body));
        RC_ASSERT(again.ok());
        RC_ASSERT(*again == *decoded);
    } else {
        RC_ASSERT(!decoded.failure().message.empty());
    }
}

// Property: a valid encoding with a few bytes corrupted is rejected or decodes to something valid.
RC_GTEST_PROP(codec, corrupted_encodings_are_rejected_or_valid, ()) {
    const message original =
        append{3, 4, 2, entries_from(5, *rc::gen::inRange<std::size_t>(1, 8)), 4,
               snapshot{4, 2, "state"}};
    std::string bytes = encode(sample_group, original);
    const auto flips = *rc::gen::inRange(1, 4);
    for (int i = 0; i < flips; ++i) {
        const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size());
        bytes[at] = static_cast<char>(*rc::gen::arbitrary<std::uint8_t>());
    }
    auto decoded = decode(bytes);
    if (decoded.ok()) {
        RC_ASSERT(validate(decoded->body).ok());
        RC_ASSERT(decode(encode(decoded->group, decoded->body)).ok());
    } else {
        RC_ASSERT(!decoded.failure().message.empty());
    }
}

} // namespace
} // namespace reef::replica
