#pragma once
// Membership limits and timings. Defaults are LAN settings (crash detection p50 <= 2 s on a small
// cluster). Every limit is checked by validate() at startup.

#include <cstddef>
#include <cstdint>

#include "reef/base/result.hpp"
#include "reef/base/time.hpp"

namespace reef::membership {

struct config {
    /// One probe per protocol period (SWIM's T').
    duration probe_period = duration::milliseconds(200);
    /// Direct ack deadline; after it, indirect probes go out. Scaled by the local health
    /// multiplier.
    duration probe_timeout = duration::milliseconds(100);
    /// Members asked to probe indirectly (SWIM's k).
    std::size_t indirect_probes = 3;
    /// Suspicion timeout minimum = suspicion_mult * max(1, log10(n)) * probe_period (memberlist).
    double suspicion_mult = 4.0;
    /// Lifeguard: a fresh suspicion starts at suspicion_max_mult * minimum and shrinks toward the
    /// minimum as independent confirmations arrive.
    double suspicion_max_mult = 6.0;
    /// Lifeguard local health multiplier ceiling (LHM in [0, awareness_max - 1]).
    int awareness_max = 8;
    /// Each update is piggybacked about retransmit_mult * log10(n+1) times.
    double retransmit_mult = 4.0;
    /// Most updates piggybacked on one message (at most gossip_count_max = 64, the wire limit).
    /// 32 updates are about 2-3 KiB: a burst of news (a join wave, a mass crash) drains twice as
    /// fast as with memberlist's 16, at the same total work.
    std::size_t gossip_per_message_max = 32;
    /// Push-pull anti-entropy with one random member (jittered +-50 %).
    duration sync_period = duration::seconds(30);
    /// Serf-style reconnect: this often (jittered +-50 %) send a sync asking for a reply to one
    /// random dead (not left) member, so the two sides of a healed partition find each other.
    duration reconnect_period = duration::seconds(2);
    /// Retry an unanswered join after this long.
    duration join_retry = duration::seconds(1);
    /// Dead/left members are forgotten after this long (they stay listed until then).
    duration dead_reclaim = duration::seconds(600);
    /// Largest membership this node will track; beyond it new members are refused (logged).
    std::size_t members_max = 100'000;
    /// In-flight probes this node relays for others (ping_req); further requests are refused and
    /// counted. This node's own probe is one at a time and not counted here.
    std::size_t probes_in_flight_max = 1024;
    /// Smoothing for RTT samples (EWMA weight of a new sample).
    double rtt_alpha = 0.2;

    /// invalid_argument naming the first setting out of range.
    [[nodiscard]] status validate() const;
};

} // namespace reef::membership
