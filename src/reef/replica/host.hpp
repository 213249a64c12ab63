#pragma once
// The replica groups one node takes part in, and the client requests it forwards to them, as one
// sans-IO state machine (docs/design/replica.md, "Hosting").
//
// Thread-safety: none; one owner drives it (node::node, or a test).
// Inputs: recover (at start, per stored group), submit (a client request), on_message (from
// another node's host), on_member_down (membership), on_tick.
// Outputs: take_effects() and next_deadline() (the earliest deadline of any group or pending
// request: one timer for the whole node).
//
// Effect order is an obligation, as for group: a host_persist must be durable before any effect
// after it executes (stage them, sync once, then send).
//
// Groups travel with their member set: every message names its group and members, and a node
// creates a group it is a member of on its first message (or request), with exactly those
// members, so all members agree on the set even while membership views differ.
//
// Client requests: a group's member set is fixed when the group is created, so a requester
// whose view of the cluster has changed since (a member died, a node joined) must not guess it.
// It names candidates, the nodes closest to the key in its view, and first locates the group:
// it asks the candidates in order, and a node that hosts the group answers with the group's real
// members and its leader, while one that does not answers "unknown" and creates nothing. Only
// when every candidate has answered "unknown" does the requester ask the first group_size
// candidates to create the group (create = true). From then on it talks to the member it
// believes leads; a member that does not lead answers with its leader; the leader submits the
// command and answers once the entry is applied (the application's answer). The requester
// retries with the same request id every retry_interval, following leader hints, until
// answered or request_timeout. The request id makes a retried command apply once (the
// application deduplicates).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/replica/group.hpp"
#include "reef/replica/storage.hpp"

namespace reef::replica {

/// The replicated application: deterministic, applied in log order at every member.
class application {
public:
    virtual ~application() = default;
    /// Apply a committed entry of `group` and return its answer (opaque bytes).
    virtual std::string apply(const group_id& group, const entry& committed) = 0;
    /// The state of `group` as bytes, for a snapshot.
    virtual std::string snapshot_state(const group_id& group) = 0;
    /// Replace the state of `group` with a snapshot's.
    virtual void install(const group_id& group, const snapshot& base) = 0;
    /// Drop the state of `group` from memory (the group was evicted; it is rebuilt from its
    /// snapshot and log, through install and apply, when the group is loaded again).
    virtual void forget(const group_id& group) = 0;

    /// What the leader does with a client request before its log sees it: append a command
    /// (the request's own, or one the application computed from it, such as the result of
    /// running an actor's handler), or answer at once without an entry (a refusal such as
    /// "busy"). `core` is the group, led by this node; its entries after applied_index() are
    /// the ones the application has not applied yet. The default appends the request as is.
    struct append_command {
        std::string command;
    };
    struct answer_now {
        std::string answer;
    };
    using preparation = std::variant<append_command, answer_now>;
    virtual preparation prepare(const group_id& group, const class group& core,
                                const request_id& request, std::string command) {
        (void)group;
        (void)core;
        (void)request;
        return append_command{std::move(command)};
    }
};

struct host_config {
    group_config group;
    /// Groups held; a message or request for a new group beyond it is refused.
    std::size_t groups_max = 65'536;
    /// Client requests this node waits on (its own) plus remote ones it leads for.
    std::size_t requests_max = 1024;
    duration request_timeout = duration::seconds(8);
    duration retry_interval = duration::milliseconds(500);
    /// Largest member set accepted from the network.
    std::size_t members_max = 16;
    /// Groups kept in memory once a store is attached (attach_store): beyond it, idle groups this
    /// node follows are evicted, least recently used first, and loaded again on their next
    /// message or request. Groups it leads stay (reloading would cost an epoch change).
    std::size_t groups_resident_max = 4096;

    [[nodiscard]] status validate() const;
};

/// Group traffic between members.
struct group_traffic {
    group_id group;
    std::vector<node_id> members;
    message body;
};
/// A client request forwarded to a node. `members` is the set to create the group with, and
/// matters only when `create` is set; a node that does not host the group and is not asked to
/// create it answers "unknown" (an answer without members).
struct client_request {
    std::uint64_t id = 0;  // the requesting host's id for it
    group_id group;
    std::vector<node_id> members;
    request_id request;
    std::string command;
    bool create = false;
};
/// The answer: `applied` with the application's answer, or not (then `leader` names whom to
/// ask instead, when known). `members` is the group's member set when the answering node hosts
/// the group, empty when it does not.
struct client_answer {
    std::uint64_t id = 0;
    bool applied = false;
    std::string answer;
    std::optional<node_id> leader;
    std::vector<node_id> members;
    /// The request answered: a requester checks it, because its ids restart when it restarts
    /// and an answer meant for its previous life must not complete a new request.
    request_id request;
};
using host_message = std::variant<group_traffic, client_request, client_answer>;

struct host_send {
    node_id to;
    host_message body;
};
struct host_persist {
    group_id group;
    std::variant<persist_promise, persist_entries, persist_commit, persist_snapshot> write;
};
/// This node now leads `group`, whose member set is `members`: the driver checks them against
/// membership and replaces dead ones (change_members).
struct group_leading {
    group_id group;
    std::vector<node_id> members;
};
/// A request started with submit() finished: the application's answer, or timeout /
/// resource_exhausted.
struct request_done {
    std::uint64_t id = 0;
    result<std::string> answer;
};
using host_effect = std::variant<host_send, host_persist, request_done, group_leading>;

struct host_stats {
    std::uint64_t groups_created = 0;
    std::uint64_t requests_submitted = 0;
    std::uint64_t requests_answered = 0;
    std::uint64_t requests_timed_out = 0;
    std::uint64_t retries = 0;
    std::uint64_t redirects = 0;
    std::uint64_t groups_located = 0;   // requests that learned a group's members from a host
    std::uint64_t creations_asked = 0;  // requests that found no host and asked to create
    std::uint64_t refused = 0;  // malformed member sets, groups over groups_max, not a member
    std::uint64_t groups_evicted = 0;
    std::uint64_t groups_loaded = 0;
    std::uint64_t load_failures = 0;  // the store could not give an evicted group back
};

class host {
public:
    /// `app` must outlive the host.
    host(const host_config& limits, node_id self, application& app, std::uint64_t seed);

    /// A group this node stored before it restarted (before any other input).
    void recover(instant now, const group_id& group, durable_state state);
    /// Where evicted groups are loaded from: the store the driver writes this host's persist
    /// effects to (staged writes included). Without one, every group stays in memory. `store`
    /// must outlive the host.
    void attach_store(storage& store);
    /// Send `command` to `group`. `candidates` are the nodes most likely to host it, closest
    /// first (at most members_max, unique); if none of them hosts it, it is created on the first
    /// `group_size` of them, unless `may_create` is false: then the request ends with not_found.
    /// Returns this host's id for the request; the answer comes as request_done.
    [[nodiscard]] result<std::uint64_t> submit(instant now, const group_id& group,
                                               std::vector<node_id> candidates,
                                               std::size_t group_size, request_id request,
                                               std::string command, bool may_create = true);
    void on_message(instant now, const node_id& from, const host_message& incoming);
    /// Membership says `member` is dead. Returns the groups this node leads that count it as a
    /// member, for the driver to replace it (change_members).
    [[nodiscard]] std::vector<group_id> on_member_down(instant now, const node_id& member);
    /// Move `group`'s member set to `target` (this node must lead it): see group::change_members.
    [[nodiscard]] status change_members(instant now, const group_id& group,
                                        std::vector<node_id> target);
    void on_tick(instant now);

    [[nodiscard]] std::vector<host_effect> take_effects();
    [[nodiscard]] instant next_deadline() const;

    /// Groups this node is a member of: in memory and evicted.
    std::size_t groups_count() const { return groups_.size() + evicted_.size(); }
    std::size_t groups_resident() const { return groups_.size(); }
    /// This node holds `group` on disk only (evicted from memory while idle).
    bool evicted(const group_id& group) const { return evicted_.contains(group); }
    const group* find(const group_id& id) const;
    const host_stats& stats() const { return stats_; }

    void check_invariants() const;

private:
    struct pending {
        group_id group;
        std::vector<node_id> candidates;  // closest first
        std::size_t group_size = 0;
        std::vector<node_id> members;     // the group's, once a host named them (sorted)
        std::vector<node_id> unknown_at;  // candidates that answered "unknown" (sorted)
        // Members that said they do not lead since the last leader hint was followed (sorted):
        // hints to them and turns of the rotation skip them, so two members with stale views
        // cannot keep sending the request between each other.
        std::vector<node_id> refused_by;
        std::vector<node_id> silent;      // targets whose retry came without an answer (sorted)
        bool create = false;              // every candidate answered "unknown"
        bool may_create = true;           // else "every candidate answered unknown" ends it
        request_id request;
        std::string command;
        node_id target;
        instant next_retry;
        instant deadline;
    };
    /// A request this node's leader accepted, waiting for its entry to apply.
    struct awaited {
        node_id requester;          // zero id: this node's own request
        std::uint64_t requester_id = 0;
        request_id request;
    };

    group* open(instant now, const group_id& id, const std::vector<node_id>& members,
                bool joining);
    bool acceptable(const std::vector<node_id>& members) const;
    void drain(instant now, const group_id& id, group& core);
    void reschedule(const group_id& id, instant due);
    /// The group in memory, loading it if it was evicted; nullptr if this node holds neither.
    group* resident(instant now, const group_id& id);
    bool evictable(const group_id& id, const group& core) const;
    void evict_idle();
    void accept(instant now, const node_id& requester, const client_request& asked);
    void send_request(instant now, std::uint64_t id, const pending& waiting);
    void on_answer(instant now, const node_id& from, const client_answer& answer);
    void on_unknown(instant now, const node_id& from, std::uint64_t id, pending& waiting);
    void retarget(pending& waiting) const;
    std::vector<node_id> creation_members(const pending& waiting) const;
    void finish(std::uint64_t id, result<std::string> answer);

    host_config limits_;
    node_id self_;
    application& app_;
    std::uint64_t seed_;
    std::map<group_id, std::unique_ptr<group>> groups_;
    // The groups that have a deadline, by deadline: an idle group costs no work per tick or per
    // wake (no walk over every group), only a place in groups_.
    std::map<group_id, instant> due_;
    std::set<std::pair<instant, group_id>> due_order_;
    // Eviction: groups on disk only, each with the leader it knew (so a leader's death still
    // reaches it), and the resident groups by last use.
    storage* store_ = nullptr;
    std::map<group_id, node_id> evicted_;
    std::uint64_t uses_ = 0;
    std::map<group_id, std::uint64_t> used_at_;
    std::set<std::pair<std::uint64_t, group_id>> use_order_;
    std::map<std::uint64_t, pending> pending_;                        // own requests
    std::map<std::pair<group_id, std::uint64_t>, awaited> awaited_;   // (group, index) -> who
    // Per group: the index and epoch of the last entry the application applied (snapshots).
    std::map<group_id, std::pair<std::uint64_t, std::uint64_t>> applied_;
    std::uint64_t next_id_ = 1;
    std::vector<host_effect> effects_;
    host_stats stats_;
};

} // namespace reef::replica
