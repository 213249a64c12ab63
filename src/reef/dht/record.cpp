#include "reef/dht/record.hpp"

#include <utility>

#include "reef/crypto/primitives.hpp"

namespace reef::dht {

namespace {

std::span<const std::uint8_t> as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

void put_be(std::string& out, std::uint64_t value, int size_bytes) {
    for (int shift = (size_bytes - 1) * 8; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((value >> static_cast<unsigned>(shift)) & 0xFFU));
    }
}

void put_raw(std::string& out, std::span<const std::uint8_t> bytes) {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

error invalid(std::string what) { return make_error(errc::invalid_argument, std::move(what)); }

} // namespace

id256 record_key(const node_id& publisher_id, std::string_view name) {
    crypto::blake2b_256_hasher hasher;
    hasher.update(publisher_id.bytes());
    hasher.update(as_bytes(name));
    return id256{hasher.finish()};
}

id256 record_key(const crypto::public_key& publisher, std::string_view name) {
    return record_key(crypto::node_id_of(publisher), name);
}

std::string signing_bytes(const record& rec) {
    REEF_ASSERT(!rec.name.empty());
    REEF_ASSERT(rec.name.size() <= record_name_size_max);
    REEF_ASSERT(rec.value.size() <= record_value_size_max);
    std::string out;
    out.reserve(record_signing_domain.size() + 32 + 32 + 2 + rec.name.size() + 8 + 8 + 4 +
                rec.value.size());
    out.append(record_signing_domain);
    put_raw(out, rec.key.bytes());
    put_raw(out, rec.publisher);
    put_be(out, rec.name.size(), 2);
    out.append(rec.name);
    put_be(out, rec.sequence, 8);
    put_be(out, rec.expiry_unix_seconds, 8);
    put_be(out, rec.value.size(), 4);
    out.append(rec.value);
    return out;
}

record sign_record(const crypto::identity& publisher, std::string name, std::uint64_t sequence,
                   std::uint64_t expiry_unix_seconds, std::string value) {
    record out;
    out.publisher = publisher.public_key_bytes();
    out.key = record_key(publisher.id(), name);
    out.name = std::move(name);
    out.sequence = sequence;
    out.expiry_unix_seconds = expiry_unix_seconds;
    out.value = std::move(value);
    REEF_ASSERT(check_shape(out).ok());
    out.signature = publisher.sign(as_bytes(signing_bytes(out)));
    REEF_ASSERT(verify(out).ok());
    return out;
}

status check_shape(const record& rec) {
    if (rec.name.empty()) {
        return invalid("record name is empty");
    }
    if (rec.name.size() > record_name_size_max) {
        return invalid("record name too large: " + std::to_string(rec.name.size()) +
                       " bytes, at most " + std::to_string(record_name_size_max));
    }
    if (rec.value.size() > record_value_size_max) {
        return invalid("record value too large: " + std::to_string(rec.value.size()) +
                       " bytes, at most " + std::to_string(record_value_size_max));
    }
    if (rec.key != record_key(rec.publisher, rec.name)) {
        return invalid("record key does not match publisher and name");
    }
    return {};
}

status verify(const record& rec) {
    if (auto shape = check_shape(rec); !shape) {
        return shape;
    }
    if (!crypto::verify(rec.publisher, as_bytes(signing_bytes(rec)), rec.signature)) {
        return make_error(errc::permission_denied, "record has a bad signature");
    }
    return {};
}

status verify(const record& rec, std::uint64_t now_unix_seconds) {
    if (auto ok = verify(rec); !ok) {
        return ok;
    }
    if (now_unix_seconds >= rec.expiry_unix_seconds) {
        return make_error(errc::failed_precondition,
                          "record expired at " + std::to_string(rec.expiry_unix_seconds) +
                              " (now " + std::to_string(now_unix_seconds) + ")");
    }
    return {};
}

id256 node_addresses_key(const node_id& node) { return record_key(node, node_addresses_name); }

result<record> make_node_addresses(const crypto::identity& publisher,
                                   std::span<const host_port> addresses, std::uint64_t sequence,
                                   std::uint64_t expiry_unix_seconds) {
    if (addresses.empty()) {
        return invalid("node address record needs at least one address");
    }
    if (addresses.size() > node_addresses_count_max) {
        return invalid("node address record has " + std::to_string(addresses.size()) +
                       " addresses, at most " + std::to_string(node_addresses_count_max));
    }
    std::string value;
    for (const auto& address : addresses) {
        const std::string text = address.text();
        auto parsed = parse_host_port(text, port_zero::refused);
        if (!parsed) {
            return parsed.failure();
        }
        if (!value.empty()) {
            value.push_back(',');
        }
        value.append(text);
    }
    if (value.size() > record_value_size_max) {
        return invalid("node address record value too large: " + std::to_string(value.size()) +
                       " bytes, at most " + std::to_string(record_value_size_max));
    }
    return sign_record(publisher, std::string(node_addresses_name), sequence, expiry_unix_seconds,
                       std::move(value));
}

result<std::vector<host_port>> parse_node_addresses(const record& rec) {
    if (rec.name != node_addresses_name) {
        return invalid("record is not a node address record");
    }
    std::vector<host_port> out;
    std::string_view rest = rec.value;
    while (true) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        if (out.size() == node_addresses_count_max) {
            return invalid("node address record has more than " +
                           std::to_string(node_addresses_count_max) + " addresses");
        }
        auto parsed = parse_host_port(item, port_zero::refused);
        if (!parsed) {
            return parsed.failure();
        }
        out.push_back(std::move(*parsed));
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    REEF_ASSERT(!out.empty());
    REEF_ASSERT(out.size() <= node_addresses_count_max);
    return out;
}

} // namespace reef::dht
