#include "reef/membership/swim.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "reef/base/assert.hpp"
#include "reef/base/buggify.hpp"
#include "reef/base/prng.hpp"
#include "reef/membership/codec.hpp"
#include "reef/membership/gossip_queue.hpp"
#include "reef/membership/suspicion.hpp"

namespace reef::membership {

namespace {

constexpr std::size_t indirect_probes_max = 16;
constexpr int awareness_limit = 64;
// Below this many probe-list entries, random picks scan the list; above it they sample it.
constexpr std::size_t random_scan_list_max = 64;
// A view is sent in syncs of at most this many members, so that even with 255-byte addresses
// (about 340 bytes per update) a sync stays well below the transport's 1 MiB frame limit.
constexpr std::size_t sync_chunk_members = 2048;
// Reconnect tries this many random entries of the dead list (stale ones are dropped).
constexpr int reconnect_attempts_max = 16;

std::size_t index_of(member_state state) { return static_cast<std::size_t>(state); }

bool is_live(member_state state) {
    return state == member_state::alive || state == member_state::suspect;
}

// The same order as id256's operator<, a word at a time (sorting views is on the hot path of
// sync and of each probe round).
std::uint64_t word_at(const node_id& id, std::size_t index) {
    std::uint64_t word = 0;
    std::memcpy(&word, id.bytes().data() + index * sizeof(word), sizeof(word));
    if constexpr (std::endian::native == std::endian::little) {
        word = __builtin_bswap64(word);
    }
    return word;
}

bool id_less(const node_id& a, const node_id& b) {
    for (std::size_t i = 0; i < id256::size_bytes / sizeof(std::uint64_t); ++i) {
        const std::uint64_t x = word_at(a, i);
        const std::uint64_t y = word_at(b, i);
        if (x != y) {
            return x < y;
        }
    }
    return false;
}

struct id_equal {
    bool operator()(const node_id& a, const node_id& b) const {
        for (std::size_t i = 0; i < id256::size_bytes / sizeof(std::uint64_t); ++i) {
            if (word_at(a, i) != word_at(b, i)) {
                return false;
            }
        }
        return true;
    }
};

bool contains(const std::vector<node_id>& ids, const node_id& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

error bad_setting(const std::string& what) { return make_error(errc::invalid_argument, what); }

bool finite_at_least(double value, double floor) { return std::isfinite(value) && value >= floor; }

} // namespace

std::string_view to_string(member_state state) {
    switch (state) {
    case member_state::alive: return "alive";
    case member_state::suspect: return "suspect";
    case member_state::dead: return "dead";
    case member_state::left: return "left";
    }
    return "unknown";
}

status config::validate() const {
    if (probe_period <= duration::zero()) {
        return bad_setting("probe_period must be > 0");
    }
    if (probe_timeout <= duration::zero() || probe_timeout >= probe_period) {
        return bad_setting("probe_timeout must be > 0 and < probe_period");
    }
    if (indirect_probes > indirect_probes_max) {
        return bad_setting("indirect_probes must be at most " +
                           std::to_string(indirect_probes_max));
    }
    if (!finite_at_least(suspicion_mult, 1.0) || suspicion_mult > 100.0) {
        return bad_setting("suspicion_mult must be in [1, 100]");
    }
    if (!finite_at_least(suspicion_max_mult, 1.0) || suspicion_max_mult > 100.0) {
        return bad_setting("suspicion_max_mult must be in [1, 100]");
    }
    if (awareness_max < 1 || awareness_max > awareness_limit) {
        return bad_setting("awareness_max must be in [1, " + std::to_string(awareness_limit) + "]");
    }
    if (!finite_at_least(retransmit_mult, 0.1) || retransmit_mult > 100.0) {
        return bad_setting("retransmit_mult must be in [0.1, 100]");
    }
    if (gossip_per_message_max < 1 || gossip_per_message_max > gossip_count_max) {
        return bad_setting("gossip_per_message_max must be in [1, " +
                           std::to_string(gossip_count_max) + "]");
    }
    if (sync_period <= duration::zero() || reconnect_period <= duration::zero() ||
        join_retry <= duration::zero() || dead_reclaim <= duration::zero()) {
        return bad_setting(
            "sync_period, reconnect_period, join_retry and dead_reclaim must be > 0");
    }
    if (members_max < 1 || members_max > sync_members_max) {
        // A full view must fit in one sync message.
        return bad_setting("members_max must be in [1, " + std::to_string(sync_members_max) + "]");
    }
    if (probes_in_flight_max < 1) {
        return bad_setting("probes_in_flight_max must be >= 1");
    }
    if (!std::isfinite(rtt_alpha) || rtt_alpha <= 0.0 || rtt_alpha > 1.0) {
        return bad_setting("rtt_alpha must be in (0, 1]");
    }
    return {};
}

// ------------------------------------------------------------------------------------------------

struct swim::state {
    struct member_entry {
        member_update update;
        instant state_since;
        std::optional<duration> rtt;
        bool in_probe_list = false;
        gossip_slot gossip;
    };

    struct suspicion {
        suspicion_bounds bounds;
        instant start;
        instant deadline; // in suspicion_timers unless verifying
        std::vector<node_id> origins; // the first origin, then confirmers; at most k + 1
        std::optional<instant> own_failure; // this node's last failed probe of the suspect
        bool verifying = false; // deadline passed; waiting for the verification probe
    };

    // This node's own probe; there is at most one at a time.
    struct probe {
        std::uint64_t seq = 0;
        node_id target;
        bool verification = false; // probing a suspect whose deadline passed
        instant sent;
        instant direct_deadline;
        instant end;
        bool indirect = false;
        std::vector<node_id> relays;
        std::vector<bool> nacked;
        std::size_t nacks = 0;
    };

    // A ping this node sends on behalf of a ping_req.
    struct relay {
        node_id requester;
        std::uint64_t requester_seq = 0;
        node_id target;
        instant sent;
        instant deadline;
    };

    state(const config& limits_in, node_id self_in, std::string address, std::uint64_t inc,
          std::uint64_t seed)
        : limits(limits_in),
          self(self_in),
          self_address(std::move(address)),
          incarnation(inc),
          random(seed),
          seq_next(random.next_u64() >> 1U) {
        member_entry entry;
        entry.update = member_update{self, self_address, incarnation, member_state::alive, {}};
        auto [it, inserted] = members.emplace(self, std::move(entry));
        REEF_ASSERT(inserted);
        ++counts[index_of(member_state::alive)];
        gossip.push(&it->second);
    }

    // --- helpers -------------------------------------------------------------------------------
    std::size_t live_count() const {
        return counts[index_of(member_state::alive)] + counts[index_of(member_state::suspect)];
    }
    std::int64_t health_scale() const { return stats.local_health + 1; }
    void adjust_health(int delta) {
        stats.local_health = std::clamp(stats.local_health + delta, 0, limits.awareness_max - 1);
    }
    duration jittered(duration period) { return period.scaled(0.5 + random.unit()); }
    duration relay_timeout() const {
        // The requester waits probe_period - probe_timeout (at least) after sending ping_req; a
        // nack must arrive inside that window.
        return min(limits.probe_timeout, limits.probe_period - limits.probe_timeout).scaled(0.8);
    }
    std::uint32_t retransmit_limit() const {
        const double n = static_cast<double>(live_count());
        const double limit = limits.retransmit_mult * std::ceil(std::log10(n + 1.0));
        return static_cast<std::uint32_t>(std::max(1.0, std::ceil(limit)));
    }
    // Departures close together are forgotten in one pass of the table.
    duration reclaim_slack() const { return min(duration::seconds(1), limits.dead_reclaim / 10); }
    std::string address_of(const node_id& id) const {
        auto found = members.find(id);
        return found == members.end() ? std::string() : found->second.update.address;
    }
    member_entry& self_entry() {
        auto found = members.find(self);
        REEF_ASSERT(found != members.end());
        return found->second;
    }

    void send(const node_id& to, std::string address, message body) {
        REEF_ASSERT(to != self);
        effects.emplace_back(std::in_place_type<send_effect>, to, std::move(address),
                             std::move(body));
    }

    void ensure_started(instant now);
    std::vector<member_update> take_gossip(const node_id& buddy);
    /// This node's whole view as sync messages of at most sync_chunk_members each.
    void send_view(const node_id& to, const std::string& address, bool reply_wanted);
    std::vector<const member_entry*> sorted_entries() const;

    // --- member table --------------------------------------------------------------------------
    void change(instant now, const node_id& id, member_entry& entry, const member_update& update,
                bool is_new);
    void apply_update(instant now, const node_id& from, member_update update, bool from_sync);
    void apply_about_self(const member_update& update);
    void refute(std::uint64_t claimed, bool health_penalty);
    void start_suspicion(instant now, const node_id& id, const node_id& origin);
    bool confirm_suspicion(const node_id& id, const node_id& origin);
    void end_suspicion(const node_id& id);
    void suspect_or_confirm(instant now, const node_id& id);
    void record_rtt(const node_id& id, duration sample);
    void reclaim(instant now);

    // --- probing -------------------------------------------------------------------------------
    void add_to_probe_list(const node_id& id, member_entry& entry);
    void rebuild_probe_list();
    std::optional<node_id> next_probe_target();
    std::vector<node_id> random_members(std::size_t count, const node_id& exclude,
                                        bool alive_only);
    void run_probe(instant now);
    void start_probe(instant now);
    void start_indirect(instant now);
    void probe_failed(instant now);
    void probe_succeeded(instant now, const node_id& from);

    // --- messages ------------------------------------------------------------------------------
    void on_ping(const node_id& from, const ping& m);
    void on_ping_req(instant now, const node_id& from, const ping_req& m);
    void on_ack(instant now, const node_id& from, const ack& m);
    void on_nack(const node_id& from, const nack& m);
    void on_sync(instant now, const node_id& from, const sync& m);
    void apply_gossip(instant now, const node_id& from, const std::vector<member_update>& gossip);

    // --- periodic work -------------------------------------------------------------------------
    void send_join(instant now);
    void run_sync(instant now);
    void run_reconnect(instant now);
    void add_to_dead_list(const node_id& id);
    void expire_relays(instant now);
    void expire_suspicions(instant now);
    void declare_dead(instant now, const node_id& id, member_entry& entry);
    std::optional<node_id> next_verification();

    config limits;
    node_id self;
    std::string self_address;
    std::uint64_t incarnation;
    prng random;
    swim_stats stats;
    std::vector<effect> effects;

    // Looked up on every gossip entry, so hashed; anything that iterates it into an effect or an
    // output sorts by id first (determinism does not depend on the hash table's order).
    std::unordered_map<node_id, member_entry, id256_hash, id_equal> members;
    std::array<std::size_t, 4> counts{};
    std::map<node_id, suspicion> suspicions;
    std::set<std::pair<instant, node_id>> suspicion_timers;
    gossip_queue<member_entry> gossip; // points into `members` (its nodes never move)

    std::vector<member_entry*> taken; // scratch for take_gossip
    std::vector<node_id> probe_list; // SWIM's randomized round robin
    std::vector<node_id> dead_list;  // reconnect candidates; may hold stale ids
    std::deque<node_id> verify_queue; // suspects due for a verification probe; may hold stale ids
    std::size_t probe_index = 0;
    std::optional<probe> current_probe;
    instant next_probe_at;
    std::map<std::uint64_t, relay> relays; // by seq; deadlines grow with seq
    std::uint64_t seq_next;

    bool started = false;
    bool left = false;
    bool joining = false;
    std::vector<std::string> seeds;
    instant join_retry_at = instant::never();
    instant next_sync_at = instant::never();
    duration sync_interval;
    instant next_reconnect_at = instant::never();
    instant next_reclaim_at = instant::never();
};

void swim::state::ensure_started(instant now) {
    if (started) {
        return;
    }
    started = true;
    // Stagger the first probe so that nodes started together do not probe in lockstep.
    next_probe_at = now + limits.probe_period.scaled(random.unit());
    sync_interval = limits.sync_period;
    next_sync_at = now + jittered(sync_interval);
    next_reconnect_at = now + jittered(limits.reconnect_period);
}

std::vector<member_update> swim::state::take_gossip(const node_id& buddy) {
    std::vector<member_update> out;
    const member_entry* skip = nullptr;
    // Lifeguard's buddy system: a suspect learns of its suspicion from the probe itself.
    if (!buddy.is_zero()) {
        auto found = members.find(buddy);
        if (found != members.end() && found->second.update.state == member_state::suspect) {
            out.push_back(found->second.update);
            skip = &found->second;
        }
    }
    taken.clear();
    gossip.take(limits.gossip_per_message_max - out.size(), retransmit_limit(), skip, taken);
    for (const member_entry* entry : taken) {
        out.push_back(entry->update);
    }
    REEF_ASSERT(out.size() <= limits.gossip_per_message_max);
    return out;
}

std::vector<const swim::state::member_entry*> swim::state::sorted_entries() const {
    std::vector<const member_entry*> out;
    out.reserve(members.size());
    for (const auto& [id, entry] : members) {
        out.push_back(&entry);
    }
    std::sort(out.begin(), out.end(), [](const member_entry* a, const member_entry* b) {
        return id_less(a->update.id, b->update.id);
    });
    return out;
}

void swim::state::send_view(const node_id& to, const std::string& address, bool reply_wanted) {
    const auto entries = sorted_entries();
    REEF_ASSERT(!entries.empty()); // this node is always in its own view
    for (std::size_t first = 0; first < entries.size(); first += sync_chunk_members) {
        const std::size_t last = std::min(entries.size(), first + sync_chunk_members);
        sync chunk;
        chunk.members.reserve(last - first);
        for (std::size_t i = first; i < last; ++i) {
            chunk.members.push_back(entries[i]->update);
        }
        // Ask for the answer with the last chunk, once the whole view has been merged.
        chunk.reply_wanted = reply_wanted && last == entries.size();
        REEF_ASSERT(chunk.members.size() <= sync_members_max);
        effects.emplace_back(std::in_place_type<send_effect>, to, address, std::move(chunk));
    }
}

// --- member table --------------------------------------------------------------------------------

void swim::state::change(instant now, const node_id& id, member_entry& entry,
                         const member_update& update, bool is_new) {
    REEF_ASSERT(update.id == id);
    const member_state previous = entry.update.state;
    if (!is_new) {
        REEF_ASSERT(counts[index_of(previous)] > 0);
        --counts[index_of(previous)];
        if (previous == member_state::suspect) {
            end_suspicion(id);
        }
    }
    const bool state_changed = is_new || previous != update.state;
    const bool address_changed = !is_new && entry.update.address != update.address;
    entry.update = update;
    ++counts[index_of(update.state)];
    if (state_changed) {
        entry.state_since = now;
    }
    if (is_live(update.state) && !entry.in_probe_list && id != self) {
        add_to_probe_list(id, entry);
    }
    if (state_changed && !is_live(update.state) && id != self) {
        next_reclaim_at = min(next_reclaim_at, now + limits.dead_reclaim + reclaim_slack());
        if (update.state == member_state::dead) {
            add_to_dead_list(id);
        }
    }
    gossip.push(&entry);
    if (state_changed || address_changed) {
        effects.emplace_back(std::in_place_type<member_changed>, update,
                             is_new ? member_state::alive : previous, is_new);
    }
}

namespace {

// SWIM/memberlist precedence: alive(i) beats suspect/dead(j) only if i > j; suspect(i) beats
// alive(j) if i >= j; dead beats alive/suspect at i >= j; a left member changes only through a
// higher incarnation, and a dead one is never "more dead".
bool overrides(const member_update& incoming, const member_update& current) {
    const std::uint64_t i = incoming.incarnation;
    const std::uint64_t j = current.incarnation;
    switch (incoming.state) {
    case member_state::alive: return i > j;
    case member_state::suspect: return current.state == member_state::alive ? i >= j : i > j;
    case member_state::dead: return is_live(current.state) ? i >= j : false;
    case member_state::left: return current.state == member_state::left ? i > j : i >= j;
    }
    return false;
}

} // namespace

void swim::state::apply_update(instant now, const node_id& from, member_update update,
                               bool from_sync) {
    if (update.id == self) {
        apply_about_self(update);
        return;
    }
    if (update.state == member_state::suspect || update.state == member_state::dead) {
        if (update.origin.is_zero()) {
            update.origin = from;
        }
    } else {
        update.origin = node_id{}; // alive and left are the member's own word
    }
    auto found = members.find(update.id);
    if (found == members.end()) {
        if (members.size() >= limits.members_max) {
            ++stats.members_refused;
            return;
        }
        found = members.emplace(update.id, member_entry{}).first;
        change(now, update.id, found->second, update, true);
        if (update.state == member_state::suspect) {
            start_suspicion(now, update.id, update.origin);
        }
        return;
    }
    member_entry& entry = found->second;
    // memberlist's push-pull rule: a death reported in a view is only a suspicion here, so a
    // member declared dead elsewhere (on the far side of a partition) gets a chance to refute.
    if (from_sync && update.state == member_state::dead && is_live(entry.update.state)) {
        update.state = member_state::suspect;
    }
    if (!overrides(update, entry.update)) {
        if (update.state == member_state::suspect && entry.update.state == member_state::suspect &&
            update.incarnation == entry.update.incarnation &&
            confirm_suspicion(update.id, update.origin)) {
            entry.update.origin = update.origin; // re-gossip the independent confirmation
            gossip.push(&entry);
        }
        return;
    }
    change(now, update.id, entry, update, false);
    if (update.state == member_state::suspect) {
        start_suspicion(now, update.id, update.origin);
    }
}

void swim::state::apply_about_self(const member_update& update) {
    if (left) {
        return; // this node announced its leave; nothing a peer says changes that
    }
    if (update.state == member_state::alive) {
        // Someone has us alive at a higher incarnation than ours (a previous life of this node):
        // claim a still higher one so that our own announcements win.
        if (update.incarnation > incarnation) {
            refute(update.incarnation, false);
        }
        return;
    }
    // Suspect, dead or left: a peer can never make this node believe it is gone.
    if (update.incarnation >= incarnation) {
        refute(update.incarnation, true);
    } else {
        // An old claim still circulates (often the suspecter itself, probing us with the buddy
        // system): make our refutation fresh news again so the reply carries it first.
        gossip.push(&self_entry());
    }
}

void swim::state::refute(std::uint64_t claimed, bool health_penalty) {
    REEF_ASSERT(!left);
    REEF_ASSERT(claimed >= incarnation);
    ++stats.refutations;
    if (health_penalty) {
        adjust_health(1); // Lifeguard: being suspected hints that this node is the slow one
    }
    if (claimed >= incarnation_max) {
        return; // cannot outbid; validation keeps honest peers far below this
    }
    incarnation = claimed + 1;
    member_entry& entry = self_entry();
    entry.update.incarnation = incarnation;
    gossip.push(&entry);
    REEF_ASSERT(entry.update.state == member_state::alive);
}

void swim::state::start_suspicion(instant now, const node_id& id, const node_id& origin) {
    REEF_ASSERT(!suspicions.contains(id));
    suspicion s;
    s.bounds = suspicion_bounds_for(limits, live_count());
    s.start = now;
    s.deadline = now + suspicion_timeout(s.bounds, 0);
    s.origins.push_back(origin);
    if (origin == self) {
        s.own_failure = now;
    }
    suspicion_timers.emplace(s.deadline, id);
    suspicions.emplace(id, std::move(s));
    REEF_ASSERT(suspicion_timers.size() <= suspicions.size());
}

bool swim::state::confirm_suspicion(const node_id& id, const node_id& origin) {
    auto found = suspicions.find(id);
    REEF_ASSERT(found != suspicions.end());
    suspicion& s = found->second;
    if (s.origins.size() > s.bounds.confirmations_expected || contains(s.origins, origin)) {
        return false;
    }
    s.origins.push_back(origin);
    if (s.verifying) {
        return true; // the verification probe decides now
    }
    const auto confirmations = static_cast<std::uint32_t>(s.origins.size() - 1);
    const instant deadline = s.start + suspicion_timeout(s.bounds, confirmations);
    REEF_ASSERT(deadline <= s.deadline);
    suspicion_timers.erase({s.deadline, id});
    s.deadline = deadline;
    suspicion_timers.emplace(deadline, id);
    return true;
}

void swim::state::end_suspicion(const node_id& id) {
    auto found = suspicions.find(id);
    REEF_ASSERT(found != suspicions.end());
    const auto erased = suspicion_timers.erase({found->second.deadline, id});
    REEF_ASSERT(erased == (found->second.verifying ? 0U : 1U));
    suspicions.erase(found);
}

void swim::state::suspect_or_confirm(instant now, const node_id& id) {
    auto found = members.find(id);
    if (found == members.end()) {
        return;
    }
    member_entry& entry = found->second;
    if (entry.update.state == member_state::alive) {
        member_update update = entry.update;
        update.state = member_state::suspect;
        update.origin = self;
        change(now, id, entry, update, false);
        start_suspicion(now, id, self);
        ++stats.suspicions_raised;
    } else if (entry.update.state == member_state::suspect) {
        suspicion& s = suspicions.at(id);
        s.own_failure = now;
        if (s.verifying) {
            declare_dead(now, id, entry); // the verification probe failed too
        } else if (confirm_suspicion(id, self)) {
            entry.update.origin = self;
            gossip.push(&entry);
        }
    }
}

void swim::state::record_rtt(const node_id& id, duration sample) {
    auto found = members.find(id);
    if (found == members.end() || sample < duration::zero()) {
        return;
    }
    auto& rtt = found->second.rtt;
    rtt = rtt ? sample.scaled(limits.rtt_alpha) + rtt->scaled(1.0 - limits.rtt_alpha) : sample;
}

void swim::state::reclaim(instant now) {
    // One pass forgets everything due and finds when the next member falls due, so the table is
    // scanned once per batch of departures, not periodically.
    next_reclaim_at = instant::never();
    for (auto it = members.begin(); it != members.end();) {
        member_entry& entry = it->second;
        if (it->first == self || is_live(entry.update.state)) {
            ++it;
            continue;
        }
        const instant due = entry.state_since + limits.dead_reclaim;
        if (due <= now) {
            --counts[index_of(entry.update.state)];
            gossip.erase(&entry);
            it = members.erase(it);
        } else {
            next_reclaim_at = min(next_reclaim_at, due + reclaim_slack());
            ++it;
        }
    }
    REEF_ASSERT(next_reclaim_at > now);
}

// --- probing -------------------------------------------------------------------------------------

void swim::state::add_to_probe_list(const node_id& id, member_entry& entry) {
    REEF_ASSERT(id != self);
    if (probe_list.size() >= 2 * members.size() + 64) {
        rebuild_probe_list(); // stale entries piled up; the rebuild includes `id`
        REEF_ASSERT(entry.in_probe_list);
        return;
    }
    probe_list.push_back(id);
    entry.in_probe_list = true;
    // SWIM inserts new members at a random position of the rest of the round.
    REEF_ASSERT(probe_index < probe_list.size());
    const std::size_t span = probe_list.size() - probe_index;
    std::swap(probe_list.back(), probe_list[probe_index + random.below(span)]);
}

void swim::state::rebuild_probe_list() {
    probe_list.clear();
    probe_index = 0;
    for (auto& [id, entry] : members) {
        entry.in_probe_list = id != self && is_live(entry.update.state);
        if (entry.in_probe_list) {
            probe_list.push_back(id);
        }
    }
    std::sort(probe_list.begin(), probe_list.end(), id_less); // then a seeded shuffle
    for (std::size_t i = probe_list.size(); i > 1; --i) {
        std::swap(probe_list[i - 1], probe_list[random.below(i)]);
    }
}

std::optional<node_id> swim::state::next_probe_target() {
    bool rebuilt = false;
    while (true) {
        if (probe_index >= probe_list.size()) {
            if (rebuilt) {
                return std::nullopt;
            }
            rebuild_probe_list();
            rebuilt = true;
            continue;
        }
        const node_id id = probe_list[probe_index++];
        auto found = members.find(id);
        if (found == members.end()) {
            continue;
        }
        if (!is_live(found->second.update.state)) {
            found->second.in_probe_list = false;
            continue;
        }
        return id;
    }
}

std::vector<node_id> swim::state::random_members(std::size_t count, const node_id& exclude,
                                                 bool alive_only) {
    std::vector<node_id> out;
    auto eligible = [&](const node_id& id) {
        if (id == exclude || id == self || contains(out, id)) {
            return false;
        }
        auto found = members.find(id);
        if (found == members.end()) {
            return false;
        }
        const member_state state = found->second.update.state;
        return alive_only ? state == member_state::alive : is_live(state);
    };
    if (probe_list.size() <= random_scan_list_max) {
        std::vector<node_id> candidates;
        for (const auto& id : probe_list) {
            if (eligible(id) && !contains(candidates, id)) {
                candidates.push_back(id);
            }
        }
        for (std::size_t i = 0; i < candidates.size() && out.size() < count; ++i) {
            std::swap(candidates[i], candidates[i + random.below(candidates.size() - i)]);
            out.push_back(candidates[i]);
        }
        return out;
    }
    const std::size_t attempts = 4 * count + 16;
    for (std::size_t i = 0; i < attempts && out.size() < count; ++i) {
        const node_id& id = probe_list[random.below(probe_list.size())];
        if (eligible(id)) {
            out.push_back(id);
        }
    }
    return out;
}

void swim::state::run_probe(instant now) {
    if (left) {
        return;
    }
    if (current_probe && !current_probe->indirect && now >= current_probe->direct_deadline) {
        start_indirect(now);
    }
    if (current_probe && now >= current_probe->end) {
        probe_failed(now);
    }
    if (!current_probe && now >= next_probe_at) {
        start_probe(now);
    }
}

void swim::state::start_probe(instant now) {
    REEF_ASSERT(!current_probe);
    next_probe_at = now + limits.probe_period * health_scale();
    auto target = next_verification();
    const bool verification = target.has_value();
    if (!target) {
        target = next_probe_target();
    }
    if (!target) {
        return;
    }
    probe p;
    p.seq = seq_next++;
    p.target = *target;
    p.verification = verification;
    stats.verifications += verification ? 1 : 0;
    p.sent = now;
    p.direct_deadline = now + limits.probe_timeout * health_scale();
    p.end = next_probe_at;
    REEF_ASSERT(p.direct_deadline < p.end);
    send(p.target, address_of(p.target), ping{p.seq, p.target, take_gossip(p.target)});
    ++stats.probes_sent;
    current_probe = std::move(p);
}

void swim::state::start_indirect(instant now) {
    REEF_ASSERT(current_probe && !current_probe->indirect);
    probe& p = *current_probe;
    p.indirect = true;
    if (now > p.direct_deadline) {
        // A late tick (a starved process) still gives the relays their whole window.
        p.end = max(p.end, now + (p.end - p.direct_deadline));
        next_probe_at = max(next_probe_at, p.end);
    }
    p.relays = random_members(limits.indirect_probes, p.target, true);
    p.nacked.assign(p.relays.size(), false);
    const std::string target_address = address_of(p.target);
    if (target_address.empty()) {
        p.relays.clear(); // the target was reclaimed meanwhile; nobody can be asked
        p.nacked.clear();
    }
    for (const auto& relay_id : p.relays) {
        send(relay_id, address_of(relay_id),
             ping_req{p.seq, p.target, target_address, take_gossip(node_id{})});
    }
    stats.indirect_probes_sent += p.relays.size();
}

void swim::state::probe_failed(instant now) {
    REEF_ASSERT(current_probe);
    const probe p = std::move(*current_probe);
    current_probe.reset();
    // Lifeguard: relays that stayed silent (no nack) hint that this node's own links are bad; with
    // nobody to ask, the failed probe itself counts.
    const std::size_t missed = p.relays.empty() ? 1 : p.relays.size() - p.nacks;
    adjust_health(static_cast<int>(missed));
    suspect_or_confirm(now, p.target);
}

void swim::state::probe_succeeded(instant now, const node_id& from) {
    REEF_ASSERT(current_probe);
    const node_id target = current_probe->target;
    if (from == target) {
        record_rtt(from, now - current_probe->sent);
    }
    current_probe.reset();
    adjust_health(-1);
    // A verified suspect that answered but whose refutation has not reached us yet: give it
    // another minimum period (the ack normally carries the refutation and ended the suspicion).
    auto found = suspicions.find(target);
    if (found != suspicions.end() && found->second.verifying) {
        suspicion& s = found->second;
        s.verifying = false;
        s.deadline = now + s.bounds.timeout_min;
        suspicion_timers.emplace(s.deadline, target);
    }
}

// --- messages ------------------------------------------------------------------------------------

void swim::state::apply_gossip(instant now, const node_id& from,
                               const std::vector<member_update>& updates) {
    for (const auto& update : updates) {
        apply_update(now, from, update, false);
    }
}

void swim::state::on_ping(const node_id& from, const ping& m) {
    if (m.target != self) {
        return; // meant for whoever had this address before us
    }
    send(from, address_of(from), ack{m.seq, self, take_gossip(from)});
}

void swim::state::on_ping_req(instant now, const node_id& from, const ping_req& m) {
    if (m.target == self) {
        send(from, address_of(from), ack{m.seq, self, take_gossip(node_id{})});
        return;
    }
    if (relays.size() >= limits.probes_in_flight_max) {
        ++stats.relays_refused;
        return;
    }
    if (buggify(random)) {
        return; // an overloaded relay that drops the request
    }
    const std::uint64_t seq = seq_next++;
    relays.emplace(seq, relay{from, m.seq, m.target, now, now + relay_timeout()});
    send(m.target, m.target_address, ping{seq, m.target, take_gossip(m.target)});
}

void swim::state::on_ack(instant now, const node_id& from, const ack& m) {
    if (current_probe && m.seq == current_probe->seq) {
        const bool trusted = from == current_probe->target || contains(current_probe->relays, from);
        if (m.target == current_probe->target && trusted) {
            probe_succeeded(now, from);
        }
        return;
    }
    auto found = relays.find(m.seq);
    if (found == relays.end() || from != found->second.target || m.target != from) {
        return; // late, or not an answer to anything this node asked
    }
    const relay r = found->second;
    relays.erase(found);
    record_rtt(from, now - r.sent);
    send(r.requester, address_of(r.requester),
         ack{r.requester_seq, r.target, take_gossip(node_id{})});
}

void swim::state::on_nack(const node_id& from, const nack& m) {
    if (!current_probe || m.seq != current_probe->seq || m.target != current_probe->target) {
        return;
    }
    probe& p = *current_probe;
    for (std::size_t i = 0; i < p.relays.size(); ++i) {
        if (p.relays[i] == from && !p.nacked[i]) {
            p.nacked[i] = true;
            ++p.nacks;
        }
    }
    REEF_ASSERT(p.nacks <= p.relays.size());
}

void swim::state::on_sync(instant now, const node_id& from, const sync& m) {
    for (const auto& update : m.members) {
        apply_update(now, from, update, true);
    }
    if (joining) {
        joining = false;
        seeds.clear();
        join_retry_at = instant::never();
        sync_interval = min(limits.sync_period, limits.join_retry);
        next_sync_at = now + jittered(sync_interval);
    }
    if (m.reply_wanted) {
        send_view(from, address_of(from), false);
    }
}

// --- periodic work -------------------------------------------------------------------------------

void swim::state::send_join(instant now) {
    REEF_ASSERT(joining && !seeds.empty());
    for (const auto& seed : seeds) {
        send_view(node_id{}, seed, true);
    }
    join_retry_at = now + limits.join_retry;
}

void swim::state::run_sync(instant now) {
    // After a join the interval starts short and doubles up to sync_period: members that joined
    // in the same burst learn of each other from views instead of waiting for gossip.
    sync_interval = min(limits.sync_period, sync_interval * 2);
    next_sync_at = now + jittered(sync_interval);
    if (left) {
        return;
    }
    const auto target = random_members(1, node_id{}, true);
    if (!target.empty()) {
        send_view(target.front(), address_of(target.front()), true);
    }
}

void swim::state::run_reconnect(instant now) {
    next_reconnect_at = now + jittered(limits.reconnect_period);
    const std::size_t dead = counts[index_of(member_state::dead)];
    if (left || dead == 0) {
        return;
    }
    for (int attempt = 0; attempt < reconnect_attempts_max && !dead_list.empty(); ++attempt) {
        const std::size_t index = random.below(dead_list.size());
        auto found = members.find(dead_list[index]);
        if (found == members.end() || found->second.update.state != member_state::dead) {
            std::swap(dead_list[index], dead_list.back()); // stale: drop it
            dead_list.pop_back();
            continue;
        }
        const member_entry& target = found->second;
        // Our own state and what we believe of the target: enough for it to see that it was
        // declared dead and refute; its reply carries its whole view back.
        std::vector<member_update> view{self_entry().update, target.update};
        send(target.update.id, target.update.address, sync{std::move(view), true});
        return;
    }
}

void swim::state::add_to_dead_list(const node_id& id) {
    dead_list.push_back(id);
    if (dead_list.size() <= 2 * counts[index_of(member_state::dead)] + 16) {
        return;
    }
    // Too many stale entries: rebuild in id order (the table's own order is not deterministic).
    dead_list.clear();
    for (const auto& [member_id, entry] : members) {
        if (entry.update.state == member_state::dead) {
            dead_list.push_back(member_id);
        }
    }
    std::sort(dead_list.begin(), dead_list.end(), id_less);
}

void swim::state::expire_relays(instant now) {
    while (!relays.empty() && relays.begin()->second.deadline <= now) {
        const relay r = relays.begin()->second;
        relays.erase(relays.begin());
        send(r.requester, address_of(r.requester), nack{r.requester_seq, r.target});
        ++stats.nacks_sent;
    }
}

void swim::state::expire_suspicions(instant now) {
    while (!suspicion_timers.empty() && suspicion_timers.begin()->first <= now) {
        const node_id id = suspicion_timers.begin()->second;
        suspicion& s = suspicions.at(id);
        REEF_ASSERT(!s.verifying);
        // Before declaring a death on weak evidence, check for ourselves: a node that missed
        // the suspect's refutation (gossip reaches almost everyone, not certainly everyone)
        // would otherwise kill a live member. The probe carries the suspicion (buddy system),
        // so a live suspect's ack carries its refutation. Strong evidence: our own probe failed
        // lately, or all k expected independent members confirmed the suspicion.
        const bool fresh_evidence =
            s.own_failure && now - *s.own_failure <= s.bounds.timeout_min;
        const bool confirmed = s.bounds.confirmations_expected > 0 &&
                               s.origins.size() > s.bounds.confirmations_expected;
        if (left || fresh_evidence || confirmed) {
            declare_dead(now, id, members.at(id));
            continue;
        }
        suspicion_timers.erase(suspicion_timers.begin());
        s.verifying = true;
        verify_queue.push_back(id);
    }
    if (verify_queue.size() > suspicions.size() + 16) {
        // Drop stale and repeated entries (members refuted or gone meanwhile); order is kept.
        std::set<node_id> seen;
        std::erase_if(verify_queue, [&](const node_id& id) {
            auto found = suspicions.find(id);
            return found == suspicions.end() || !found->second.verifying ||
                   !seen.insert(id).second;
        });
    }
    REEF_ASSERT(verify_queue.size() <= suspicions.size() + 16);
}

void swim::state::declare_dead(instant now, const node_id& id, member_entry& entry) {
    REEF_ASSERT(entry.update.state == member_state::suspect);
    member_update update = entry.update;
    update.state = member_state::dead;
    update.origin = self;
    change(now, id, entry, update, false); // ends the suspicion
    ++stats.deaths_declared;
    REEF_ASSERT(!suspicions.contains(id));
}

/// The next suspect waiting for its verification probe, if any (stale entries are dropped).
std::optional<node_id> swim::state::next_verification() {
    while (!verify_queue.empty()) {
        const node_id id = verify_queue.front();
        verify_queue.pop_front();
        auto found = suspicions.find(id);
        const bool probing = current_probe && current_probe->target == id;
        if (found != suspicions.end() && found->second.verifying && !probing) {
            return id;
        }
    }
    return std::nullopt;
}

// ------------------------------------------------------------------------------------------------

swim::swim(const config& limits, node_id self, std::string self_address, std::uint64_t incarnation,
           std::uint64_t seed) {
    REEF_ASSERT(limits.validate().ok());
    REEF_ASSERT(!self.is_zero());
    REEF_ASSERT(is_valid_address(self_address));
    REEF_ASSERT(incarnation <= incarnation_max);
    state_ = std::make_unique<state>(limits, self, std::move(self_address), incarnation, seed);
    check_invariants();
}

swim::~swim() = default;

void swim::join(instant now, std::span<const std::string> seed_addresses) {
    state& s = *state_;
    s.ensure_started(now);
    if (s.left && s.incarnation < incarnation_max) {
        s.left = false;
        s.incarnation += 1;
        member_update update = s.self_entry().update;
        update.state = member_state::alive;
        update.incarnation = s.incarnation;
        s.change(now, s.self, s.self_entry(), update, false);
    }
    for (const auto& address : seed_addresses) {
        if (is_valid_address(address) && address != s.self_address &&
            std::find(s.seeds.begin(), s.seeds.end(), address) == s.seeds.end() &&
            s.seeds.size() < seeds_max) {
            s.seeds.push_back(address);
        }
    }
    if (!s.seeds.empty() && !s.left) {
        s.joining = true;
        s.send_join(now);
    }
    check_invariants();
}

void swim::leave(instant now) {
    state& s = *state_;
    s.ensure_started(now);
    if (s.left) {
        return;
    }
    // Announce first (at a higher incarnation than any alive claim), then stop.
    member_update update = s.self_entry().update;
    update.state = member_state::left;
    if (s.incarnation < incarnation_max) {
        s.incarnation += 1;
    }
    update.incarnation = s.incarnation;
    s.change(now, s.self, s.self_entry(), update, false);
    const auto targets = s.random_members(s.retransmit_limit(), node_id{}, false);
    s.left = true;
    s.current_probe.reset();
    s.joining = false;
    s.seeds.clear();
    s.join_retry_at = instant::never();
    for (const auto& id : targets) {
        s.send(id, s.address_of(id), sync{{update}, false});
    }
    check_invariants();
}

void swim::on_message(instant now, node_id from, const message& incoming) {
    state& s = *state_;
    s.ensure_started(now);
    if (from.is_zero() || from == s.self || !validate(incoming).ok()) {
        ++s.stats.messages_rejected;
        return;
    }
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, ping>) {
                s.apply_gossip(now, from, m.gossip);
                s.on_ping(from, m);
            } else if constexpr (std::is_same_v<T, ping_req>) {
                s.apply_gossip(now, from, m.gossip);
                s.on_ping_req(now, from, m);
            } else if constexpr (std::is_same_v<T, ack>) {
                s.apply_gossip(now, from, m.gossip);
                s.on_ack(now, from, m);
            } else if constexpr (std::is_same_v<T, nack>) {
                s.on_nack(from, m);
            } else {
                s.on_sync(now, from, m);
            }
        },
        incoming);
    REEF_ASSERT_SLOW((check_invariants(), true));
}

void swim::on_tick(instant now) {
    state& s = *state_;
    s.ensure_started(now);
    s.run_probe(now);
    s.expire_relays(now);
    s.expire_suspicions(now);
    if (!s.left && !s.current_probe && !s.verify_queue.empty()) {
        s.start_probe(now); // verify without waiting for the next probe period
    }
    if (s.joining && now >= s.join_retry_at) {
        s.send_join(now);
    }
    if (now >= s.next_sync_at) {
        s.run_sync(now);
    }
    if (now >= s.next_reconnect_at) {
        s.run_reconnect(now);
    }
    if (now >= s.next_reclaim_at) {
        s.reclaim(now);
    }
    REEF_ASSERT(next_deadline() > now);
    REEF_ASSERT_SLOW((check_invariants(), true));
}

void swim::on_unreachable(instant now, node_id to) {
    state& s = *state_;
    s.ensure_started(now);
    // Counts as a missed direct ack: go to the indirect probes now instead of at the timeout.
    if (!s.left && s.current_probe && s.current_probe->target == to &&
        !s.current_probe->indirect) {
        s.start_indirect(now);
    }
}

std::vector<effect> swim::take_effects() { return std::exchange(state_->effects, {}); }

instant swim::next_deadline() const {
    const state& s = *state_;
    if (!s.started) {
        return instant{};
    }
    instant deadline = min(s.next_sync_at, min(s.next_reconnect_at, s.next_reclaim_at));
    if (!s.left) {
        if (!s.current_probe) {
            deadline = min(deadline, s.next_probe_at);
        } else {
            deadline = min(deadline, s.current_probe->indirect ? s.current_probe->end
                                                               : s.current_probe->direct_deadline);
        }
    }
    if (!s.relays.empty()) {
        deadline = min(deadline, s.relays.begin()->second.deadline);
    }
    if (!s.suspicion_timers.empty()) {
        deadline = min(deadline, s.suspicion_timers.begin()->first);
    }
    if (s.joining) {
        deadline = min(deadline, s.join_retry_at);
    }
    return deadline;
}

node_id swim::self() const { return state_->self; }

std::uint64_t swim::incarnation() const { return state_->incarnation; }

std::vector<member_view> swim::members() const {
    std::vector<member_view> out;
    out.reserve(state_->members.size());
    for (const auto* entry : state_->sorted_entries()) {
        out.push_back(*member(entry->update.id));
    }
    return out;
}

std::optional<member_view> swim::member(const node_id& id) const {
    const state& s = *state_;
    auto found = s.members.find(id);
    if (found == s.members.end()) {
        return std::nullopt;
    }
    member_view view;
    view.update = found->second.update;
    view.state_since = found->second.state_since;
    view.rtt = found->second.rtt;
    if (auto suspicion = s.suspicions.find(id); suspicion != s.suspicions.end()) {
        view.suspect_deadline = suspicion->second.deadline;
    }
    return view;
}

std::size_t swim::live_count() const { return state_->live_count(); }

std::size_t swim::count(member_state state) const { return state_->counts[index_of(state)]; }

bool swim::joining() const { return state_->joining; }

const swim_stats& swim::stats() const { return state_->stats; }

void swim::check_invariants() const {
    const state& s = *state_;
    auto self_found = s.members.find(s.self);
    REEF_ASSERT(self_found != s.members.end());
    REEF_ASSERT(self_found->second.update.incarnation == s.incarnation);
    REEF_ASSERT(self_found->second.update.state ==
                (s.left ? member_state::left : member_state::alive));
    REEF_ASSERT(s.incarnation <= incarnation_max);
    REEF_ASSERT(s.members.size() <= s.limits.members_max);
    REEF_ASSERT(s.counts[0] + s.counts[1] + s.counts[2] + s.counts[3] == s.members.size());
    REEF_ASSERT(s.suspicions.size() == s.counts[index_of(member_state::suspect)]);
    REEF_ASSERT(s.suspicion_timers.size() <= s.suspicions.size());
    REEF_ASSERT(s.relays.size() <= s.limits.probes_in_flight_max);
    REEF_ASSERT(s.gossip.size() <= s.members.size());
    REEF_ASSERT(s.stats.local_health >= 0 && s.stats.local_health < s.limits.awareness_max);
    REEF_ASSERT(s.probe_index <= s.probe_list.size());
    REEF_ASSERT(!(s.left && s.current_probe));
    REEF_ASSERT(s.seeds.size() <= seeds_max);
#if REEF_SLOW_CHECKS
    std::array<std::size_t, 4> counts{};
    std::set<node_id> listed(s.probe_list.begin(), s.probe_list.end());
    for (const auto& [id, entry] : s.members) {
        REEF_ASSERT(entry.update.id == id);
        ++counts[index_of(entry.update.state)];
        const bool suspect = entry.update.state == member_state::suspect;
        auto suspicion = s.suspicions.find(id);
        REEF_ASSERT(suspect == (suspicion != s.suspicions.end()));
        if (suspect) {
            const bool timed = s.suspicion_timers.contains({suspicion->second.deadline, id});
            REEF_ASSERT(timed != suspicion->second.verifying);
            REEF_ASSERT(!suspicion->second.origins.empty());
        }
        if (id != s.self && is_live(entry.update.state)) {
            REEF_ASSERT(entry.in_probe_list && listed.contains(id));
        }
    }
    REEF_ASSERT(counts == s.counts);
    std::size_t queued = 0;
    for (const auto& [id, entry] : s.members) {
        queued += entry.gossip.queued ? 1 : 0;
    }
    REEF_ASSERT(queued == s.gossip.size());
    s.gossip.check_invariants();
#endif
}

} // namespace reef::membership
