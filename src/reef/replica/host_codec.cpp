#include "reef/replica/host_codec.hpp"

#include <type_traits>
#include <utility>
#include <vector>

#include "reef/wire/codec_support.hpp"
#include "reef/wire/replica.pb.h"

namespace reef::replica {

namespace {

using proto_ids = google::protobuf::RepeatedPtrField<std::string>;

using wire::invalid;

// ---- Shape rules (shared by validate_host() and decode_host()).

status check_count(std::size_t count, const std::string& field) {
    if (count == 0) {
        return invalid(field + " is empty (a group has at least one member)");
    }
    if (count > host_members_max) {
        return invalid(field + " has " + std::to_string(count) + " ids, more than " +
                       std::to_string(host_members_max));
    }
    return {};
}

/// Every member non-zero, and each greater than the one before (sorted, unique).
status check_members(const std::vector<node_id>& members, const std::string& field) {
    if (auto ok = check_count(members.size(), field); !ok) {
        return ok;
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
        const std::string path = field + "[" + std::to_string(i) + "]";
        if (auto ok = wire::check_nonzero_id(members[i], path); !ok) {
            return ok;
        }
        if (i > 0 && !(members[i - 1] < members[i])) {
            return invalid(path + " is not greater than " + field + "[" + std::to_string(i - 1) +
                           "] (members are sorted and unique)");
        }
    }
    return {};
}

status check_size(std::size_t size, std::size_t bound, const std::string& field) {
    if (size > bound) {
        return invalid(field + " too large: " + std::to_string(size) + " bytes, at most " +
                       std::to_string(bound));
    }
    return {};
}

status check_leader(const std::optional<node_id>& leader) {
    if (leader) {
        return wire::check_nonzero_id(*leader, "answer.leader");
    }
    return {};
}

// ---- Protobuf to plain data. Counts and sizes are checked before anything is copied.

result<std::vector<node_id>> get_members(const proto_ids& in, const std::string& field) {
    if (auto ok = check_count(static_cast<std::size_t>(in.size()), field); !ok) {
        return ok.failure();
    }
    std::vector<node_id> out;
    out.reserve(static_cast<std::size_t>(in.size()));
    for (int i = 0; i < in.size(); ++i) {
        auto id = wire::get_id(in.Get(i), field + "[" + std::to_string(i) + "]");
        if (!id) {
            return id.failure();
        }
        out.push_back(*id);
    }
    if (auto ok = check_members(out, field); !ok) {
        return ok.failure();
    }
    return out;
}

result<host_message> get_traffic(const wire::ReplicaGroupTraffic& in) {
    if (!in.has_message()) {
        return invalid("traffic.message is missing");
    }
    auto members = get_members(in.members(), "traffic.members");
    if (!members) {
        return members.failure();
    }
    auto inner = from_proto(in.message());
    if (!inner) {
        return invalid("traffic.message: " + inner.failure().message);
    }
    return host_message{group_traffic{inner->group, std::move(*members), std::move(inner->body)}};
}

result<host_message> get_request(const wire::ReplicaClientRequest& in) {
    auto group = wire::get_id(in.group(), "request.group");
    if (!group) {
        return group.failure();
    }
    // A request that only locates the group names no members; one that creates it must.
    std::vector<node_id> named;
    if (in.create() || in.members_size() > 0) {
        auto members = get_members(in.members(), "request.members");
        if (!members) {
            return members.failure();
        }
        named = std::move(*members);
    }
    if (auto ok = check_size(in.command().size(), command_size_max, "request.command"); !ok) {
        return ok.failure();
    }
    return host_message{client_request{in.id(), *group, std::move(named),
                                       request_id{in.request().client(), in.request().sequence()},
                                       in.command(), in.create()}};
}

result<host_message> get_answer(const wire::ReplicaClientAnswer& in) {
    if (auto ok = check_size(in.answer().size(), answer_size_max, "answer.answer"); !ok) {
        return ok.failure();
    }
    client_answer out{in.id(), in.applied(), in.answer(), std::nullopt, {},
                      request_id{in.request().client(), in.request().sequence()}};
    if (in.members_size() > 0) {
        auto members = get_members(in.members(), "answer.members");
        if (!members) {
            return members.failure();
        }
        out.members = std::move(*members);
    }
    if (!in.leader().empty()) {
        auto leader = wire::get_id(in.leader(), "answer.leader");
        if (!leader) {
            return leader.failure();
        }
        if (auto ok = wire::check_nonzero_id(*leader, "answer.leader"); !ok) {
            return ok.failure();
        }
        out.leader = *leader;
    }
    return host_message{std::move(out)};
}

// ---- Plain data to protobuf.

void put_members(proto_ids* out, const std::vector<node_id>& members) {
    out->Reserve(static_cast<int>(members.size()));
    for (const auto& member : members) {
        wire::put_bytes(out->Add(), member.bytes());
    }
}

void put_body(wire::ReplicaHostMessage& proto, const host_message& body) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, group_traffic>) {
                auto* out = proto.mutable_traffic();
                to_proto(*out->mutable_message(), m.group, m.body);
                put_members(out->mutable_members(), m.members);
            } else if constexpr (std::is_same_v<T, client_request>) {
                auto* out = proto.mutable_request();
                out->set_id(m.id);
                wire::put_bytes(out->mutable_group(), m.group.bytes());
                put_members(out->mutable_members(), m.members);
                if (m.request != request_id{}) {
                    out->mutable_request()->set_client(m.request.client);
                    out->mutable_request()->set_sequence(m.request.sequence);
                }
                out->set_command(m.command);
                out->set_create(m.create);
            } else {
                static_assert(std::is_same_v<T, client_answer>);
                auto* out = proto.mutable_answer();
                out->set_id(m.id);
                out->set_applied(m.applied);
                out->set_answer(m.answer);
                if (m.leader) {
                    wire::put_bytes(out->mutable_leader(), m.leader->bytes());
                }
                put_members(out->mutable_members(), m.members);
                if (m.request != request_id{}) {
                    out->mutable_request()->set_client(m.request.client);
                    out->mutable_request()->set_sequence(m.request.sequence);
                }
            }
        },
        body);
}

} // namespace

status validate_host(const host_message& body) {
    return std::visit(
        [](const auto& m) -> status {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, group_traffic>) {
                if (auto ok = check_members(m.members, "traffic.members"); !ok) {
                    return ok;
                }
                if (auto ok = validate(m.body); !ok) {
                    return invalid("traffic.message: " + ok.failure().message);
                }
                return {};
            } else if constexpr (std::is_same_v<T, client_request>) {
                if (m.create || !m.members.empty()) {
                    if (auto ok = check_members(m.members, "request.members"); !ok) {
                        return ok;
                    }
                }
                return check_size(m.command.size(), command_size_max, "request.command");
            } else {
                static_assert(std::is_same_v<T, client_answer>);
                if (auto ok = check_size(m.answer.size(), answer_size_max, "answer.answer"); !ok) {
                    return ok;
                }
                if (!m.members.empty()) {
                    if (auto ok = check_members(m.members, "answer.members"); !ok) {
                        return ok;
                    }
                }
                return check_leader(m.leader);
            }
        },
        body);
}

std::string encode(const host_message& body) {
    REEF_ASSERT(validate_host(body).ok());
    wire::ReplicaHostMessage proto;
    put_body(proto, body);
    std::string out;
    const bool written = proto.SerializeToString(&out);
    REEF_ASSERT(written);
    REEF_ASSERT(out.size() <= message_size_max);
    return out;
}

result<host_message> decode_host(std::string_view bytes) {
    wire::ReplicaHostMessage proto;
    if (auto parsed =
            wire::parse_bounded(proto, bytes, message_size_max, "replica host message");
        !parsed) {
        return parsed.failure();
    }
    switch (proto.body_case()) {
    case wire::ReplicaHostMessage::kTraffic: return get_traffic(proto.traffic());
    case wire::ReplicaHostMessage::kRequest: return get_request(proto.request());
    case wire::ReplicaHostMessage::kAnswer: return get_answer(proto.answer());
    case wire::ReplicaHostMessage::BODY_NOT_SET: break;
    }
    return invalid("replica host message has no body (or a kind this node does not know)");
}

} // namespace reef::replica
