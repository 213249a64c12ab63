#include "reef/dht/codec.hpp"

#include <cstring>
#include <type_traits>

#include "reef/base/address.hpp"
#include "reef/wire/codec_support.hpp"
#include "reef/wire/dht.pb.h"

namespace reef::dht {

namespace {

using proto_contacts = google::protobuf::RepeatedPtrField<wire::DhtContact>;

// Contacts sent or received in one reply, and a record's fixed sizes.
static_assert(reply_contacts_max == 20);
constexpr std::size_t public_key_size_bytes = std::tuple_size_v<crypto::public_key>;
constexpr std::size_t signature_size_bytes = std::tuple_size_v<crypto::signature>;
constexpr auto errc_max = static_cast<std::uint32_t>(errc::internal);

using wire::check_nonzero_id;
using wire::get_fixed;
using wire::get_id;
using wire::invalid;
using wire::put_bytes;

void put_contacts(proto_contacts* out, const std::vector<wire_contact>& contacts) {
    out->Reserve(static_cast<int>(contacts.size()));
    for (const auto& contact : contacts) {
        auto* item = out->Add();
        put_bytes(item->mutable_id(), contact.id.bytes());
        item->set_address(contact.address);
    }
}

void put_record(wire::DhtRecord* out, const record& rec) {
    put_bytes(out->mutable_publisher(), rec.publisher);
    out->set_name(rec.name);
    out->set_sequence(rec.sequence);
    out->set_expiry_unix_seconds(rec.expiry_unix_seconds);
    out->set_value(rec.value);
    put_bytes(out->mutable_signature(), rec.signature);
}


status check_contacts(const std::vector<wire_contact>& contacts, const std::string& field) {
    if (contacts.size() > reply_contacts_max) {
        return invalid(field + " has " + std::to_string(contacts.size()) + " entries, more than " +
                       std::to_string(reply_contacts_max));
    }
    for (std::size_t i = 0; i < contacts.size(); ++i) {
        const std::string path = field + "[" + std::to_string(i) + "]";
        if (auto ok = check_nonzero_id(contacts[i].id, path + ".id"); !ok) {
            return ok;
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (contacts[j].id == contacts[i].id) {
                return invalid(path + ".id repeats " + field + "[" + std::to_string(j) + "].id");
            }
        }
        const std::string& address = contacts[i].address;
        if (address.empty() || address.size() > address_size_max ||
            !parse_host_port(address, port_zero::refused).ok()) {
            return invalid(path + ".address is not host:port");
        }
    }
    return {};
}

status check_record(const record& rec, const std::string& field) {
    if (auto ok = check_shape(rec); !ok) {
        return invalid(field + ": " + ok.failure().message);
    }
    return {};
}

result<std::vector<wire_contact>> get_contacts(const proto_contacts& in, const std::string& field) {
    const auto count = static_cast<std::size_t>(in.size());
    if (count > reply_contacts_max) {
        return invalid(field + " has " + std::to_string(count) + " entries, more than " +
                       std::to_string(reply_contacts_max));
    }
    std::vector<wire_contact> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto& item = in.Get(static_cast<int>(i));
        auto id = get_id(item.id(), field + "[" + std::to_string(i) + "].id");
        if (!id) {
            return id.failure();
        }
        out.push_back(wire_contact{*id, item.address()});
    }
    return out;
}

// Sizes are checked before anything is hashed; the key is derived, so it always matches.
result<record> get_record(const wire::DhtRecord& in, const std::string& field) {
    auto publisher = get_fixed<public_key_size_bytes>(in.publisher(), field + ".publisher");
    if (!publisher) {
        return publisher.failure();
    }
    auto signature = get_fixed<signature_size_bytes>(in.signature(), field + ".signature");
    if (!signature) {
        return signature.failure();
    }
    if (in.name().empty() || in.name().size() > record_name_size_max) {
        return invalid(field + ".name must be 1.." + std::to_string(record_name_size_max) +
                       " bytes, got " + std::to_string(in.name().size()));
    }
    if (in.value().size() > record_value_size_max) {
        return invalid(field + ".value too large: " + std::to_string(in.value().size()) +
                       " bytes, at most " + std::to_string(record_value_size_max));
    }
    record out;
    out.publisher = *publisher;
    out.name = in.name();
    out.key = record_key(out.publisher, out.name);
    out.sequence = in.sequence();
    out.expiry_unix_seconds = in.expiry_unix_seconds();
    out.value = in.value();
    out.signature = *signature;
    return out;
}

result<message> get_find_node(const wire::DhtFindNode& in) {
    auto target = get_id(in.target(), "find_node.target");
    if (!target) {
        return target.failure();
    }
    return message{find_node{in.query_id(), *target}};
}

result<message> get_find_node_reply(const wire::DhtFindNodeReply& in) {
    auto contacts = get_contacts(in.contacts(), "find_node_reply.contacts");
    if (!contacts) {
        return contacts.failure();
    }
    return message{find_node_reply{in.query_id(), std::move(*contacts)}};
}

result<message> get_store(const wire::DhtStore& in) {
    if (!in.has_record()) {
        return invalid("store.record is missing");
    }
    auto rec = get_record(in.record(), "store.record");
    if (!rec) {
        return rec.failure();
    }
    return message{store{in.query_id(), std::move(*rec)}};
}

result<message> get_store_reply(const wire::DhtStoreReply& in) {
    if (in.code() > errc_max) {
        return invalid("store_reply.code " + std::to_string(in.code()) + " is not an error code");
    }
    store_reply out{in.query_id(), std::nullopt};
    if (in.code() != 0) {
        out.failure = static_cast<errc>(in.code());
    }
    return message{out};
}

result<message> get_find_value(const wire::DhtFindValue& in) {
    auto key = get_id(in.key(), "find_value.key");
    if (!key) {
        return key.failure();
    }
    return message{find_value{in.query_id(), *key}};
}

result<message> get_find_value_reply(const wire::DhtFindValueReply& in) {
    find_value_reply out;
    out.query_id = in.query_id();
    if (in.has_record()) {
        auto rec = get_record(in.record(), "find_value_reply.record");
        if (!rec) {
            return rec.failure();
        }
        out.found = std::move(*rec);
    }
    auto contacts = get_contacts(in.contacts(), "find_value_reply.contacts");
    if (!contacts) {
        return contacts.failure();
    }
    out.contacts = std::move(*contacts);
    return message{std::move(out)};
}

result<message> get_message(const wire::DhtMessage& proto) {
    switch (proto.body_case()) {
    case wire::DhtMessage::kPing: return message{ping{proto.ping().query_id()}};
    case wire::DhtMessage::kPong: return message{pong{proto.pong().query_id()}};
    case wire::DhtMessage::kFindNode: return get_find_node(proto.find_node());
    case wire::DhtMessage::kFindNodeReply: return get_find_node_reply(proto.find_node_reply());
    case wire::DhtMessage::kStore: return get_store(proto.store());
    case wire::DhtMessage::kStoreReply: return get_store_reply(proto.store_reply());
    case wire::DhtMessage::kFindValue: return get_find_value(proto.find_value());
    case wire::DhtMessage::kFindValueReply:
        return get_find_value_reply(proto.find_value_reply());
    case wire::DhtMessage::BODY_NOT_SET: break;
    }
    return invalid("dht message has no body (or a kind this node does not know)");
}

void put_message(wire::DhtMessage& proto, const message& body) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, ping>) {
                proto.mutable_ping()->set_query_id(m.query_id);
            } else if constexpr (std::is_same_v<T, pong>) {
                proto.mutable_pong()->set_query_id(m.query_id);
            } else if constexpr (std::is_same_v<T, find_node>) {
                auto* out = proto.mutable_find_node();
                out->set_query_id(m.query_id);
                put_bytes(out->mutable_target(), m.target.bytes());
            } else if constexpr (std::is_same_v<T, find_node_reply>) {
                auto* out = proto.mutable_find_node_reply();
                out->set_query_id(m.query_id);
                put_contacts(out->mutable_contacts(), m.contacts);
            } else if constexpr (std::is_same_v<T, store>) {
                auto* out = proto.mutable_store();
                out->set_query_id(m.query_id);
                put_record(out->mutable_record(), m.value);
            } else if constexpr (std::is_same_v<T, store_reply>) {
                auto* out = proto.mutable_store_reply();
                out->set_query_id(m.query_id);
                out->set_code(m.failure ? static_cast<std::uint32_t>(*m.failure) : 0U);
            } else if constexpr (std::is_same_v<T, find_value>) {
                auto* out = proto.mutable_find_value();
                out->set_query_id(m.query_id);
                put_bytes(out->mutable_key(), m.key.bytes());
            } else {
                static_assert(std::is_same_v<T, find_value_reply>);
                auto* out = proto.mutable_find_value_reply();
                out->set_query_id(m.query_id);
                if (m.found) {
                    put_record(out->mutable_record(), *m.found);
                }
                put_contacts(out->mutable_contacts(), m.contacts);
            }
        },
        body);
}

} // namespace

status validate(const message& body) {
    return std::visit(
        [](const auto& m) -> status {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, ping> || std::is_same_v<T, pong>) {
                return {};
            } else if constexpr (std::is_same_v<T, find_node>) {
                return check_nonzero_id(m.target, "find_node.target");
            } else if constexpr (std::is_same_v<T, find_node_reply>) {
                return check_contacts(m.contacts, "find_node_reply.contacts");
            } else if constexpr (std::is_same_v<T, store>) {
                return check_record(m.value, "store.record");
            } else if constexpr (std::is_same_v<T, store_reply>) {
                if (m.failure && (static_cast<std::uint32_t>(*m.failure) == 0 ||
                                  static_cast<std::uint32_t>(*m.failure) > errc_max)) {
                    return invalid("store_reply.code is not an error code");
                }
                return {};
            } else if constexpr (std::is_same_v<T, find_value>) {
                return check_nonzero_id(m.key, "find_value.key");
            } else {
                static_assert(std::is_same_v<T, find_value_reply>);
                if (m.found && !m.contacts.empty()) {
                    return invalid("find_value_reply has both a record and contacts");
                }
                if (m.found) {
                    return check_record(*m.found, "find_value_reply.record");
                }
                return check_contacts(m.contacts, "find_value_reply.contacts");
            }
        },
        body);
}

std::string encode(const message& body) {
    REEF_ASSERT(validate(body).ok());
    wire::DhtMessage proto;
    put_message(proto, body);
    std::string out;
    const bool written = proto.SerializeToString(&out);
    REEF_ASSERT(written);
    REEF_ASSERT(out.size() <= message_size_max);
    return out;
}

result<message> decode(std::string_view bytes) {
    wire::DhtMessage proto;
    if (auto parsed = wire::parse_bounded(proto, bytes, message_size_max, "dht message"); !parsed) {
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

} // namespace reef::dht
