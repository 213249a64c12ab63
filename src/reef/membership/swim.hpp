#pragma once
// SWIM failure detection and membership with Lifeguard's refinements, as a sans-IO state machine.
//
// Thread-safety: none; one owner drives it (the node's event loop or the simulator).
// Inputs: on_message / on_tick / join / leave, each with the current `instant`.
// Outputs: take_effects() (sends and membership notifications) and next_deadline().
// The same code runs in reefd and in reef-sim.
//
// Invariants (check_invariants):
//  - this node is in its own view, alive (or left after leave()), at its own incarnation;
//  - every member has a distinct id; counts per state match the table;
//  - the view never holds more than config::members_max members;
//  - a suspect member has a suspicion deadline; no other state has one.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/time.hpp"
#include "reef/membership/config.hpp"
#include "reef/membership/messages.hpp"

namespace reef::membership {

/// Send `body` to member `to` at `address`. `to` is the zero id when only the address is known
/// (a join through a seed address); the transport then accepts whichever authenticated node
/// answers.
/// `address` is empty only for a reply to a peer this node has no address for yet (a ping from a
/// stranger); the transport answers over that peer's open session or drops the reply.
/// Effects are plain data and carry no ordering obligation between them beyond "in order".
struct send_effect {
    node_id to;
    std::string address;
    message body;
};

/// A member changed state in this node's view (for logs and upper layers such as the DHT).
struct member_changed {
    member_update update;
    member_state previous = member_state::alive;
    bool is_new = false;
};

using effect = std::variant<send_effect, member_changed>;

/// A member as this node sees it (for `reef peers`).
struct member_view {
    member_update update;
    instant state_since;               // when this node last saw the state change
    std::optional<duration> rtt;       // smoothed round trip of direct probes, once measured
    std::optional<instant> suspect_deadline;
};

struct swim_stats {
    std::uint64_t probes_sent = 0;
    std::uint64_t indirect_probes_sent = 0;
    std::uint64_t suspicions_raised = 0;
    std::uint64_t refutations = 0;
    std::uint64_t messages_rejected = 0;
    int local_health = 0; // Lifeguard LHM score, 0 = healthy
    std::uint64_t members_refused = 0;  // new members refused because members_max was reached
    std::uint64_t relays_refused = 0;   // ping_req refused because probes_in_flight_max was reached
    std::uint64_t nacks_sent = 0;       // relayed probes whose target stayed silent
    std::uint64_t deaths_declared = 0;  // suspicions this node's own timer turned into dead
    std::uint64_t verifications = 0;    // expired suspicions probed once more before a death
};

/// Seeds kept by join().
inline constexpr std::size_t seeds_max = 16;

class swim {
public:
    /// `incarnation` should be higher than any this node used before (the runtime persists it);
    /// a node that learns it was declared dead or suspect at a higher one refutes with more.
    /// `limits` must validate, `self` must not be zero, `self_address` must be "host:port"
    /// (is_valid_address in codec.hpp) and `incarnation` at most incarnation_max: peers reject
    /// anything else, so a violation is a bug in the caller and is asserted.
    swim(const config& limits, node_id self, std::string self_address, std::uint64_t incarnation,
         std::uint64_t seed);
    ~swim();
    swim(const swim&) = delete;
    swim& operator=(const swim&) = delete;

    /// Contact seed addresses (any member of the cluster) and ask for their views; retried every
    /// join_retry until some view arrives. Invalid addresses and this node's own are skipped; at
    /// most seeds_max are kept. After leave(), join() rejoins at a higher incarnation.
    void join(instant now, std::span<const std::string> seed_addresses);
    /// Announce a graceful leave; the node stops probing. Gossip keeps flowing until the driver
    /// stops it (reefd waits about one probe period for the announcement to spread).
    void leave(instant now);
    /// A message from an authenticated peer `from` (the transport checked its id).
    void on_message(instant now, node_id from, const message& incoming);
    /// The driver calls this when now >= next_deadline() (calling it early is harmless).
    void on_tick(instant now);
    /// The transport could not reach `to`: counts as a missed probe without waiting for a timeout.
    void on_unreachable(instant now, node_id to);

    [[nodiscard]] std::vector<effect> take_effects();
    [[nodiscard]] instant next_deadline() const;

    node_id self() const;
    std::uint64_t incarnation() const;
    /// Every known member including this node, ordered by id.
    std::vector<member_view> members() const;
    std::optional<member_view> member(const node_id& id) const;
    /// Members currently alive or suspect (the cluster size as this node sees it).
    std::size_t live_count() const;
    /// Members in `state` (this node included), O(1).
    std::size_t count(member_state state) const;
    /// Whether a join is still waiting for a first view.
    bool joining() const;
    const swim_stats& stats() const;

    void check_invariants() const;

private:
    struct state;
    std::unique_ptr<state> state_;
};

} // namespace reef::membership
