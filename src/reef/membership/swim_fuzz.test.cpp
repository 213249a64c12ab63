// Property tests of one swim instance fed random input: whatever peers send (well-formed or
// not, truthful or not, in any order) and however time moves, the core never crashes, keeps its
// invariants, only emits messages that pass validation, and never believes that it is not alive.

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "reef/membership/codec.hpp"
#include "reef/membership/swim.hpp"
#include "reef/membership/test_cluster.hpp"

namespace reef::membership {
namespace {

using testing::make_id;

// A small id space, so that updates collide with known members and with this node itself.
constexpr std::uint64_t ids_count = 8;
constexpr std::uint64_t self_number = 1;

rc::Gen<node_id> gen_member() {
    return rc::gen::map(rc::gen::inRange<std::uint64_t>(1, ids_count + 1),
                        [](std::uint64_t n) { return make_id(n); });
}

rc::Gen<member_update> gen_update() {
    return rc::gen::apply(
        [](std::uint64_t n, std::uint64_t incarnation, int state, bool has_origin,
           node_id origin, bool bad) {
            member_update u{make_id(n), "10.7.0." + std::to_string(n) + ":7400", incarnation,
                            static_cast<member_state>(state), has_origin ? origin : node_id{}};
            if (bad) {
                u.address = "garbage"; // the whole message must be rejected
            }
            return u;
        },
        rc::gen::inRange<std::uint64_t>(1, ids_count + 1),
        rc::gen::inRange<std::uint64_t>(0, 6), rc::gen::inRange(0, 4),
        rc::gen::arbitrary<bool>(), gen_member(),
        rc::gen::weightedOneOf<bool>({{19, rc::gen::just(false)}, {1, rc::gen::just(true)}}));
}

message random_message() {
    auto gossip = *rc::gen::container<std::vector<member_update>>(
        *rc::gen::inRange<std::size_t>(0, 6), gen_update());
    const auto seq = *rc::gen::inRange<std::uint64_t>(0, 4);
    const node_id target = *gen_member();
    switch (*rc::gen::inRange(0, 5)) {
    case 0: return ping{seq, target, std::move(gossip)};
    case 1: return ping_req{seq, target, "10.7.1.1:7400", std::move(gossip)};
    case 2: return ack{seq, target, std::move(gossip)};
    case 3: return nack{seq, target};
    default: return sync{std::move(gossip), *rc::gen::arbitrary<bool>()};
    }
}

RC_GTEST_PROP(swim_fuzz, random_input_keeps_invariants_and_valid_output, ()) {
    config limits;
    limits.members_max = 6; // small, so the bound is hit too
    limits.probes_in_flight_max = 3;
    const node_id self = make_id(self_number);
    swim core(limits, self, "10.7.0.1:7400", 2, *rc::gen::arbitrary<std::uint64_t>());
    instant now = instant::from_ns(1'000'000'000);
    bool left = false;
    const auto steps = *rc::gen::inRange(1, 200);
    for (int step = 0; step < steps; ++step) {
        switch (*rc::gen::inRange(0, 10)) {
        case 0:
            now = now + duration::milliseconds(*rc::gen::inRange<std::int64_t>(0, 3000));
            core.on_tick(now);
            break;
        case 1: core.on_unreachable(now, *gen_member()); break;
        case 2:
            if (*rc::gen::inRange(0, 10) == 0) {
                core.leave(now);
                left = true;
            } else {
                const std::vector<std::string> seeds{"10.7.9.9:7400"};
                core.join(now, seeds);
                left = false;
            }
            break;
        default: {
            // Mostly real peers; sometimes the zero id or this node's own id as the sender.
            const int who = *rc::gen::inRange(0, 20);
            const node_id from = who == 0 ? node_id{} : who == 1 ? self : *gen_member();
            core.on_message(now, from, random_message());
            break;
        }
        }
        core.check_invariants();
        RC_ASSERT(core.next_deadline() > instant{});
        for (const auto& e : core.take_effects()) {
            if (const auto* send = std::get_if<send_effect>(&e)) {
                RC_ASSERT(validate(send->body).ok());
                RC_ASSERT(send->to != self);
                RC_ASSERT(decode(encode(send->body)).ok());
            }
        }
        const auto me = core.member(self);
        RC_ASSERT(me.has_value());
        RC_ASSERT(me->update.state == (left ? member_state::left : member_state::alive));
        RC_ASSERT(me->update.incarnation == core.incarnation());
        RC_ASSERT(core.members().size() <= limits.members_max);
    }
}

} // namespace
} // namespace reef::membership
