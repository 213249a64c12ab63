#pragma once
// Kademlia DHT messages, as plain data. The protobuf form lives in wire/dht.proto and codec.hpp
// converts between the two (docs/formats/dht.md). Decoding validates every field's shape, so a
// core only sees well-formed messages; their content is still untrusted: contacts may be lies and
// records must pass verify() (record_store::put does it) before they are believed.
//
// Every request carries a query_id chosen by the requester; the reply echoes it, so a requester
// matches replies to its outstanding queries (and drops unsolicited ones).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/dht/record.hpp"

namespace reef::dht {

/// Most contacts in one find_node_reply / find_value_reply: Kademlia's k.
inline constexpr std::size_t reply_contacts_max = 20;

/// A node as named in a reply: its id and a dialable "host:port".
struct wire_contact {
    node_id id;
    std::string address;
    bool operator==(const wire_contact&) const = default;
};

struct ping {
    std::uint64_t query_id = 0;
    bool operator==(const ping&) const = default;
};

struct pong {
    std::uint64_t query_id = 0;
    bool operator==(const pong&) const = default;
};

/// "Which nodes do you know closest to `target`?"
struct find_node {
    std::uint64_t query_id = 0;
    node_id target;
    bool operator==(const find_node&) const = default;
};

struct find_node_reply {
    std::uint64_t query_id = 0;
    std::vector<wire_contact> contacts; // at most reply_contacts_max
    bool operator==(const find_node_reply&) const = default;
};

/// "Store this record" (sent to the k closest nodes to its key).
struct store {
    std::uint64_t query_id = 0;
    record value;
    bool operator==(const store&) const = default;
};

/// `failure` is empty when the record was stored (or already was); otherwise the code the
/// receiver's record_store::put returned (the human message is not sent: it is the receiver's to
/// log, and text from a peer is not worth trusting).
struct store_reply {
    std::uint64_t query_id = 0;
    std::optional<errc> failure;
    bool operator==(const store_reply&) const = default;
};

/// "Give me the record at `key`, or the nodes you know closest to it."
struct find_value {
    std::uint64_t query_id = 0;
    id256 key;
    bool operator==(const find_value&) const = default;
};

/// Either `found` (and no contacts) or closer `contacts` (at most reply_contacts_max).
struct find_value_reply {
    std::uint64_t query_id = 0;
    std::optional<record> found;
    std::vector<wire_contact> contacts;
    bool operator==(const find_value_reply&) const = default;
};

using message = std::variant<ping, pong, find_node, find_node_reply, store, store_reply,
                             find_value, find_value_reply>;

} // namespace reef::dht
