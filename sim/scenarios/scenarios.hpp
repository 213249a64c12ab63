#pragma once
// The scenario catalogue (one function per scenario file). Internal to sim/.

#include "sim/scenario.hpp"

namespace reef::sim::detail {

scenario membership_scenario();
scenario crash_scenario();
scenario loss_slow_scenario();
scenario partition_scenario();
scenario restart_scenario();
scenario dht_scenario();
scenario dht_protocol_scenario();
scenario kv_linearizability_scenario();
scenario actor_counters_scenario();
scenario actor_supervision_scenario();
scenario jobs_scenario();

} // namespace reef::sim::detail
