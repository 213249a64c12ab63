#include "sim/scenario.hpp"

#include <array>

#include "sim/scenarios/scenarios.hpp"

namespace reef::sim {

std::span<const scenario> scenarios() {
    static const std::array<scenario, 11> all = {
        detail::membership_scenario(), detail::crash_scenario(), detail::loss_slow_scenario(),
        detail::partition_scenario(),  detail::restart_scenario(),
        detail::dht_scenario(),
        detail::dht_protocol_scenario(),
        detail::kv_linearizability_scenario(),
        detail::actor_counters_scenario(),
        detail::actor_supervision_scenario(),
        detail::jobs_scenario(),
    };
    return all;
}

const scenario* find_scenario(std::string_view name) {
    for (const scenario& candidate : scenarios()) {
        if (candidate.name == name) {
            return &candidate;
        }
    }
    return nullptr;
}

std::size_t nodes_max(const scenario& chosen) {
    return chosen.name.starts_with("dht") ? dht_nodes_count_max : nodes_count_max;
}

} // namespace reef::sim
