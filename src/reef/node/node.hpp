#pragma once
// One Reef node as a sans-IO state machine: the composition root that owns every protocol core
// (SWIM membership and the Kademlia DHT) and routes payloads between them and the transport.
// Membership feeds the DHT's routing table: a member seen alive is observed, a member declared
// dead or left is removed.
//
// Thread-safety: none; one owner drives it (reefd's event loop, or a test).
// Inputs, each with the current `instant`: on_payload, on_tick, on_unreachable, join, leave, and
// the DHT operations dht_put, dht_get, dht_closest (their answers come back as dht_done effects).
// Wall-clock time (record expiries) is derived from the monotonic input: the unix time at
// construction plus the time elapsed since, so the node still never reads a clock.
// Outputs: take_effects() and next_deadline(). The driver arms one timer at next_deadline() and
// drains take_effects() after every input.
//
// Effect order is an obligation: effects are executed in the order returned. A
// persist_incarnation comes before any send_payload that may carry that incarnation, so a
// crash can never let a restarted node reuse an incarnation it already announced.
//
// Untrusted input: every payload is decoded and validated before a core sees it. A malformed one
// is dropped, counted, and reported as a payload_rejected effect (rate-limited; the suppressed
// count travels with the next report). It never crashes the node.
//
// Invariants (check_invariants): the membership core's own; rejected <= received; the
// incarnation this node last asked to persist never exceeds the core's and never goes down.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "reef/actors/actor_table.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/worker.hpp"
#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/dht/kademlia.hpp"
#include "reef/node/applications.hpp"
#include "reef/replica/host.hpp"
#include "reef/replica/kv.hpp"
#include "reef/membership/config.hpp"
#include "reef/membership/swim.hpp"

namespace reef::node {

struct config {
    membership::config membership;
    dht::kademlia_config dht;
    replica::host_config replica;
    actors::table_config actors;
    /// Runner slots this node offers to jobs (normally its cores); 0: it computes no chunks (it
    /// still hosts job coordinators and the job table).
    std::size_t job_slots = 0;
    /// Whether this node runs command jobs' external commands (reefd --allow-exec).
    bool allow_exec = false;
    /// Members of a replica group (R): the alive members closest to its key when it is created.
    std::size_t replica_group_size = 3;
    /// Nodes asked whether they host a group before it is created: the alive members closest to
    /// its key. Wider than R so that a group whose members are no longer all among the R
    /// closest (a node joined nearer, a member died) is still found rather than created again.
    std::size_t replica_locate_width = 6;
    /// Rejected-payload reports emitted per second at most; the rest are counted and the count
    /// rides on the next report, so a peer sending garbage cannot flood the log.
    std::uint32_t rejection_reports_per_second = 10;

    [[nodiscard]] status validate() const;
};

/// Send `bytes` (an encoded wire::envelope) to node `to` at `address`. `to` is the zero id when
/// only the address is known (joining through a seed); the transport accepts whichever
/// authenticated node answers there.
struct send_payload {
    node_id to;
    std::string address;
    std::vector<std::uint8_t> bytes;
};

/// A payload from `from` was malformed and dropped. `suppressed` counts earlier rejections that
/// were not reported because of the rate limit. The runtime logs it at warn with the sender id.
struct payload_rejected {
    node_id from;
    std::string reason;
    std::uint64_t suppressed = 0;
};

/// Durably record that this node has used `incarnation` (the runtime fsyncs it) before executing
/// the effects that follow.
struct persist_incarnation {
    std::uint64_t incarnation = 0;
};

using member_changed = membership::member_changed;

/// A DHT operation started with dht_put / dht_get / dht_closest finished.
using dht_done = dht::operation_done;

/// Stage this write of a replica group in the node's replica storage. Obligation: it is durable
/// (synced) before any effect after it executes; a driver stages a run of them and syncs once.
using replica_write = replica::host_persist;

/// A kv request started with kv_submit() finished.
struct kv_done {
    std::uint64_t id = 0;
    result<replica::kv::answer> answer;
};

/// An actor request started with actor_submit() finished: the actor's answer (a JSON object
/// with "ok", see actors::actor_table), or why the request could not be carried out
/// (not_found: no such actor, timeout, unavailable, resource_exhausted).
struct actor_done {
    std::uint64_t id = 0;
    result<std::string> answer;
};

/// A line an actor's handler logged (ctx.log or print), on the node that ran it.
struct actor_log {
    std::string actor;
    std::string line;
};

/// Job work for the runtime's runner threads (jobs::worker's effects): start computing a chunk,
/// stop a run, or end a run earlier. Progress and ends come back through job_progress and
/// job_finished.
using job_run = std::variant<jobs::start_run, jobs::stop_run, jobs::shorten_run>;

using effect = std::variant<persist_incarnation, send_payload, payload_rejected, member_changed,
                            dht_done, replica_write, kv_done, actor_done, actor_log, job_run>;

struct node_stats {
    std::uint64_t payloads_received = 0;
    std::uint64_t payloads_rejected = 0;
    std::uint64_t payloads_sent = 0;
    std::uint64_t unreachable_reports = 0;
    std::uint64_t replica_messages_oversized = 0;  // outgoing, not sent (see collect_replicas)
    std::uint64_t replica_repairs = 0;  // member changes asked for groups with gone members
};

class node {
public:
    /// `incarnation` must be higher than any this node used before (the runtime persists it and
    /// bumps it at every start). `address` is where peers reach this node (it also goes into the
    /// node's DHT address record). `unix_seconds` is the wall-clock time at `now`.
    node(const config& limits, const crypto::identity& self, std::string address,
         std::uint64_t incarnation, std::uint64_t seed, instant now, std::uint64_t unix_seconds);

    /// Contact members at these "host:port" addresses and merge their views. Addresses are
    /// validated by the caller (settings, control API).
    void join(instant now, std::span<const std::string> addresses);
    /// Announce a graceful leave. Gossip keeps flowing until the driver stops the node.
    void leave(instant now);
    /// A payload from the authenticated peer `from`, which listens at `from_address` (the address
    /// it stated in its handshake; empty when unknown).
    void on_payload(instant now, const node_id& from, const std::string& from_address,
                    std::span<const std::uint8_t> bytes);
    /// Call when now >= next_deadline(); calling early is harmless.
    void on_tick(instant now);
    /// The transport could not deliver to `to` (zero id: a seed address; membership retries it).
    void on_unreachable(instant now, const node_id& to);

    /// DHT operations (dht::kademlia::start_put / start_get / start_closest). The answer is a
    /// dht_done effect with the returned id.
    [[nodiscard]] result<dht::operation_id> dht_put(instant now, std::string name,
                                                    std::string value,
                                                    std::uint64_t lifetime_seconds = 0);
    [[nodiscard]] result<dht::operation_id> dht_get(instant now, const id256& key);
    [[nodiscard]] result<dht::operation_id> dht_closest(instant now, const node_id& target);

    /// A replica group this node stored before it restarted; call for each before join().
    void replica_recover(instant now, const replica::group_id& group,
                         replica::durable_state state);
    /// The store replica writes go to: idle groups are evicted from memory and loaded back from
    /// it (replica::host::attach_store). `store` must outlive the node.
    void attach_replica_store(replica::storage& store) { replicas_.attach_store(store); }
    /// Run `body` on the kv register `key`. Its group is found among the replica_locate_width
    /// alive members closest to kv_group_of(key), or created on the replica_group_size closest.
    /// `request` is the client's own id for it (a retry with the same id applies once); none:
    /// the node assigns one. The answer comes as a kv_done effect with the returned id.
    /// Errors: invalid_argument (empty or long key), unavailable (no member known),
    /// resource_exhausted (too many requests).
    [[nodiscard]] result<std::uint64_t> kv_submit(
        instant now, std::string_view key, const replica::kv::command& body,
        std::optional<replica::request_id> request = std::nullopt);
    /// Send `request` (an actors request object: "op" spawn, deliver, inspect or steer, and
    /// "name") to the actor it names. A spawn with an empty name and a "name_prefix" gets a
    /// name this node makes up: the prefix, this node life's client id in hex, "-", a counter.
    /// Its group is located like a kv key's; only a spawn may
    /// create it (`may_create`), anything else to an actor no node hosts ends with not_found.
    /// The answer comes as an actor_done effect with the returned id.
    /// Errors: invalid_argument (a bad name), unavailable, resource_exhausted.
    [[nodiscard]] result<std::uint64_t> actor_submit(instant now, const actors::json& request,
                                                     bool may_create);
    /// The group of actor `name`: BLAKE2b-256("reef.actor" 0x00 name).
    static replica::group_id actor_group_of(std::string_view name);
    /// Adds a kernel this node can compute (the SDK's native tasks); before any job uses it.
    [[nodiscard]] status register_kernel(jobs::kernel added) {
        return kernels_.add(std::move(added));
    }
    const jobs::kernel_registry& kernels() const { return kernels_; }
    /// A run started by a job_run effect has computed up to `through`; `partial` is its chunk's
    /// result so far (the run's base included).
    void job_progress(instant now, std::uint64_t run, std::uint64_t through,
                      const actors::json& partial);
    /// A run has stopped at `through` with its chunk's result `partial` (not after a stop_run).
    void job_finished(instant now, std::uint64_t run, std::uint64_t through,
                      const actors::json& partial);
    /// A run failed (its Lua program raised an error, or could not be loaded; its command
    /// could not start or exited non-zero).
    void job_failed(instant now, std::uint64_t run, const std::string& why);
    /// A command run exited 0 with standard output `output`, which the worker stores.
    void job_output(instant now, std::uint64_t run, std::string_view output);
    const jobs::worker* job_worker() const { return worker_ ? &*worker_ : nullptr; }

    /// The group of kv register `key`: BLAKE2b-256("reef.kv" 0x00 key).
    static replica::group_id kv_group_of(std::string_view key);
    /// Longest kv key.
    static constexpr std::size_t kv_key_size_max = 256;

    [[nodiscard]] std::vector<effect> take_effects();
    [[nodiscard]] instant next_deadline() const;

    node_id self() const { return self_; }
    const std::string& address() const { return address_; }
    bool has_left() const { return left_; }
    std::uint64_t incarnation() const { return membership_.incarnation(); }
    /// Every known member including this node, ordered by id.
    std::vector<membership::member_view> members() const { return membership_.members(); }
    /// Members alive or suspect, this node included.
    std::size_t cluster_size() const { return membership_.live_count(); }
    const membership::swim_stats& membership_stats() const { return membership_.stats(); }
    const node_stats& stats() const { return stats_; }
    const dht::kademlia& dht() const { return dht_; }
    const replica::host& replicas() const { return replicas_; }
    const replica::kv::registers& kv_registers() const { return registers_; }
    const actors::actor_table& actors() const { return actors_; }
    /// When the actors this node leads have work due (part of next_deadline()).
    instant actors_next_due() const;
    /// Wall-clock unix seconds at `now`, as derived from the construction time.
    std::uint64_t unix_seconds_at(instant now) const;

    void check_invariants() const;

private:
    void reject(instant now, const node_id& from, std::string reason);
    void collect(instant now);
    void collect_replicas(instant now);
    /// The actors' courier: send what actors this node leads have to deliver.
    std::size_t pump_actors(instant now);
    /// This node leads `group` (in memory, as its leader).
    bool leads(const replica::group_id& group) const;
    /// Who waits for an actor request's answer: a client (an actor_done effect) or the job
    /// worker (its token).
    struct waiter {
        enum class kind : std::uint8_t { client, worker };
        kind who = kind::client;
        std::uint64_t token = 0;
    };
    [[nodiscard]] result<std::uint64_t> submit_actor_request(instant now,
                                                             const actors::json& request,
                                                             bool may_create, waiter waiting);
    /// Executes the job worker's effects: asks become actor requests, runs become job_run.
    void collect_jobs(instant now);
    void on_job_answer(instant now, std::uint64_t token, const result<std::string>& answer);
    void set_actor_clock(instant now);
    /// The alive members closest to `group`, closest first, at most replica_locate_width.
    std::vector<node_id> closest_alive(const replica::group_id& group) const;
    /// A request id for a request that brings none (see kv_client below).
    replica::request_id take_client();
    /// Submit the command `command` builds from the request id it is given.
    [[nodiscard]] result<std::uint64_t> submit_with_client(
        instant now, const replica::group_id& group, std::vector<node_id> candidates,
        const std::function<std::string(const replica::request_id&)>& command, bool may_create);
    void collect_replica_batch(instant now, std::vector<replica::host_effect>& batch);
    /// This node leads `group`: replace its members that membership says are gone.
    void repair_group(instant now, const replica::group_id& group,
                      const std::vector<node_id>& members);
    bool member_gone(const node_id& id) const;
    std::optional<std::string> address_of_member(const node_id& id) const;
    void feed_routing_table(instant now, const membership::member_changed& changed);

    config limits_;
    node_id self_;
    std::string address_;
    membership::swim membership_;
    dht::kademlia dht_;
    replica::kv::registers registers_;  // before replicas_, which applies entries to them
    actors::actor_table actors_;
    applications applications_;
    replica::host replicas_;
    // Host request ids of actor requests: a client's (actor_submit) or the courier's (token).
    std::set<std::uint64_t> actor_requests_;
    std::map<std::uint64_t, std::uint64_t> courier_requests_;
    // Jobs: the kernels this node can compute, and its worker (when it has slots), whose asks
    // are actor requests (host request id -> the worker's token).
    jobs::kernel_registry kernels_;
    std::optional<jobs::worker> worker_;
    std::map<std::uint64_t, std::uint64_t> worker_requests_;
    // Request ids for kv requests that bring none: each outstanding request holds a client of
    // its own (a client has one request outstanding at a time, or the exactly-once table would
    // take a later sequence overtaking an earlier one for a retry), returned when it ends.
    struct kv_client {
        std::uint64_t id = 0;
        std::uint64_t sequence = 0;
    };
    std::uint64_t kv_client_base_;  // random per node life; clients are base, base + 1, ...
    std::uint64_t kv_clients_made_ = 0;
    std::uint64_t names_made_ = 0;  // actor names made up by actor_submit ("name_prefix")
    std::vector<kv_client> kv_clients_idle_;
    std::map<std::uint64_t, kv_client> kv_clients_busy_;  // host request id -> its client
    instant started_at_;
    std::uint64_t unix_seconds_at_start_;
    std::vector<effect> effects_;
    node_stats stats_;
    std::uint64_t incarnation_persisted_;
    bool left_ = false;
    // Rejection report rate limit: reports in the current one-second window.
    instant report_window_start_;
    std::uint32_t reports_in_window_ = 0;
    std::uint64_t reports_suppressed_ = 0;
};

} // namespace reef::node
