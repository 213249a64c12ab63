#include "reef/replica/codec.hpp"

#include <algorithm>
#include <type_traits>

#include "reef/replica/member_set.hpp"
#include "reef/wire/codec_support.hpp"
#include "reef/wire/replica.pb.h"

namespace reef::replica {

namespace {

using proto_entries = google::protobuf::RepeatedPtrField<wire::ReplicaEntry>;

using wire::get_id;
using wire::invalid;

std::string bound_text(std::uint64_t bound) {
    return bound == index_max ? std::string("2^63 - 1") : std::to_string(bound);
}

// ---- Shape rules (shared by validate() and decode()).

status check_at_most(std::uint64_t value, std::uint64_t bound, const std::string& field) {
    if (value > bound) {
        return invalid(field + " is " + std::to_string(value) + ", more than " +
                       bound_text(bound));
    }
    return {};
}

status check_snapshot(const snapshot& base, const std::string& field) {
    if (base.last_index == 0) {
        return invalid(field + ".last_index is 0 (a snapshot covers at least one entry)");
    }
    if (auto ok = check_at_most(base.last_index, index_max, field + ".last_index"); !ok) {
        return ok;
    }
    if (auto ok = check_at_most(base.last_epoch, epoch_max, field + ".last_epoch"); !ok) {
        return ok;
    }
    if (base.state.size() > state_size_max) {
        return invalid(field + ".state too large: " + std::to_string(base.state.size()) +
                       " bytes, at most " + std::to_string(state_size_max));
    }
    if (!base.members.empty()) {
        const bool ordered = base.members.size() <= member_set_size_max &&
                             std::adjacent_find(base.members.begin(), base.members.end(),
                                                [](const node_id& a, const node_id& b) {
                                                    return !(a < b);
                                                }) == base.members.end();
        const bool nonzero = std::none_of(base.members.begin(), base.members.end(),
                                          [](const node_id& id) { return id.is_zero(); });
        if (!ordered || !nonzero) {
            return invalid(field + ".members must be 1.." +
                           std::to_string(member_set_size_max) +
                           " non-zero ids, strictly ascending");
        }
    }
    return {};
}

status check_entry_count(std::size_t count, const std::string& field) {
    if (count > entries_max) {
        return invalid(field + " has " + std::to_string(count) + " entries, more than " +
                       std::to_string(entries_max));
    }
    return {};
}

/// Entries are dense and ascending, each index in 1..index_max, and the first is `first` when
/// there is one; `first_rule` says where that requirement comes from.
status check_entries(const std::vector<entry>& entries, const std::string& field,
                     std::uint64_t first, const std::string& first_rule) {
    if (auto ok = check_entry_count(entries.size(), field); !ok) {
        return ok;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const entry& item = entries[i];
        const std::string path = field + "[" + std::to_string(i) + "]";
        if (item.index == 0) {
            return invalid(path + ".index is 0 (indexes start at 1)");
        }
        if (auto ok = check_at_most(item.index, index_max, path + ".index"); !ok) {
            return ok;
        }
        const std::uint64_t expected = i == 0 ? first : entries[i - 1].index + 1;
        if (item.index != expected) {
            return invalid(path + ".index is " + std::to_string(item.index) + ", expected " +
                           std::to_string(expected) +
                           (i == 0 ? " (" + first_rule + ")" : " (entries are dense)"));
        }
        if (auto ok = check_at_most(item.epoch, epoch_max, path + ".epoch"); !ok) {
            return ok;
        }
        if (item.command.size() > command_size_max) {
            return invalid(path + ".command too large: " + std::to_string(item.command.size()) +
                           " bytes, at most " + std::to_string(command_size_max));
        }
        if (is_member_change(item)) {
            if (auto members = decode_member_set(item.command); !members) {
                return invalid(path + ".command (a member change): " +
                               members.failure().message);
            }
        }
    }
    return {};
}

/// The commands and snapshot state together fit payload_size_max (so the message fits a frame).
status check_payload(const std::vector<entry>& entries, const std::optional<snapshot>& base,
                     const std::string& field) {
    std::size_t total = base ? base->state.size() : 0;
    for (const auto& item : entries) {
        total += item.command.size();
    }
    if (total > payload_size_max) {
        return invalid(field + " carries " + std::to_string(total) +
                       " bytes of commands and snapshot state, more than " +
                       std::to_string(payload_size_max));
    }
    return {};
}

status check_promise(const epoch_promise& m) {
    if (auto ok = check_at_most(m.epoch, epoch_max, "epoch_promise.epoch"); !ok) {
        return ok;
    }
    if (auto ok = check_at_most(m.commit_index, index_max, "epoch_promise.commit_index"); !ok) {
        return ok;
    }
    if (m.base) {
        if (auto ok = check_snapshot(*m.base, "epoch_promise.base"); !ok) {
            return ok;
        }
    }
    const std::uint64_t first = m.base ? m.base->last_index + 1 : 1;
    const std::string rule = m.base ? "right after epoch_promise.base.last_index" : "no snapshot";
    if (auto ok = check_entries(m.log, "epoch_promise.log", first, rule); !ok) {
        return ok;
    }
    return check_payload(m.log, m.base, "epoch_promise");
}

status check_append(const append& m) {
    if (auto ok = check_at_most(m.epoch, epoch_max, "append.epoch"); !ok) {
        return ok;
    }
    if (auto ok = check_at_most(m.prev_index, index_max, "append.prev_index"); !ok) {
        return ok;
    }
    if (auto ok = check_at_most(m.prev_epoch, epoch_max, "append.prev_epoch"); !ok) {
        return ok;
    }
    if (auto ok = check_at_most(m.commit_index, index_max, "append.commit_index"); !ok) {
        return ok;
    }
    if (m.base) {
        if (auto ok = check_snapshot(*m.base, "append.base"); !ok) {
            return ok;
        }
    }
    if (auto ok = check_entries(m.entries, "append.entries", m.prev_index + 1,
                                "append.prev_index + 1");
        !ok) {
        return ok;
    }
    return check_payload(m.entries, m.base, "append");
}

// ---- Protobuf to plain data. Field sizes are checked before anything is copied.

result<snapshot> get_snapshot(const wire::ReplicaSnapshot& in, const std::string& field) {
    if (in.state().size() > state_size_max) {
        return invalid(field + ".state too large: " + std::to_string(in.state().size()) +
                       " bytes, at most " + std::to_string(state_size_max));
    }
    snapshot out{in.last_index(), in.last_epoch(), in.state(), {}};
    if (!in.members().empty()) {
        auto members = decode_member_set(in.members());
        if (!members) {
            return invalid(field + ".members: " + members.failure().message);
        }
        out.members = std::move(*members);
    }
    return out;
}

result<std::vector<entry>> get_entries(const proto_entries& in, const std::string& field) {
    const auto count = static_cast<std::size_t>(in.size());
    if (auto ok = check_entry_count(count, field); !ok) {
        return ok.failure();
    }
    std::vector<entry> out;
    out.reserve(count);
    for (const auto& item : in) {
        out.push_back(entry{item.index(), item.epoch(),
                            request_id{item.request().client(), item.request().sequence()},
                            item.command()});
    }
    return out;
}

result<message> get_promise(const wire::ReplicaEpochPromise& in) {
    epoch_promise out;
    out.epoch = in.epoch();
    out.commit_index = in.commit_index();
    if (in.has_base()) {
        auto base = get_snapshot(in.base(), "epoch_promise.base");
        if (!base) {
            return base.failure();
        }
        out.base = std::move(*base);
    }
    auto log = get_entries(in.log(), "epoch_promise.log");
    if (!log) {
        return log.failure();
    }
    out.log = std::move(*log);
    return message{std::move(out)};
}

result<message> get_append(const wire::ReplicaAppend& in) {
    append out;
    out.epoch = in.epoch();
    out.prev_index = in.prev_index();
    out.prev_epoch = in.prev_epoch();
    out.commit_index = in.commit_index();
    if (in.has_base()) {
        auto base = get_snapshot(in.base(), "append.base");
        if (!base) {
            return base.failure();
        }
        out.base = std::move(*base);
    }
    auto entries = get_entries(in.entries(), "append.entries");
    if (!entries) {
        return entries.failure();
    }
    out.entries = std::move(*entries);
    return message{std::move(out)};
}

result<message> get_message(const wire::ReplicaMessage& proto) {
    switch (proto.body_case()) {
    case wire::ReplicaMessage::kEpochChange:
        return message{epoch_change{proto.epoch_change().epoch()}};
    case wire::ReplicaMessage::kEpochPromise: return get_promise(proto.epoch_promise());
    case wire::ReplicaMessage::kAppend: return get_append(proto.append());
    case wire::ReplicaMessage::kAppendReply: {
        const auto& in = proto.append_reply();
        return message{append_reply{in.epoch(), in.accepted(), in.last_index(), in.commit_index()}};
    }
    case wire::ReplicaMessage::kStaleEpoch:
        return message{stale_epoch{proto.stale_epoch().promised()}};
    case wire::ReplicaMessage::BODY_NOT_SET: break;
    }
    return invalid("replica message has no body (or a kind this node does not know)");
}

// ---- Plain data to protobuf.

void put_snapshot(wire::ReplicaSnapshot* out, const snapshot& base) {
    out->set_last_index(base.last_index);
    out->set_last_epoch(base.last_epoch);
    out->set_state(base.state);
    if (!base.members.empty()) {
        out->set_members(encode_member_set(base.members));
    }
}

void put_entries(proto_entries* out, const std::vector<entry>& entries) {
    out->Reserve(static_cast<int>(entries.size()));
    for (const auto& item : entries) {
        auto* added = out->Add();
        added->set_index(item.index);
        added->set_epoch(item.epoch);
        if (item.request != request_id{}) {
            added->mutable_request()->set_client(item.request.client);
            added->mutable_request()->set_sequence(item.request.sequence);
        }
        added->set_command(item.command);
    }
}

void put_message(wire::ReplicaMessage& proto, const message& body) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, epoch_change>) {
                proto.mutable_epoch_change()->set_epoch(m.epoch);
            } else if constexpr (std::is_same_v<T, epoch_promise>) {
                auto* out = proto.mutable_epoch_promise();
                out->set_epoch(m.epoch);
                if (m.base) {
                    put_snapshot(out->mutable_base(), *m.base);
                }
                put_entries(out->mutable_log(), m.log);
                out->set_commit_index(m.commit_index);
            } else if constexpr (std::is_same_v<T, append>) {
                auto* out = proto.mutable_append();
                out->set_epoch(m.epoch);
                out->set_prev_index(m.prev_index);
                out->set_prev_epoch(m.prev_epoch);
                put_entries(out->mutable_entries(), m.entries);
                out->set_commit_index(m.commit_index);
                if (m.base) {
                    put_snapshot(out->mutable_base(), *m.base);
                }
            } else if constexpr (std::is_same_v<T, append_reply>) {
                auto* out = proto.mutable_append_reply();
                out->set_epoch(m.epoch);
                out->set_accepted(m.accepted);
                out->set_last_index(m.last_index);
                out->set_commit_index(m.commit_index);
            } else {
                static_assert(std::is_same_v<T, stale_epoch>);
                proto.mutable_stale_epoch()->set_promised(m.promised);
            }
        },
        body);
}

} // namespace

status validate(const message& body) {
    return std::visit(
        [](const auto& m) -> status {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, epoch_change>) {
                return check_at_most(m.epoch, epoch_max, "epoch_change.epoch");
            } else if constexpr (std::is_same_v<T, epoch_promise>) {
                return check_promise(m);
            } else if constexpr (std::is_same_v<T, append>) {
                return check_append(m);
            } else if constexpr (std::is_same_v<T, append_reply>) {
                if (auto ok = check_at_most(m.epoch, epoch_max, "append_reply.epoch"); !ok) {
                    return ok;
                }
                if (auto ok = check_at_most(m.last_index, index_max, "append_reply.last_index");
                    !ok) {
                    return ok;
                }
                return check_at_most(m.commit_index, index_max, "append_reply.commit_index");
            } else {
                static_assert(std::is_same_v<T, stale_epoch>);
                return check_at_most(m.promised, epoch_max, "stale_epoch.promised");
            }
        },
        body);
}

void to_proto(wire::ReplicaMessage& out, const group_id& group, const message& body) {
    REEF_ASSERT(validate(body).ok());
    wire::put_bytes(out.mutable_group(), group.bytes());
    put_message(out, body);
}

result<addressed_message> from_proto(const wire::ReplicaMessage& proto) {
    auto group = get_id(proto.group(), "group");
    if (!group) {
        return group.failure();
    }
    auto body = get_message(proto);
    if (!body) {
        return body.failure();
    }
    if (auto ok = validate(*body); !ok) {
        return ok.failure();
    }
    return addressed_message{*group, std::move(*body)};
}

std::string encode(const group_id& group, const message& body) {
    wire::ReplicaMessage proto;
    to_proto(proto, group, body);
    std::string out;
    const bool written = proto.SerializeToString(&out);
    REEF_ASSERT(written);
    REEF_ASSERT(out.size() <= message_size_max);
    return out;
}

result<addressed_message> decode(std::string_view bytes) {
    wire::ReplicaMessage proto;
    if (auto parsed = wire::parse_bounded(proto, bytes, message_size_max, "replica message");
        !parsed) {
        return parsed.failure();
    }
    return from_proto(proto);
}

} // namespace reef::replica
