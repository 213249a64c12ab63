#include "reef/node/node.hpp"

#include <string_view>
#include <utility>

#include "reef/membership/codec.hpp"
#include "reef/wire/envelope.hpp"

namespace reef::node {

namespace {

/// A driver that never drains effects is a bug; this bound catches it long before memory does.
constexpr std::size_t effects_pending_max = 1U << 20U;

std::vector<std::uint8_t> encode_membership(const membership::message& body) {
    wire::envelope outer;
    outer.kind = wire::channel::membership;
    outer.body = membership::encode(body);
    return wire::encode(outer);
}

} // namespace

status config::validate() const {
    if (auto inner = membership.validate(); !inner) {
        return inner;
    }
    if (rejection_reports_per_second == 0) {
        return make_error(errc::invalid_argument, "rejection_reports_per_second must be > 0");
    }
    return {};
}

node::node(const config& limits, node_id self, std::string address, std::uint64_t incarnation,
           std::uint64_t seed)
    : limits_(limits),
      self_(self),
      address_(std::move(address)),
      membership_(limits.membership, self, address_, incarnation, seed),
      incarnation_persisted_(incarnation) {
    REEF_ASSERT(limits.validate().ok());
    REEF_ASSERT(!self.is_zero());
    REEF_ASSERT(membership::is_valid_address(address_));
}

void node::join(instant now, std::span<const std::string> addresses) {
    for (const auto& address : addresses) {
        REEF_ASSERT(membership::is_valid_address(address));
    }
    membership_.join(now, addresses);
    collect();
}

void node::leave(instant now) {
    if (!left_) {
        left_ = true;
        membership_.leave(now);
    }
    collect();
}

void node::on_payload(instant now, const node_id& from, std::span<const std::uint8_t> bytes) {
    ++stats_.payloads_received;
    auto outer = wire::decode(bytes);
    if (!outer) {
        reject(now, from, outer.failure().message);
        return;
    }
    switch (outer->kind) {
    case wire::channel::membership: {
        auto inner = membership::decode(outer->body);
        if (!inner) {
            reject(now, from, "membership message: " + inner.failure().message);
            return;
        }
        membership_.on_message(now, from, *inner);
        break;
    }
    }
    collect();
}

void node::on_tick(instant now) {
    membership_.on_tick(now);
    collect();
}

void node::on_unreachable(instant now, const node_id& to) {
    ++stats_.unreachable_reports;
    // A seed address that cannot be reached is retried by membership's join timer; only a known
    // member's unreachability is news to the failure detector.
    if (!to.is_zero()) {
        membership_.on_unreachable(now, to);
    }
    collect();
}

std::vector<effect> node::take_effects() { return std::exchange(effects_, {}); }

instant node::next_deadline() const { return membership_.next_deadline(); }

void node::reject(instant now, const node_id& from, std::string reason) {
    ++stats_.payloads_rejected;
    REEF_ASSERT(stats_.payloads_rejected <= stats_.payloads_received);
    if (now - report_window_start_ >= duration::seconds(1) || now < report_window_start_) {
        report_window_start_ = now;
        reports_in_window_ = 0;
    }
    if (reports_in_window_ >= limits_.rejection_reports_per_second) {
        ++reports_suppressed_;
        return;
    }
    ++reports_in_window_;
    effects_.emplace_back(std::in_place_type<payload_rejected>, from, std::move(reason),
                          reports_suppressed_);
    reports_suppressed_ = 0;
}

void node::collect() {
    auto produced = membership_.take_effects();
    // Persist a raised incarnation before any send that may announce it.
    const std::uint64_t incarnation = membership_.incarnation();
    REEF_ASSERT(incarnation >= incarnation_persisted_);
    if (incarnation > incarnation_persisted_) {
        incarnation_persisted_ = incarnation;
        effects_.emplace_back(std::in_place_type<persist_incarnation>, incarnation);
    }
    for (auto& produced_effect : produced) {
        if (auto* send = std::get_if<membership::send_effect>(&produced_effect)) {
            ++stats_.payloads_sent;
            effects_.emplace_back(std::in_place_type<send_payload>, send->to,
                                  std::move(send->address), encode_membership(send->body));
        } else {
            effects_.emplace_back(std::in_place_type<member_changed>,
                                  std::get<membership::member_changed>(std::move(produced_effect)));
        }
    }
    REEF_ASSERT(effects_.size() < effects_pending_max);
}

void node::check_invariants() const {
    membership_.check_invariants();
    REEF_ASSERT(stats_.payloads_rejected <= stats_.payloads_received);
    REEF_ASSERT(incarnation_persisted_ == membership_.incarnation());
    REEF_ASSERT(reports_in_window_ <= limits_.rejection_reports_per_second);
}

} // namespace reef::node
