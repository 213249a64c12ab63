// Fuzz target "replica": the replica-group codec, and a live replica::group fed every decoded
// message. Properties besides "no crash":
//  - whatever decodes re-encodes to bytes that decode to the same message and group (and to the
//    same bytes again), and validate() holds for it;
//  - the group keeps its invariants (check_invariants) after every message, tick, submission,
//    compaction and epoch change, whatever a member sends it;
//  - whatever the group sends goes to another member, and when it fits the wire bounds it
//    survives a round trip through the codec.
// The group has three members with fixed ids and is this process's member 0; each decoded
// message is re-addressed to come from member 1 or 2 (an input byte picks); half of the time it
// is also moved to the group's current or next epoch and comes from that epoch's leader, so
// hostile logs reach the follower paths. The group lives across inputs (reset every few hundred),
// submits commands when it leads, compacts when asked, and sometimes starts an epoch change, so
// hostile messages meet leaders, followers and members in the middle of an epoch change.
//
// Every input is also decoded as a host message (host_codec.hpp): whatever decodes validates and
// round-trips to the same message and bytes, and is fed to a live replica::host (kv registers as
// its application, a fixed self id) as if from one of four fixed nodes (an input byte picks); the
// host keeps its invariants after every message and tick, and whatever it sends that validates
// survives a round trip through the host codec. The host lives across inputs (reset every few
// hundred) and sometimes submits a request of its own, so answers meet waiting requests.

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "fuzz_target.hpp"
#include "reef/replica/codec.hpp"
#include "reef/replica/group.hpp"
#include "reef/replica/host.hpp"
#include "reef/replica/host_codec.hpp"
#include "reef/replica/kv.hpp"

namespace reef::fuzz {

namespace {

node_id member_id(std::uint8_t n) {
    id256::bytes_type bytes{};
    bytes[0] = n;
    bytes[31] = 0x3c;
    return node_id{bytes};
}

replica::group_id fuzz_group() {
    id256::bytes_type bytes{};
    bytes[0] = 0x9e;
    return replica::group_id{bytes};
}

replica::group_config small_limits() {
    replica::group_config limits;
    limits.append_entries_max = 8;
    limits.uncommitted_max = 32;
    limits.log_retained_max = 64;
    return limits;
}

struct group_under_test {
    static constexpr std::uint64_t messages_per_life = 400;

    std::array<node_id, 3> members{member_id(1), member_id(2), member_id(3)};
    std::unique_ptr<replica::group> live;
    instant now = instant::from_ns(0);
    std::uint64_t lives = 0;
    std::uint64_t applied_epoch = 0;
    std::uint64_t next_sequence = 1;
    // Counters for the summary.
    std::uint64_t decoded = 0;
    std::uint64_t messages = 0;
    std::uint64_t readdressed = 0;
    std::uint64_t sent = 0;
    std::uint64_t sent_encoded = 0;
    std::uint64_t answered = 0;
    std::uint64_t applied = 0;
    std::uint64_t snapshots_installed = 0;
    std::uint64_t compactions = 0;
    std::uint64_t led = 0;
    std::uint64_t submitted = 0;
    std::uint64_t ignored = 0;
    std::uint64_t rejected_appends = 0;

    void start() {
        if (live) {
            ignored += live->stats().ignored;
            rejected_appends += live->stats().rejected_appends;
        }
        const std::vector<node_id> sorted{members.begin(), members.end()};
        live = std::make_unique<replica::group>(small_limits(), fuzz_group(), members[0], sorted,
                                                std::nullopt, 17 + lives, now);
        ++lives;
        applied_epoch = 0;
        drain();
    }

    // The other members, played honestly: they promise an epoch this member leads (with an empty
    // log) and accept every append. Their answers are delivered at once, a few rounds deep.
    static std::optional<replica::message> answer_of(const replica::message& sent_body,
                                                     bool leading_next) {
        if (const auto* change = std::get_if<replica::epoch_change>(&sent_body)) {
            if (leading_next) {
                return replica::epoch_promise{change->epoch, std::nullopt, {}, 0};
            }
        } else if (const auto* appended = std::get_if<replica::append>(&sent_body)) {
            return replica::append_reply{appended->epoch, true,
                                         appended->prev_index + appended->entries.size(),
                                         appended->commit_index};
        }
        return std::nullopt;
    }

    void drain(int depth = 0) {
        std::vector<std::pair<node_id, replica::message>> answers;
        for (auto& produced : live->take_effects()) {
            if (auto* out = std::get_if<replica::send>(&produced)) {
                ++sent;
                REEF_FUZZ_CHECK(out->to != members[0]);
                REEF_FUZZ_CHECK(out->to == members[1] || out->to == members[2]);
                if (replica::validate(out->body).ok()) {
                    ++sent_encoded;
                    auto back = replica::decode(replica::encode(fuzz_group(), out->body));
                    REEF_FUZZ_CHECK(back.ok());
                    REEF_FUZZ_CHECK(back->body == out->body);
                }
                if (auto answer = answer_of(out->body, live->leader() == members[0])) {
                    answers.emplace_back(out->to, std::move(*answer));
                }
            } else if (auto* done = std::get_if<replica::apply>(&produced)) {
                ++applied;
                applied_epoch = done->committed.epoch;
            } else if (auto* installed = std::get_if<replica::install_snapshot>(&produced)) {
                ++snapshots_installed;
                applied_epoch = installed->base.last_epoch;
            } else if (auto* role = std::get_if<replica::role_changed>(&produced)) {
                led += role->leading ? 1 : 0;
            } else if (std::holds_alternative<replica::compaction_due>(produced)) {
                const std::uint64_t upto = live->applied_index();
                if (upto > 0) {
                    ++compactions;
                    live->compact(replica::snapshot{upto, applied_epoch, "state"});
                }
            }
        }
        live->check_invariants();
        if (depth >= 4) {
            return;
        }
        for (const auto& [from, answer] : answers) {
            ++answered;
            live->on_message(now, from, answer);
            drain(depth + 1);
        }
    }

    void on_message(const replica::message& incoming, std::uint8_t choice) {
        if (!live || messages % messages_per_life == 0) {
            start();
        }
        ++messages;
        node_id from = members[1 + (choice & 1U)];
        replica::message body = incoming;
        if ((choice & 0x80U) != 0) {
            // Half of the time the message speaks for the current (or the next) epoch, from that
            // epoch's leader when it is another member, so hostile logs reach the follower paths.
            const std::uint64_t epoch = live->epoch() + ((choice & 0x40U) != 0 ? 1 : 0);
            std::visit(
                [&](auto& m) {
                    if constexpr (requires { m.epoch; }) {
                        m.epoch = epoch;
                    }
                },
                body);
            const node_id& leader = members[epoch % members.size()];
            if (leader != members[0]) {
                from = leader;
            }
            ++readdressed;
        }
        live->on_message(now, from, body);
        drain();
        now = now + duration::milliseconds(1 + choice % 300);
        if (live->next_deadline() <= now) {
            live->on_tick(now);
            drain();
        }
        if ((choice & 2U) != 0 && live->current_role() == replica::role::leader) {
            auto index = live->submit(now, replica::request_id{1, next_sequence++}, "incr");
            submitted += index.ok() ? 1 : 0;
            drain();
        }
        if ((choice & 0x7cU) == 0) {
            live->start_epoch_change(now);
            drain();
        } else if ((choice & 0x7cU) == 4) {
            live->on_member_down(now, from);
            drain();
        }
    }
};

bool same_host_message(const replica::host_message& a, const replica::host_message& b) {
    if (a.index() != b.index()) {
        return false;
    }
    if (const auto* x = std::get_if<replica::group_traffic>(&a)) {
        const auto& y = std::get<replica::group_traffic>(b);
        return x->group == y.group && x->members == y.members && x->body == y.body;
    }
    if (const auto* x = std::get_if<replica::client_request>(&a)) {
        const auto& y = std::get<replica::client_request>(b);
        return x->id == y.id && x->group == y.group && x->members == y.members &&
               x->request == y.request && x->command == y.command;
    }
    const auto& x = std::get<replica::client_answer>(a);
    const auto& y = std::get<replica::client_answer>(b);
    return x.id == y.id && x.applied == y.applied && x.answer == y.answer && x.leader == y.leader;
}

struct host_under_test {
    static constexpr std::uint64_t messages_per_life = 300;

    // Node 1 is this host; messages come from nodes 1..4 (this node itself included).
    std::array<node_id, 4> nodes{member_id(1), member_id(2), member_id(3), member_id(4)};
    std::unique_ptr<replica::kv::registers> app;
    std::unique_ptr<replica::host> live;
    instant now = instant::from_ns(0);
    std::uint64_t lives = 0;
    std::uint64_t next_sequence = 1;
    // Counters for the summary.
    std::uint64_t decoded = 0;
    std::uint64_t messages = 0;
    std::uint64_t sent = 0;
    std::uint64_t sent_encoded = 0;
    std::uint64_t persisted = 0;
    std::uint64_t done = 0;
    std::uint64_t groups_created = 0;

    static replica::host_config limits() {
        replica::host_config out;
        out.group = small_limits();
        out.groups_max = 8;
        out.requests_max = 16;
        return out;
    }

    void start() {
        if (live) {
            groups_created += live->stats().groups_created;
        }
        live.reset();
        app = std::make_unique<replica::kv::registers>();
        live = std::make_unique<replica::host>(limits(), nodes[0], *app, 29 + lives);
        ++lives;
    }

    void drain() {
        for (auto& produced : live->take_effects()) {
            if (auto* out = std::get_if<replica::host_send>(&produced)) {
                ++sent;
                REEF_FUZZ_CHECK(out->to != nodes[0]);
                if (replica::validate_host(out->body).ok()) {
                    ++sent_encoded;
                    auto back = replica::decode_host(replica::encode(out->body));
                    REEF_FUZZ_CHECK(back.ok());
                    REEF_FUZZ_CHECK(same_host_message(*back, out->body));
                }
            } else if (std::holds_alternative<replica::host_persist>(produced)) {
                ++persisted;
            } else if (std::holds_alternative<replica::request_done>(produced)) {
                ++done;
            }
        }
        live->check_invariants();
    }

    void on_message(const replica::host_message& incoming, std::uint8_t choice) {
        if (!live || messages % messages_per_life == 0) {
            start();
        }
        ++messages;
        const node_id& from = nodes[choice & 3U];
        live->on_message(now, from, incoming);
        drain();
        now = now + duration::milliseconds(1 + choice % 300);
        if (live->next_deadline() <= now) {
            live->on_tick(now);
            drain();
        }
        if ((choice & 0x70U) == 0) {
            const std::vector<node_id> members{nodes[0], nodes[1], nodes[2]};
            auto id = live->submit(now, fuzz_group(), members, members.size(),
                                   replica::request_id{7, next_sequence++},
                                   replica::kv::encode_command(replica::kv::incr{1}));
            static_cast<void>(id);
            drain();
        } else if ((choice & 0x70U) == 0x10U) {
            (void)live->on_member_down(now, nodes[1 + (choice >> 7U)]);
            drain();
        }
    }
};

group_under_test& target() {
    static auto instance = std::make_unique<group_under_test>();
    return *instance;
}

host_under_test& host_target() {
    static auto instance = std::make_unique<host_under_test>();
    return *instance;
}

void host_input(std::span<const std::uint8_t> data, std::string_view text) {
    auto decoded = replica::decode_host(text);
    if (!decoded.ok()) {
        REEF_FUZZ_CHECK(!decoded.failure().message.empty());
        return;
    }
    REEF_FUZZ_CHECK(replica::validate_host(*decoded).ok());
    const std::string again = replica::encode(*decoded);
    auto round_trip = replica::decode_host(again);
    REEF_FUZZ_CHECK(round_trip.ok());
    REEF_FUZZ_CHECK(same_host_message(*round_trip, *decoded));
    REEF_FUZZ_CHECK(replica::encode(*round_trip) == again);

    auto& t = host_target();
    ++t.decoded;
    const auto mix = static_cast<std::uint8_t>(data.size() * 0x3bU);
    const std::uint8_t choice = data.empty() ? 0 : data[data.size() / 3] ^ mix;
    t.on_message(*decoded, choice);
}

bytes as_bytes(const std::string& text) { return {text.begin(), text.end()}; }

} // namespace

void one_input(std::span<const std::uint8_t> data) {
    const std::string_view text{reinterpret_cast<const char*>(data.data()), data.size()};
    host_input(data, text);
    auto decoded = replica::decode(text);
    if (!decoded.ok()) {
        REEF_FUZZ_CHECK(!decoded.failure().message.empty());
        return;
    }
    REEF_FUZZ_CHECK(replica::validate(decoded->body).ok());
    const std::string again = replica::encode(decoded->group, decoded->body);
    auto round_trip = replica::decode(again);
    REEF_FUZZ_CHECK(round_trip.ok());
    REEF_FUZZ_CHECK(*round_trip == *decoded);
    REEF_FUZZ_CHECK(replica::encode(round_trip->group, round_trip->body) == again);

    auto& t = target();
    ++t.decoded;
    // Encoded messages are mostly small bytes; mixing in the length spreads the choices.
    const auto mix = static_cast<std::uint8_t>(data.size() * 0x9dU);
    const std::uint8_t choice = data.empty() ? 0 : data[data.size() / 2] ^ mix;
    t.on_message(decoded->body, choice);
}

std::vector<bytes> seed_corpus() {
    using replica::entry;
    using replica::request_id;
    const replica::group_id group_key = fuzz_group();
    const std::vector<entry> log{entry{1, 1, request_id{}, ""},
                                 entry{2, 1, request_id{5, 1}, "incr"},
                                 entry{3, 1, request_id{5, 2}, std::string("a\0b", 3)}};
    const replica::snapshot base{3, 1, "state"};
    const entry after_base{4, 2, request_id{}, ""};

    std::vector<bytes> corpus;
    auto add = [&](const replica::message& body) {
        corpus.push_back(as_bytes(replica::encode(group_key, body)));
    };
    add(replica::epoch_change{1});
    add(replica::epoch_promise{1, std::nullopt, log, 2});
    add(replica::epoch_promise{2, base, {after_base}, 3});
    add(replica::append{1, 0, 0, log, 2, std::nullopt});
    add(replica::append{2, 3, 1, {after_base}, 4, base});
    add(replica::append_reply{1, true, 3, 2});
    add(replica::append_reply{1, false, 0, 0});
    add(replica::stale_epoch{4});

    // Host messages: traffic for a group this host is a member of, requests and answers.
    const std::vector<node_id> members{member_id(1), member_id(2), member_id(3)};
    auto add_host = [&](const replica::host_message& body) {
        corpus.push_back(as_bytes(replica::encode(body)));
    };
    add_host(replica::group_traffic{group_key, members, replica::epoch_change{1}});
    add_host(replica::group_traffic{group_key, members,
                                    replica::append{1, 0, 0, log, 2, std::nullopt}});
    add_host(replica::group_traffic{group_key, members, replica::append_reply{1, true, 3, 2}});
    add_host(replica::client_request{
        4, group_key, members, request_id{9, 1},
        replica::kv::encode_command(replica::kv::put{std::string("v\0w", 3)}), true});
    add_host(replica::client_answer{1, true, "answer", std::nullopt, members, {}});
    add_host(replica::client_answer{1, false, "", member_id(2), members, {}});
    add_host(replica::client_answer{1, false, "", std::nullopt, {}, request_id{9, 1}});
    return corpus;
}

std::size_t default_iterations() { return 20000; }

std::string summary(std::uint64_t iterations) {
    const auto& t = target();
    // A harness whose inputs never decode, or whose group never applies anything, would test
    // only the error paths.
    REEF_FUZZ_CHECK(iterations < 1000 || t.decoded > iterations / 100);
    REEF_FUZZ_CHECK(iterations < 1000 || t.applied > 0);
    const auto& h = host_target();
    REEF_FUZZ_CHECK(iterations < 1000 || h.decoded > 0);
    const std::string host_line =
        "; host: " + std::to_string(h.decoded) + " inputs decoded, " +
        std::to_string(h.messages) + " messages over " + std::to_string(h.lives) + " lives, " +
        std::to_string(h.sent) + " sent (" + std::to_string(h.sent_encoded) + " encodable), " +
        std::to_string(h.persisted) + " persisted, " + std::to_string(h.done) +
        " requests done, " +
        std::to_string(h.groups_created + (h.live ? h.live->stats().groups_created : 0)) +
        " groups created";
    return "replica: " + std::to_string(t.decoded) + " of " + std::to_string(iterations) +
           " inputs decoded; group: " + std::to_string(t.messages) + " messages over " +
           std::to_string(t.lives) + " lives (" + std::to_string(t.readdressed) +
           " at the current epoch), " + std::to_string(t.sent) + " sent (" +
           std::to_string(t.sent_encoded) + " encodable, " + std::to_string(t.answered) +
           " answered), " + std::to_string(t.applied) +
           " applied, " + std::to_string(t.snapshots_installed) + " snapshots installed, " +
           std::to_string(t.compactions) + " compactions, led " + std::to_string(t.led) +
           " times, " + std::to_string(t.submitted) + " submitted, " +
           std::to_string(t.ignored) + " ignored, " + std::to_string(t.rejected_appends) +
           " appends rejected" + host_line;
}

} // namespace reef::fuzz
