#pragma once
// The driver the actor scenarios share: N whole reef::node::node instances (membership, DHT,
// replica host, actor table and its courier) on the simulated network, each with its own
// replica storage, driven as reefd drives one node: every replica write staged and synced once
// per input before the sends that follow it, one timer per node at the node's deadline. Nodes
// crash (losing every write not yet synced) and restart from their storage with a new
// incarnation.
//
// A scenario's clients are an actor_workload: the driver asks it when it next wants to act, lets
// it act, and hands it the answer to every request it submitted. While the driver runs it checks
// the replica safety of the actors it watches: no two nodes ever lead the same epoch of an
// actor's group, and members that applied the same index hold the same committed record.
//
// Thread-safety: none; a run owns its driver.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reef/actors/record.hpp"
#include "reef/base/prng.hpp"
#include "reef/base/time.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/node/node.hpp"
#include "sim/network.hpp"
#include "sim/replica_storage.hpp"
#include "sim/scenario.hpp"
#include "sim/scenarios/common.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace reef::sim::detail {

/// A client that heard nothing tries again through another node after this.
inline constexpr duration actor_client_timeout = duration::seconds(4);
inline constexpr duration actor_retry_pause_min = duration::milliseconds(50);
inline constexpr duration actor_retry_pause_max = duration::milliseconds(300);

/// One attempt of a request through node `via` (in its life `life`), as that node's id `id`.
struct actor_attempt {
    node_index via = 0;
    std::uint32_t life = 0;
    std::uint64_t id = 0;
    bool live = false;

    bool answers(node_index from, std::uint32_t from_life, std::uint64_t done) const {
        return live && via == from && life == from_life && id == done;
    }
};

/// The clients of a scenario, as the driver sees them.
class actor_workload {
public:
    virtual ~actor_workload() = default;
    /// The earliest instant at which work() has something to do (never: nothing).
    virtual instant next_work_at() const = 0;
    /// Start, retry or give up requests that are due at the driver's now().
    virtual void work() = 0;
    /// The answer (JSON text) to the request `id` submitted through `via` in its life `life`;
    /// false when no client waits for it.
    virtual bool answered(node_index via, std::uint32_t life, std::uint64_t id,
                          const std::string& text) = 0;
    /// Node `node`, in its life `life`, asks for job work (a jobs::worker's run). Only nodes
    /// with job slots ask; the default ignores it.
    virtual void job_run(node_index node, std::uint32_t life, const node::job_run& run) {
        (void)node;
        (void)life;
        (void)run;
    }
};

/// Which of a node's cores had its deadline in the past after a tick (several may at once).
struct stale_sources {
    std::uint64_t replicas = 0;
    std::uint64_t dht = 0;
    std::uint64_t actors = 0;
};

/// The answer as a JSON object, or nothing when it is not one.
std::optional<actors::json> parse_object(const std::string& text);

class actor_cluster {
public:
    /// `watched`: the actors whose groups the safety checks follow. The nodes start with
    /// start_all(), so a scenario may draw from random() for its own set-up first.
    actor_cluster(const scenario_options& options, std::size_t nodes_count,
                  std::vector<std::string> watched);

    void start_all();
    /// Runner slots every node offers to jobs (node::config::job_slots); before start_all().
    void set_job_slots(std::size_t slots) { limits_.job_slots = slots; }
    /// Nodes below `count` run command jobs (node::config::allow_exec), the others refuse them;
    /// before start_all().
    void set_exec_nodes(std::size_t count) { exec_nodes_count_ = count; }
    /// Follow actor `name`'s group in the safety checks from now on (a name learnt during the
    /// run, such as a job's).
    void watch(std::string name);
    /// The up node that leads actor `name`'s group in the highest epoch, if any.
    std::optional<node_index> leader_of(std::string_view name) const;
    /// Report a run's progress or end to node `node` (which must be up); see
    /// node::job_progress and node::job_finished.
    void job_progress(node_index node, std::uint64_t run, std::uint64_t through,
                      const nlohmann::json& partial);
    void job_finished(node_index node, std::uint64_t run, std::uint64_t through,
                      const nlohmann::json& partial);
    /// Report a command run's standard output or a run's failure to node `node` (which must be
    /// up); see node::job_output and node::job_failed.
    void job_output(node_index node, std::uint64_t run, std::string_view output);
    void job_failed(node_index node, std::uint64_t run, const std::string& why);
    /// The clients; the driver keeps the reference.
    void attach(actor_workload& workload) { workload_ = &workload; }

    instant now() const { return scheduler_.now(); }
    std::size_t nodes_count() const { return nodes_.size(); }
    std::uint64_t events() const { return events_; }
    trace_hasher& trace() { return trace_; }
    prng& random() { return random_; }
    network& net() { return network_; }
    bool up(node_index node) const { return nodes_[node].up; }
    /// How many times node `node` has started (its current life).
    std::uint32_t life(node_index node) const { return nodes_[node].life; }
    const std::optional<std::string>& violation() const { return violation_; }
    const std::map<std::string, std::uint64_t>& errors() const { return errors_; }
    std::uint64_t logs() const { return logs_; }
    std::uint64_t rejected() const { return rejected_; }
    std::uint64_t leaders_seen() const { return leaders_seen_; }
    std::uint64_t records_compared() const { return records_compared_; }
    std::uint64_t stale_deadlines() const { return stale_deadlines_; }
    const std::string& first_stale() const { return first_stale_; }
    const stale_sources& stale_by() const { return stale_by_; }

    /// Send every spawn request in `requests` through random nodes, each retried until answered
    /// ok; false when `limit` passes first.
    bool spawn_all(const std::vector<actors::json>& requests, instant limit);

    void crash(node_index node);
    void start_node(node_index node);
    /// Run the world until `limit`, letting the workload act whenever it asks to.
    void run_until(instant limit);

    /// Send `request` through node `via`; a dead attempt when the node is down or refuses it.
    actor_attempt submit(node_index via, const actors::json& request, bool may_create);
    node_index random_node();
    /// Count an answer that was not ok, grouped by the opening words of its error.
    void note_error(const std::string& answer);
    /// Stop the run with a violation (the first one is kept).
    void fail(std::string why);

    /// Every node's view of watched actor `watched_index`'s group, for a failure message.
    std::string describe_group(std::size_t watched_index) const;

private:
    struct node_state {
        bool up = false;
        std::uint32_t life = 0;
        std::uint64_t incarnation = 0; // the highest this node has persisted
        replica_storage storage;
        std::unique_ptr<node::node> core;
    };

    struct in_transit {
        node_index from = 0;
        node_index to = 0;
        std::vector<std::uint8_t> bytes;
    };

    struct answer_key {
        node_index via = 0;
        std::uint32_t life = 0;
        std::uint64_t id = 0;
        auto operator<=>(const answer_key&) const = default;
    };

    node_index index_of(const node_id& id) const;
    std::optional<std::string> take_answer(actor_attempt& pending);
    instant next_work_at() const;
    void answered(node_index via, const node::actor_done& done);
    void drain(node_index node);
    void check_groups(node_index node);
    void send_payload(node_index from, node::send_payload& out);
    void deliver(const event& arrived);
    void tick(node_index node);
    void arm(node_index node);

    const scenario_options& options_;
    prng random_;
    network network_;
    scheduler scheduler_;
    std::vector<node_state> nodes_;
    std::vector<crypto::identity> identities_;
    std::vector<node_id> ids_;
    std::vector<std::string> addresses_;
    node::config limits_;
    std::size_t exec_nodes_count_ = 0;
    std::vector<std::string> names_; // the watched actors
    std::vector<replica::group_id> groups_;
    actor_workload* workload_ = nullptr;
    std::map<answer_key, std::string> answers_;
    bool spawning_ = false; // spawn_all() collects answers in answers_
    bool ticked_ = false;   // drain() runs after on_tick
    std::uint64_t stale_deadlines_ = 0;
    stale_sources stale_by_;
    std::string first_stale_;
    instant wake_at_ = instant::never();
    // Per watched actor: epoch -> the node that led it; applied index -> (first node, record as
    // JSON).
    std::vector<std::map<std::uint64_t, node_id>> split_brain_;
    std::vector<std::map<std::uint64_t, std::pair<node_index, std::string>>> applied_seen_;
    std::vector<std::vector<std::uint64_t>> applied_checked_; // [node][watched actor]
    std::optional<std::string> violation_;
    std::map<std::string, std::uint64_t> errors_;
    std::vector<in_transit> wire_;
    std::vector<std::uint32_t> free_;
    trace_hasher trace_;
    std::uint64_t events_ = 0;
    std::uint64_t logs_ = 0;
    std::uint64_t rejected_ = 0;
    std::uint64_t leaders_seen_ = 0;
    std::uint64_t records_compared_ = 0;
};

struct fault_counts {
    std::size_t crashes = 0;
    std::size_t partitions = 0;
};

/// Until `end`: every 0.5-2 s one of crash, restart (every node that is down), partition (a
/// minority cut off) or heal, drawn from `faults`. `run_to` runs the world to an instant.
fault_counts inject_faults(actor_cluster& run, prng& faults, instant end,
                           const std::function<void(instant)>& run_to);

/// Heal every partition, stop the loss and start every node that is down.
void heal_everything(actor_cluster& run);

/// The answers that were not ok, the stale deadlines (if any) and the safety counts.
void print_driver_report(report& out, const actor_cluster& run);

} // namespace reef::sim::detail
