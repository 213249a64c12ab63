#include "reef/membership/codec.hpp"

#include "reef/base/address.hpp"

#include <charconv>
#include <cstring>
#include <limits>

#include "reef/wire/codec_support.hpp"
#include "reef/wire/membership.pb.h"

namespace reef::membership {

namespace {

using proto_updates = google::protobuf::RepeatedPtrField<wire::MemberUpdate>;

// Protobuf uses int for sizes; anything near that is far beyond every bound below anyway.
constexpr std::size_t message_size_max = std::numeric_limits<int>::max() / 2;

using wire::get_id;
using wire::invalid;

void put_id(std::string* out, const node_id& id) { wire::put_bytes(out, id.bytes()); }

void put_update(wire::MemberUpdate* out, const member_update& update) {
    put_id(out->mutable_id(), update.id);
    out->set_address(update.address);
    out->set_incarnation(update.incarnation);
    out->set_state(static_cast<wire::MemberState>(update.state));
    if (!update.origin.is_zero()) {
        put_id(out->mutable_origin(), update.origin);
    }
}

void put_updates(proto_updates* out, const std::vector<member_update>& updates) {
    out->Reserve(static_cast<int>(updates.size()));
    for (const auto& update : updates) {
        put_update(out->Add(), update);
    }
}


status check_address(const std::string& address, const std::string& field) {
    if (address.empty()) {
        return invalid(field + " is empty");
    }
    if (address.size() > address_size_max) {
        return invalid(field + " is " + std::to_string(address.size()) + " bytes, more than " +
                       std::to_string(address_size_max));
    }
    if (!is_valid_address(address)) {
        return invalid(field + " is not host:port");
    }
    return {};
}

status check_update(const member_update& update, const std::string& field) {
    if (update.id.is_zero()) {
        return invalid(field + ".id is the zero id");
    }
    if (auto ok = check_address(update.address, field + ".address"); !ok) {
        return ok;
    }
    if (static_cast<int>(update.state) > static_cast<int>(member_state::left)) {
        return invalid(field + ".state " + std::to_string(static_cast<int>(update.state)) +
                       " is not a member state");
    }
    if (update.incarnation > incarnation_max) {
        return invalid(field + ".incarnation " + std::to_string(update.incarnation) +
                       " is larger than " + std::to_string(incarnation_max));
    }
    return {};
}

status check_updates(const std::vector<member_update>& updates, std::size_t count_max,
                     const std::string& field) {
    if (updates.size() > count_max) {
        return invalid(field + " has " + std::to_string(updates.size()) +
                       " entries, more than " + std::to_string(count_max));
    }
    for (std::size_t i = 0; i < updates.size(); ++i) {
        if (auto ok = check_update(updates[i], field + "[" + std::to_string(i) + "]"); !ok) {
            return ok;
        }
    }
    return {};
}

// Structural conversion only (lengths, enum range); content rules are validate()'s.
result<member_update> get_update(const wire::MemberUpdate& in, const std::string& field) {
    auto id = get_id(in.id(), field + ".id");
    if (!id) {
        return id.failure();
    }
    const int state = static_cast<int>(in.state());
    if (state < static_cast<int>(member_state::alive) ||
        state > static_cast<int>(member_state::left)) {
        return invalid(field + ".state " + std::to_string(state) + " is not a member state");
    }
    member_update out;
    out.id = *id;
    out.address = in.address();
    out.incarnation = in.incarnation();
    out.state = static_cast<member_state>(state);
    if (!in.origin().empty()) {
        auto origin = get_id(in.origin(), field + ".origin");
        if (!origin) {
            return origin.failure();
        }
        out.origin = *origin;
    }
    return out;
}

result<std::vector<member_update>> get_updates(const proto_updates& in, std::size_t count_max,
                                               const std::string& field) {
    const auto count = static_cast<std::size_t>(in.size());
    if (count > count_max) {
        return invalid(field + " has " + std::to_string(count) + " entries, more than " +
                       std::to_string(count_max));
    }
    std::vector<member_update> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::string path = field + "[" + std::to_string(i) + "]";
        auto update = get_update(in.Get(static_cast<int>(i)), path);
        if (!update) {
            return update.failure();
        }
        out.push_back(std::move(*update));
    }
    return out;
}

result<message> get_ping(const wire::Ping& in) {
    auto target = get_id(in.target(), "ping.target");
    if (!target) {
        return target.failure();
    }
    auto gossip = get_updates(in.gossip(), gossip_count_max, "ping.gossip");
    if (!gossip) {
        return gossip.failure();
    }
    return message{ping{in.seq(), *target, std::move(*gossip)}};
}

result<message> get_ping_req(const wire::PingReq& in) {
    auto target = get_id(in.target(), "ping_req.target");
    if (!target) {
        return target.failure();
    }
    auto gossip = get_updates(in.gossip(), gossip_count_max, "ping_req.gossip");
    if (!gossip) {
        return gossip.failure();
    }
    return message{ping_req{in.seq(), *target, in.target_address(), std::move(*gossip)}};
}

result<message> get_ack(const wire::Ack& in) {
    auto target = get_id(in.target(), "ack.target");
    if (!target) {
        return target.failure();
    }
    auto gossip = get_updates(in.gossip(), gossip_count_max, "ack.gossip");
    if (!gossip) {
        return gossip.failure();
    }
    return message{ack{in.seq(), *target, std::move(*gossip)}};
}

result<message> get_nack(const wire::Nack& in) {
    auto target = get_id(in.target(), "nack.target");
    if (!target) {
        return target.failure();
    }
    return message{nack{in.seq(), *target}};
}

result<message> get_sync(const wire::Sync& in) {
    auto members = get_updates(in.members(), sync_members_max, "sync.members");
    if (!members) {
        return members.failure();
    }
    return message{sync{std::move(*members), in.reply_wanted()}};
}

result<message> get_message(const wire::MembershipMessage& proto) {
    switch (proto.body_case()) {
    case wire::MembershipMessage::kPing: return get_ping(proto.ping());
    case wire::MembershipMessage::kPingReq: return get_ping_req(proto.ping_req());
    case wire::MembershipMessage::kAck: return get_ack(proto.ack());
    case wire::MembershipMessage::kNack: return get_nack(proto.nack());
    case wire::MembershipMessage::kSync: return get_sync(proto.sync());
    case wire::MembershipMessage::BODY_NOT_SET: break;
    }
    return invalid("membership message has no body (or a kind this node does not know)");
}

} // namespace

bool is_valid_address(std::string_view address) {
    return parse_host_port(address, port_zero::refused).ok();
}

std::string encode(const message& body) {
    REEF_ASSERT(validate(body).ok());
    wire::MembershipMessage proto;
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, ping>) {
                auto* out = proto.mutable_ping();
                out->set_seq(m.seq);
                put_id(out->mutable_target(), m.target);
                put_updates(out->mutable_gossip(), m.gossip);
            } else if constexpr (std::is_same_v<T, ping_req>) {
                auto* out = proto.mutable_ping_req();
                out->set_seq(m.seq);
                put_id(out->mutable_target(), m.target);
                out->set_target_address(m.target_address);
                put_updates(out->mutable_gossip(), m.gossip);
            } else if constexpr (std::is_same_v<T, ack>) {
                auto* out = proto.mutable_ack();
                out->set_seq(m.seq);
                put_id(out->mutable_target(), m.target);
                put_updates(out->mutable_gossip(), m.gossip);
            } else if constexpr (std::is_same_v<T, nack>) {
                auto* out = proto.mutable_nack();
                out->set_seq(m.seq);
                put_id(out->mutable_target(), m.target);
            } else {
                static_assert(std::is_same_v<T, sync>);
                auto* out = proto.mutable_sync();
                put_updates(out->mutable_members(), m.members);
                out->set_reply_wanted(m.reply_wanted);
            }
        },
        body);
    std::string out;
    const bool written = proto.SerializeToString(&out);
    REEF_ASSERT(written);
    REEF_ASSERT(out.size() < message_size_max);
    return out;
}

status validate(const message& body) {
    return std::visit(
        [](const auto& m) -> status {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, ping>) {
                if (auto ok = wire::check_nonzero_id(m.target, "ping.target"); !ok) {
                    return ok;
                }
                return check_updates(m.gossip, gossip_count_max, "ping.gossip");
            } else if constexpr (std::is_same_v<T, ping_req>) {
                if (auto ok = wire::check_nonzero_id(m.target, "ping_req.target"); !ok) {
                    return ok;
                }
                if (auto ok = check_address(m.target_address, "ping_req.target_address"); !ok) {
                    return ok;
                }
                return check_updates(m.gossip, gossip_count_max, "ping_req.gossip");
            } else if constexpr (std::is_same_v<T, ack>) {
                if (auto ok = wire::check_nonzero_id(m.target, "ack.target"); !ok) {
                    return ok;
                }
                return check_updates(m.gossip, gossip_count_max, "ack.gossip");
            } else if constexpr (std::is_same_v<T, nack>) {
                return wire::check_nonzero_id(m.target, "nack.target");
            } else {
                static_assert(std::is_same_v<T, sync>);
                return check_updates(m.members, sync_members_max, "sync.members");
            }
        },
        body);
}

result<message> decode(std::string_view bytes) {
    wire::MembershipMessage proto;
    if (auto parsed = wire::parse_bounded(proto, bytes, message_size_max, "membership message");
        !parsed) {
        return parsed.failure();
    }
    auto out = get_message(proto);
    if (!out) {
        return out;
    }
    if (auto ok = validate(*out); !ok) {
        return ok.failure();
    }
    return out;
}

} // namespace reef::membership
