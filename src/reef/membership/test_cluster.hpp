#pragma once
// Test-only harness: N swim cores on an in-memory network with a virtual clock, stepped by hand.
// Every message goes through the codec (encode, then decode) as it would between real nodes.
// Faults: per-link cuts, random loss, crashed nodes, and paused nodes (not ticking, not receiving).
//
// Not part of the library; included by the *.test.cpp files of this component only.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "reef/membership/codec.hpp"
#include "reef/membership/swim.hpp"

namespace reef::membership::testing {

inline node_id make_id(std::uint64_t n) {
    id256::bytes_type bytes{};
    // Spread the number over the id so ordering by id differs from ordering by number.
    prng random(n * 7919 + 1);
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(random.below(256));
    }
    return node_id{bytes};
}

inline std::string describe(const effect& e) {
    std::ostringstream out;
    if (const auto* send = std::get_if<send_effect>(&e)) {
        out << "send to=" << send->to.short_hex() << " addr=" << send->address
            << " kind=" << send->body.index() << " bytes=" << encode(send->body).size();
    } else {
        const auto& changed = std::get<member_changed>(e);
        out << "changed " << changed.update.id.short_hex() << " " << to_string(changed.previous)
            << "->" << to_string(changed.update.state) << " inc=" << changed.update.incarnation
            << " new=" << changed.is_new;
    }
    return out.str();
}

class cluster {
public:
    struct node {
        node_id id;
        std::string address;
        std::unique_ptr<swim> core;
        bool up = true;
        bool paused = false;
        bool scheduled = false;
        duration lag;
        instant scheduled_at;
    };

    /// What one node observed: (time, member, new state).
    struct observation {
        instant at;
        std::size_t observer = 0;
        node_id member;
        member_state state = member_state::alive;
    };

    explicit cluster(config limits, std::uint64_t seed = 1) : limits_(limits), random_(seed) {}

    std::size_t add_node() {
        const std::size_t index = nodes_.size();
        node n;
        n.id = make_id(index + 1);
        n.address = "10.0.0." + std::to_string(index + 1) + ":7400";
        n.core = std::make_unique<swim>(limits_, n.id, n.address, 0, random_.fork_seed());
        by_address_[n.address] = index;
        by_id_[n.id] = index;
        nodes_.push_back(std::move(n));
        return index;
    }

    /// Add `count` nodes; each joins through node 0 (node 0 starts alone).
    void add_nodes_joined(std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t index = add_node();
            if (index > 0) {
                join(index, 0);
            } else {
                drain(index);
            }
        }
    }

    void join(std::size_t index, std::size_t seed_index) {
        const std::vector<std::string> seeds{nodes_[seed_index].address};
        nodes_[index].core->join(now_, seeds);
        drain(index);
    }

    void crash(std::size_t index) {
        nodes_[index].up = false;
        reschedule(index);
    }

    /// A fresh core with the same id and address (a restarted process).
    void restart(std::size_t index, std::uint64_t incarnation, std::size_t seed_index) {
        node& n = nodes_[index];
        n.up = true;
        n.core = std::make_unique<swim>(limits_, n.id, n.address, incarnation, random_.fork_seed());
        join(index, seed_index);
    }

    /// A starved process: its timers fire `lag` late and messages reach it `lag` late.
    void set_lag(std::size_t index, duration lag) {
        nodes_[index].lag = lag;
        reschedule(index);
    }

    void set_paused(std::size_t index, bool paused) {
        nodes_[index].paused = paused;
        reschedule(index);
    }

    /// Cut (or restore) the link a -> b; cut_both for both directions.
    void cut(std::size_t from, std::size_t to, bool is_cut = true) {
        if (is_cut) {
            cuts_.insert({from, to});
        } else {
            cuts_.erase({from, to});
        }
    }
    void cut_both(std::size_t a, std::size_t b, bool is_cut = true) {
        cut(a, b, is_cut);
        cut(b, a, is_cut);
    }
    /// Cut every link between the two groups.
    void partition(const std::vector<std::size_t>& left, const std::vector<std::size_t>& right,
                   bool is_cut = true) {
        for (auto a : left) {
            for (auto b : right) {
                cut_both(a, b, is_cut);
            }
        }
    }
    void set_loss(double probability) { loss_ = probability; }
    /// Drop messages for which `filter(from, to, body)` is true.
    void set_filter(std::function<bool(std::size_t, std::size_t, const message&)> filter) {
        filter_ = std::move(filter);
    }

    /// Deliver `body` to node `to` as if `from` (any id) had sent it.
    void inject(std::size_t to, const node_id& from, const message& body) {
        nodes_[to].core->on_message(now_, from, body);
        drain(to);
    }

    void run_for(duration span) { run_until(now_ + span); }

    void run_until(instant end) {
        while (true) {
            const instant tick_at = ticks_.empty() ? instant::never() : ticks_.begin()->first;
            const instant message_at =
                in_flight_.empty() ? instant::never() : in_flight_.begin()->first.first;
            const instant next = min(tick_at, message_at);
            if (next > end) {
                now_ = end;
                return;
            }
            now_ = max(now_, next);
            if (message_at <= tick_at) {
                deliver_one();
            } else {
                const std::size_t ticker = ticks_.begin()->second;
                nodes_[ticker].core->on_tick(now_);
                nodes_[ticker].core->check_invariants();
                drain(ticker);
            }
        }
    }

    /// Run until `done()` holds (checked after every step of `step`), at most `limit`.
    bool run_until_true(const std::function<bool()>& done, duration limit,
                        duration step = duration::milliseconds(10)) {
        const instant end = now_ + limit;
        while (now_ < end) {
            if (done()) {
                return true;
            }
            run_until(min(end, now_ + step));
        }
        return done();
    }

    std::optional<member_state> state_of(std::size_t observer, std::size_t member) const {
        auto view = nodes_[observer].core->member(nodes_[member].id);
        if (!view) {
            return std::nullopt;
        }
        return view->update.state;
    }

    /// Every up node other than `member` sees `member` in `state`.
    bool all_see(std::size_t member, member_state state) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (i == member || !nodes_[i].up) {
                continue;
            }
            if (state_of(i, member) != state) {
                return false;
            }
        }
        return true;
    }

    /// Every up node sees every up node alive.
    bool all_alive() const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i].up) {
                continue;
            }
            for (std::size_t j = 0; j < nodes_.size(); ++j) {
                if (nodes_[j].up && i != j && state_of(i, j) != member_state::alive) {
                    return false;
                }
            }
        }
        return true;
    }

    swim& core(std::size_t index) { return *nodes_[index].core; }
    const node_id& id(std::size_t index) const { return nodes_[index].id; }
    const std::string& address(std::size_t index) const { return nodes_[index].address; }
    std::size_t size() const { return nodes_.size(); }
    instant now() const { return now_; }
    const std::vector<observation>& observations() const { return observations_; }
    /// Record every effect of every node, in order, as text (for determinism checks).
    void set_tracing(bool on) { tracing_ = on; }
    /// Pass every message through encode/decode (on by default).
    void set_through_codec(bool on) { through_codec_ = on; }
    const std::vector<std::string>& trace() const { return trace_; }
    std::uint64_t messages_delivered() const { return delivered_; }
    std::uint64_t messages_sent(std::size_t kind) const {
        auto found = sent_by_kind_.find(kind);
        return found == sent_by_kind_.end() ? 0 : found->second;
    }

private:
    /// Keep the node's next tick in the schedule (its deadline changes only when it gets input).
    void reschedule(std::size_t index) {
        node& n = nodes_[index];
        if (n.scheduled) {
            ticks_.erase({n.scheduled_at, index});
            n.scheduled = false;
        }
        if (n.up && !n.paused) {
            n.scheduled_at = n.core->next_deadline() + n.lag;
            n.scheduled = true;
            ticks_.emplace(n.scheduled_at, index);
        }
    }

    void drain(std::size_t index) {
        reschedule(index);
        for (auto& e : nodes_[index].core->take_effects()) {
            if (tracing_) {
                trace_.push_back(std::to_string(now_.ns()) + " n" + std::to_string(index) + " " +
                                 describe(e));
            }
            if (auto* send = std::get_if<send_effect>(&e)) {
                route(index, *send);
            } else {
                const auto& changed = std::get<member_changed>(e);
                observations_.push_back({now_, index, changed.update.id, changed.update.state});
            }
        }
    }

    void route(std::size_t from, const send_effect& send) {
        ++sent_by_kind_[send.body.index()];
        std::optional<std::size_t> to;
        if (auto found = by_address_.find(send.address); found != by_address_.end()) {
            to = found->second;
        } else if (auto by_id = by_id_.find(send.to); by_id != by_id_.end()) {
            to = by_id->second; // replies to a stranger travel over its session
        }
        if (!to || (!send.to.is_zero() && nodes_[*to].id != send.to)) {
            return;
        }
        if (cuts_.contains({from, *to}) || (loss_ > 0 && random_.chance(loss_)) ||
            (filter_ && filter_(from, *to, send.body))) {
            return;
        }
        message body = send.body;
        if (through_codec_) {
            // Through the real codec, as between processes.
            auto decoded = decode(encode(send.body));
            REEF_ASSERT(decoded.ok());
            body = std::move(*decoded);
        }
        const duration latency =
            nodes_[*to].lag +
            duration::microseconds(500 + static_cast<std::int64_t>(random_.below(1000)));
        in_flight_.emplace(std::make_pair(now_ + latency, order_++),
                           flight{from, *to, std::move(body)});
    }

    void deliver_one() {
        auto it = in_flight_.begin();
        flight f = std::move(it->second);
        in_flight_.erase(it);
        node& target = nodes_[f.to];
        if (!target.up || target.paused) {
            return;
        }
        ++delivered_;
        target.core->on_message(now_, nodes_[f.from].id, f.body);
        target.core->check_invariants();
        drain(f.to);
    }

    struct flight {
        std::size_t from = 0;
        std::size_t to = 0;
        message body;
    };

    config limits_;
    prng random_;
    instant now_ = instant::from_ns(1'000'000'000);
    std::vector<node> nodes_;
    std::map<std::string, std::size_t> by_address_;
    std::map<node_id, std::size_t> by_id_;
    std::map<std::pair<instant, std::uint64_t>, flight> in_flight_;
    std::uint64_t order_ = 0;
    std::set<std::pair<std::size_t, std::size_t>> cuts_;
    double loss_ = 0;
    std::function<bool(std::size_t, std::size_t, const message&)> filter_;
    std::vector<observation> observations_;
    std::vector<std::string> trace_;
    bool tracing_ = false;
    bool through_codec_ = true;
    std::set<std::pair<instant, std::size_t>> ticks_;
    std::uint64_t delivered_ = 0;
    std::map<std::size_t, std::uint64_t> sent_by_kind_;
};

} // namespace reef::membership::testing
