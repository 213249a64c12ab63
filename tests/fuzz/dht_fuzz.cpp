// Fuzz target "dht": the DHT codec, the record store behind it, and the node protocol
// (kademlia::on_message) fed every decoded message.
// Properties besides "no crash":
//  - whatever decodes re-encodes to bytes that decode to the same message (and the same bytes);
//  - a decoded store's record enters a live record_store only if it verifies, and a record the
//    store accepted is then what get() returns; a record that fails verify() never changes the
//    store;
//  - the store keeps its invariants and bounds through puts, publishes, expiry and republishing.
// Records from the wire are almost never validly signed after mutation, so each decoded store is
// also re-signed by one of a few local identities (same name, sequence and value, a short expiry)
// and offered to the store, which exercises the sequence, conflict and bound rules.
// The protocol engine keeps lookups in flight; a decoded reply is re-addressed to one of its
// outstanding queries (that query's id, from the node it was sent to) half of the time, so the
// matched-reply paths see hostile content, not only the unsolicited-reply path.

#include <array>
#include <memory>
#include <string>

#include "fuzz_target.hpp"
#include "reef/dht/codec.hpp"
#include "reef/dht/kademlia.hpp"
#include "reef/dht/record_store.hpp"

namespace reef::fuzz {

namespace {

constexpr std::uint64_t start_unix_seconds = 1'700'000'000;

crypto::identity identity_of(std::uint8_t n) {
    crypto::seed32 seed{};
    seed[0] = n;
    seed[1] = 0xd4;
    return crypto::identity::from_seed(seed);
}

dht::store_config small_store() {
    dht::store_config limits;
    limits.records_max = 16;
    limits.records_per_publisher_max = 6;
    limits.lifetime_max_seconds = 4 * 3600;
    limits.republish_before_expiry_seconds = 300;
    limits.republish_interval_seconds = 900;
    limits.republish_retry_seconds = 30;
    return limits;
}

struct store_under_test {
    dht::record_store store{small_store()};
    std::array<crypto::identity, 4> publishers{identity_of(1), identity_of(2), identity_of(3),
                                               identity_of(4)};
    std::uint64_t now = start_unix_seconds;
    std::uint64_t decoded = 0;
    std::uint64_t stores_seen = 0;
    std::uint64_t wire_records_stored = 0;
    std::uint64_t signed_offered = 0;
    std::uint64_t signed_stored = 0;
    std::uint64_t republishes = 0;
    std::uint64_t renewed = 0;

    void put_checked(const dht::record& rec, bool own) {
        const bool valid = dht::verify(rec, now).ok();
        const dht::record* before = store.get(rec.key, now);
        const std::uint64_t before_sequence = before != nullptr ? before->sequence : 0;
        const bool had = before != nullptr;
        auto put = own ? store.publish(rec, now) : store.put(rec, now);
        if (put.ok()) {
            REEF_FUZZ_CHECK(valid);
            const dht::record* stored = store.get(rec.key, now);
            REEF_FUZZ_CHECK(stored != nullptr);
            REEF_FUZZ_CHECK(*stored == rec);
            REEF_FUZZ_CHECK(!had || rec.sequence >= before_sequence);
        } else {
            REEF_FUZZ_CHECK(!put.failure().message.empty());
            const dht::record* after = store.get(rec.key, now);
            REEF_FUZZ_CHECK((after != nullptr) == had);
            REEF_FUZZ_CHECK(after == nullptr || after->sequence == before_sequence);
        }
        store.check_invariants();
    }

    void on_store(const dht::record& from_wire, std::uint8_t choice) {
        ++stores_seen;
        const std::size_t size_before = store.size();
        put_checked(from_wire, false);
        if (store.size() > size_before) {
            ++wire_records_stored;
        }
        // The same content, validly signed by a local publisher.
        const auto& publisher = publishers[choice % publishers.size()];
        const std::uint64_t expiry = now + 1 + (from_wire.expiry_unix_seconds % 7200);
        const dht::record rec = dht::sign_record(publisher, from_wire.name,
                                                 from_wire.sequence % 8, expiry, from_wire.value);
        ++signed_offered;
        const bool had = store.get(rec.key, now) != nullptr;
        put_checked(rec, (choice & 0x10U) != 0);
        if (!had && store.get(rec.key, now) != nullptr) {
            ++signed_stored;
        }
    }

    // The driver's answer to republish_due: a successor signed by the same (local) publisher.
    void renew(const dht::record& current, const dht::republish_due& due) {
        REEF_FUZZ_CHECK(current.sequence == due.sequence);
        if (due.sequence % 4 == 3) {
            return; // a publisher that went quiet: its record must expire on its own
        }
        for (const auto& publisher : publishers) {
            if (publisher.public_key_bytes() == current.publisher) {
                const dht::record next = dht::sign_record(publisher, due.name, due.sequence + 1,
                                                          now + 1800, current.value);
                auto put = store.publish(next, now);
                REEF_FUZZ_CHECK(put.ok());
                ++renewed;
                return;
            }
        }
        REEF_FUZZ_CHECK(false); // only local publishers' records are ever published
    }

    void advance(std::uint64_t seconds) {
        now += seconds;
        if (now >= store.next_deadline()) {
            store.on_tick(now);
            for (const auto& due : store.take_effects()) {
                ++republishes;
                REEF_FUZZ_CHECK(due.expiry_unix_seconds > now);
                const dht::record* current = store.get(due.key, now);
                REEF_FUZZ_CHECK(current != nullptr);
                renew(*current, due);
            }
            REEF_FUZZ_CHECK(store.next_deadline() > now);
        }
        store.check_invariants();
    }
};

struct protocol_under_test {
    struct outstanding {
        std::uint64_t query_id = 0;
        node_id to;
        std::string address;
    };

    static dht::kademlia_config limits() {
        dht::kademlia_config small;
        small.operations_max = 4;
        small.background_max = 4;
        return small;
    }

    dht::kademlia engine{limits(), identity_of(9), {{"10.0.0.9", 7400}}, 5, instant::from_ns(0)};
    std::vector<outstanding> queries;
    instant now = instant::from_ns(0);
    std::uint64_t unix_now = start_unix_seconds;
    std::uint64_t messages = 0;
    std::uint64_t readdressed = 0;
    std::uint64_t operations_done = 0;

    static std::string address_of(std::uint8_t n) {
        return "10.0.1." + std::to_string(n) + ":7400";
    }

    void collect() {
        for (auto& produced : engine.take_effects()) {
            if (auto* send = std::get_if<dht::send_message>(&produced)) {
                REEF_FUZZ_CHECK(dht::validate(send->body).ok());
                std::uint64_t query_id = 0;
                std::visit([&](const auto& body) { query_id = body.query_id; }, send->body);
                if (queries.size() < 64) {
                    queries.push_back({query_id, send->to.id, send->to.address});
                }
            } else {
                ++operations_done;
            }
        }
        engine.check_invariants();
    }

    void on_message(dht::message incoming, std::uint8_t choice) {
        ++messages;
        const bool is_reply = std::holds_alternative<dht::pong>(incoming) ||
                              std::holds_alternative<dht::find_node_reply>(incoming) ||
                              std::holds_alternative<dht::find_value_reply>(incoming) ||
                              std::holds_alternative<dht::store_reply>(incoming);
        node_id from = identity_of(static_cast<std::uint8_t>(20 + choice % 8)).id();
        std::string address = address_of(static_cast<std::uint8_t>(20 + choice % 8));
        if (is_reply && !queries.empty() && (choice & 1U) != 0) {
            const auto picked = queries[choice % queries.size()];
            std::visit([&](auto& body) { body.query_id = picked.query_id; }, incoming);
            from = picked.to;
            address = picked.address;
            ++readdressed;
        }
        engine.on_message(now, unix_now, from, address, incoming);
        collect();
        if (messages % 8 == 0) {
            queries.clear();
            const node_id target = identity_of(static_cast<std::uint8_t>(choice)).id();
            (void)engine.start_get(now, unix_now, target);
            (void)engine.start_closest(now, target);
            collect();
        }
        now = now + duration::milliseconds(1 + choice % 200);
        unix_now = start_unix_seconds + static_cast<std::uint64_t>(now.ns() / 1'000'000'000);
        if (engine.next_deadline() <= now) {
            engine.on_tick(now, unix_now);
            collect();
        }
    }
};

protocol_under_test& protocol() {
    static auto instance = std::make_unique<protocol_under_test>();
    return *instance;
}

store_under_test& target() {
    static auto instance = std::make_unique<store_under_test>();
    return *instance;
}

std::string as_string(std::span<const std::uint8_t> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

bytes as_bytes(const std::string& text) { return {text.begin(), text.end()}; }

} // namespace

void one_input(std::span<const std::uint8_t> data) {
    auto decoded = dht::decode(as_string(data));
    if (!decoded.ok()) {
        REEF_FUZZ_CHECK(!decoded.failure().message.empty());
        return;
    }
    REEF_FUZZ_CHECK(dht::validate(*decoded).ok());
    const std::string again = dht::encode(*decoded);
    auto round_trip = dht::decode(again);
    REEF_FUZZ_CHECK(round_trip.ok());
    REEF_FUZZ_CHECK(*round_trip == *decoded);
    REEF_FUZZ_CHECK(dht::encode(*round_trip) == again);

    auto& t = target();
    ++t.decoded;
    const std::uint8_t choice = data.empty() ? 0 : data[data.size() / 2];
    if (const auto* request = std::get_if<dht::store>(&*decoded)) {
        t.on_store(request->value, choice);
    } else if (const auto* reply = std::get_if<dht::find_value_reply>(&*decoded)) {
        if (reply->found) {
            t.on_store(*reply->found, choice);
        }
    }
    t.advance(1 + choice % 64);
    protocol().on_message(*decoded, choice);
}

std::vector<bytes> seed_corpus() {
    const std::uint64_t expiry = start_unix_seconds + 3600;
    const auto publisher = identity_of(1);
    const dht::record rec = dht::sign_record(publisher, "profile", 3, expiry, "hello");
    const std::vector<host_port> addresses{{"10.0.0.1", 7400}, {"::1", 7401}};
    const dht::record node = *dht::make_node_addresses(publisher, addresses, 1, expiry);
    const std::vector<dht::wire_contact> contacts{
        {publisher.id(), "10.0.0.1:7400"}, {identity_of(2).id(), "[::1]:7401"}};

    std::vector<bytes> corpus;
    corpus.push_back(as_bytes(dht::encode(dht::ping{1})));
    corpus.push_back(as_bytes(dht::encode(dht::pong{2})));
    corpus.push_back(as_bytes(dht::encode(dht::find_node{3, identity_of(3).id()})));
    corpus.push_back(as_bytes(dht::encode(dht::find_node_reply{4, contacts})));
    corpus.push_back(as_bytes(dht::encode(dht::store{5, rec})));
    corpus.push_back(as_bytes(dht::encode(dht::store{6, node})));
    corpus.push_back(as_bytes(dht::encode(dht::store_reply{7, errc::failed_precondition})));
    corpus.push_back(as_bytes(dht::encode(dht::find_value{8, rec.key})));
    corpus.push_back(as_bytes(dht::encode(dht::find_value_reply{9, rec, {}})));
    corpus.push_back(as_bytes(dht::encode(dht::find_value_reply{10, std::nullopt, contacts})));
    return corpus;
}

std::size_t default_iterations() { return 20000; }

std::string summary(std::uint64_t iterations) {
    const auto& t = target();
    // A harness whose inputs never decode, or whose records never enter the store, would test
    // only the error paths.
    REEF_FUZZ_CHECK(iterations < 1000 || t.decoded > iterations / 100);
    REEF_FUZZ_CHECK(iterations < 1000 || t.signed_stored > 0);
    return "dht: " + std::to_string(t.decoded) + " of " + std::to_string(iterations) +
           " inputs decoded; " + std::to_string(t.stores_seen) + " records offered (" +
           std::to_string(t.wire_records_stored) + " from the wire stored, " +
           std::to_string(t.signed_stored) + " of " + std::to_string(t.signed_offered) +
           " re-signed stored); " + std::to_string(t.republishes) + " republishes (" +
           std::to_string(t.renewed) + " renewed); " +
           std::to_string(t.store.size()) + " records held; protocol: " +
           std::to_string(protocol().messages) + " messages (" +
           std::to_string(protocol().readdressed) + " as replies in flight), " +
           std::to_string(protocol().operations_done) + " operations finished";
}

} // namespace reef::fuzz
