#include "reef/membership/swim.hpp"

namespace reef::membership {

std::string_view to_string(member_state state) {
    switch (state) {
    case member_state::alive: return "alive";
    case member_state::suspect: return "suspect";
    case member_state::dead: return "dead";
    case member_state::left: return "left";
    }
    return "unknown";
}

status config::validate() const { return {}; }

struct swim::state {
    config limits;
    node_id self;
    std::string self_address;
    std::uint64_t incarnation = 0;
    swim_stats stats;
    std::vector<effect> effects;
};

swim::swim(const config& limits, node_id self, std::string self_address, std::uint64_t incarnation,
           std::uint64_t /*seed*/)
    : state_(std::make_unique<state>()) {
    state_->limits = limits;
    state_->self = self;
    state_->self_address = std::move(self_address);
    state_->incarnation = incarnation;
}

swim::~swim() = default;

void swim::join(instant /*now*/, std::span<const std::string> /*seed_addresses*/) {}
void swim::leave(instant /*now*/) {}
void swim::on_message(instant /*now*/, node_id /*from*/, const message& /*incoming*/) {}
void swim::on_tick(instant /*now*/) {}
void swim::on_unreachable(instant /*now*/, node_id /*to*/) {}

std::vector<effect> swim::take_effects() { return std::exchange(state_->effects, {}); }
instant swim::next_deadline() const { return instant::never(); }
node_id swim::self() const { return state_->self; }
std::uint64_t swim::incarnation() const { return state_->incarnation; }
std::vector<member_view> swim::members() const { return {}; }
std::optional<member_view> swim::member(const node_id& /*id*/) const { return std::nullopt; }
std::size_t swim::live_count() const { return 1; }
const swim_stats& swim::stats() const { return state_->stats; }
void swim::check_invariants() const {}

} // namespace reef::membership
