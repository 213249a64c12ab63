#include "reef/dht/lookup.hpp"

#include <algorithm>
#include <string>

#include "reef/base/assert.hpp"

namespace reef::dht {

status lookup_config::validate() const {
    if (result_size == 0 || result_size > 256) {
        return make_error(errc::invalid_argument, "result_size must be in [1, 256]");
    }
    if (parallelism == 0 || parallelism > 64) {
        return make_error(errc::invalid_argument, "parallelism must be in [1, 64]");
    }
    if (paths == 0 || paths > 16) {
        return make_error(errc::invalid_argument, "paths must be in [1, 16]");
    }
    if (rtt_timeout_factor < 1) {
        return make_error(errc::invalid_argument, "rtt_timeout_factor must be at least 1");
    }
    if (timeout_min <= duration::zero() || timeout_max < timeout_min ||
        timeout_default < timeout_min || timeout_default > timeout_max) {
        return make_error(errc::invalid_argument,
                          "need 0 < timeout_min <= timeout_default <= timeout_max");
    }
    if (rounds_max == 0 || rounds_max > 256) {
        return make_error(errc::invalid_argument, "rounds_max must be in [1, 256]");
    }
    if (candidates_max < result_size * paths) {
        return make_error(errc::invalid_argument, "candidates_max must be >= result_size * paths");
    }
    if (response_contacts_max == 0 || response_contacts_max > candidates_max) {
        return make_error(errc::invalid_argument,
                          "response_contacts_max must be in [1, candidates_max]");
    }
    return {};
}

lookup::lookup(const lookup_config& limits, node_id self, node_id target,
               std::span<const contact> initial, std::uint64_t first_query_id, instant now)
    : limits_(limits),
      self_(self),
      target_(target),
      in_flight_per_path_(limits.paths, 0),
      next_query_id_(first_query_id) {
    REEF_ASSERT(limits_.validate().ok());
    REEF_ASSERT(!self_.is_zero());
    std::vector<const contact*> usable;
    for (const contact& peer : initial) {
        if (is_well_formed(peer) && peer.id != self_) {
            usable.push_back(&peer);
        }
    }
    std::sort(usable.begin(), usable.end(), [&](const contact* a, const contact* b) {
        return a->id.distance_to(target_) < b->id.distance_to(target_);
    });
    std::size_t dealt = 0;
    for (const contact* peer : usable) {
        const auto key = peer->id.distance_to(target_);
        if (candidates_.contains(key) || candidates_.size() >= limits_.candidates_max) {
            continue;
        }
        // Deal the closest contacts round-robin so every path starts near the target.
        merge(*peer, static_cast<int>(dealt % limits_.paths), 0);
        dealt++;
    }
    advance(now);
}

duration lookup::timeout_for(const contact& peer) const {
    if (!peer.rtt) {
        return limits_.timeout_default;
    }
    const duration scaled = *peer.rtt * limits_.rtt_timeout_factor;
    return min(max(scaled, limits_.timeout_min), limits_.timeout_max);
}

void lookup::merge(const contact& peer, int path, std::size_t depth) {
    REEF_ASSERT(path >= 0 && static_cast<std::size_t>(path) < limits_.paths);
    REEF_ASSERT(peer.id != self_);
    const node_id key = peer.id.distance_to(target_);
    const std::uint32_t bit = std::uint32_t{1} << static_cast<unsigned>(path);
    auto found = candidates_.find(key);
    if (found != candidates_.end()) {
        found->second.known_by |= bit;
        found->second.depth = std::min(found->second.depth, depth);
        return;
    }
    if (candidates_.size() >= limits_.candidates_max) {
        // Drop the farthest candidate nobody has queried, if it is farther than the newcomer.
        auto farthest = std::find_if(candidates_.rbegin(), candidates_.rend(), [](const auto& e) {
            return e.second.state == candidate_state::fresh;
        });
        stats_.candidates_dropped++;
        if (farthest == candidates_.rend() || farthest->first < key) {
            return;
        }
        candidates_.erase(std::next(farthest).base());
    }
    candidate fresh;
    fresh.peer = peer;
    if (depth > 0) {
        fresh.peer.rtt.reset();  // another node's measurement means nothing from here
    }
    fresh.known_by = bit;
    fresh.depth = depth;
    candidates_.emplace(key, std::move(fresh));
    REEF_ASSERT(candidates_.size() <= limits_.candidates_max);
}

void lookup::send(candidate& chosen, int path, instant now) {
    REEF_ASSERT(chosen.state == candidate_state::fresh);
    REEF_ASSERT(chosen.owner == unowned);
    chosen.state = candidate_state::in_flight;
    chosen.owner = path;
    chosen.query_id = next_query_id_++;
    chosen.sent_at = now;
    chosen.deadline = now + timeout_for(chosen.peer);
    in_flight_.emplace(chosen.query_id, chosen.peer.id.distance_to(target_));
    in_flight_per_path_[static_cast<std::size_t>(path)]++;
    effects_.push_back(query{chosen.peer, chosen.query_id});
    stats_.queries_sent++;
}

bool lookup::advance_path(int path, instant now) {
    const std::uint32_t bit = std::uint32_t{1} << static_cast<unsigned>(path);
    std::size_t& flying = in_flight_per_path_[static_cast<std::size_t>(path)];
    std::size_t usable = 0;
    for (auto& [key, entry] : candidates_) {
        if (usable >= limits_.result_size || flying >= limits_.parallelism) {
            break;
        }
        const bool visible = entry.owner == path ||
                             (entry.owner == unowned && (entry.known_by & bit) != 0);
        if (!visible || entry.state == candidate_state::failed) {
            continue;
        }
        if (entry.state == candidate_state::fresh && entry.depth >= limits_.rounds_max) {
            continue;  // too many hops away: not queried, not counted
        }
        usable++;
        if (entry.state == candidate_state::fresh) {
            send(entry, path, now);
        }
    }
    return flying > 0;
}

void lookup::advance(instant now) {
    bool busy = false;
    for (std::size_t path = 0; path < limits_.paths; ++path) {
        busy = advance_path(static_cast<int>(path), now) || busy;
    }
    done_ = !busy;
    REEF_ASSERT(done_ == in_flight_.empty());
}

void lookup::fail(candidate_map::iterator found) {
    candidate& entry = found->second;
    REEF_ASSERT(entry.state == candidate_state::in_flight);
    REEF_ASSERT(entry.owner != unowned);
    in_flight_.erase(entry.query_id);
    in_flight_per_path_[static_cast<std::size_t>(entry.owner)]--;
    entry.state = candidate_state::failed;
}

response_outcome lookup::on_response(instant now, std::uint64_t query_id, const node_id& from,
                                     std::span<const contact> contacts) {
    auto flying = in_flight_.find(query_id);
    if (flying == in_flight_.end()) {
        stats_.unsolicited++;
        return response_outcome::unsolicited;
    }
    auto found = candidates_.find(flying->second);
    REEF_ASSERT(found != candidates_.end());
    candidate& entry = found->second;
    if (entry.peer.id != from) {
        stats_.wrong_sender++;
        return response_outcome::wrong_sender;
    }
    if (contacts.size() > limits_.response_contacts_max) {
        stats_.oversized++;
        fail(found);
        advance(now);
        return response_outcome::oversized;
    }
    const int path = entry.owner;
    const std::size_t depth = entry.depth;
    in_flight_.erase(flying);
    in_flight_per_path_[static_cast<std::size_t>(path)]--;
    entry.state = candidate_state::answered;
    entry.peer.rtt = now - entry.sent_at;
    entry.peer.last_seen = now;
    rounds_ = std::max(rounds_, depth + 1);
    stats_.answered++;
    for (const contact& peer : contacts) {
        if (!is_well_formed(peer)) {
            stats_.malformed_entries++;
        } else if (peer.id == self_) {
            stats_.self_entries++;
        } else if (peer.id != from) {
            merge(peer, path, depth + 1);
        }
    }
    advance(now);
    return response_outcome::accepted;
}

void lookup::on_failure(instant now, std::uint64_t query_id) {
    auto flying = in_flight_.find(query_id);
    if (flying == in_flight_.end()) {
        return;
    }
    stats_.failures++;
    fail(candidates_.find(flying->second));
    advance(now);
}

void lookup::on_tick(instant now) {
    std::vector<std::uint64_t> expired;
    for (const auto& [query_id, key] : in_flight_) {
        if (candidates_.at(key).deadline <= now) {
            expired.push_back(query_id);
        }
    }
    if (expired.empty()) {
        return;
    }
    for (std::uint64_t query_id : expired) {
        const id256 key = in_flight_.at(query_id);
        candidate& entry = candidates_.at(key);
        if (entry.retries < limits_.query_retries) {
            // Ask again under a new id (a late answer to the old one is unsolicited), waiting
            // twice as long.
            entry.retries++;
            in_flight_.erase(query_id);
            entry.query_id = next_query_id_++;
            entry.deadline = now + timeout_for(entry.peer) * (std::int64_t{1} << entry.retries);
            in_flight_.emplace(entry.query_id, key);
            effects_.push_back(query{entry.peer, entry.query_id});
            stats_.retries++;
            stats_.queries_sent++;
            continue;
        }
        stats_.timeouts++;
        fail(candidates_.find(key));
    }
    advance(now);
}

std::vector<query> lookup::take_effects() {
    std::vector<query> out;
    out.swap(effects_);
    return out;
}

instant lookup::next_deadline() const {
    instant deadline = instant::never();
    for (const auto& [query_id, key] : in_flight_) {
        deadline = min(deadline, candidates_.at(key).deadline);
    }
    return deadline;
}

lookup_result lookup::result() const {
    lookup_result out;
    out.rounds = rounds_;
    for (const auto& [key, entry] : candidates_) {
        if (out.closest.size() >= limits_.result_size) {
            break;
        }
        if (entry.state == candidate_state::answered) {
            out.closest.push_back(entry.peer);
        }
    }
    return out;
}

void lookup::check_invariants() const {
    REEF_ASSERT(candidates_.size() <= limits_.candidates_max);
    std::vector<std::size_t> flying(limits_.paths, 0);
    std::size_t in_flight_count = 0;
    for (const auto& [key, entry] : candidates_) {
        REEF_ASSERT(entry.peer.id != self_);
        REEF_ASSERT(!entry.peer.id.is_zero());
        REEF_ASSERT(key == entry.peer.id.distance_to(target_));
        REEF_ASSERT(entry.known_by != 0);
        REEF_ASSERT((entry.state == candidate_state::fresh) == (entry.owner == unowned));
        if (entry.state == candidate_state::in_flight) {
            in_flight_count++;
            flying[static_cast<std::size_t>(entry.owner)]++;
            REEF_ASSERT(in_flight_.contains(entry.query_id));
            REEF_ASSERT(in_flight_.at(entry.query_id) == key);
        }
    }
    REEF_ASSERT(in_flight_count == in_flight_.size());
    for (std::size_t path = 0; path < limits_.paths; ++path) {
        REEF_ASSERT(flying[path] == in_flight_per_path_[path]);
        REEF_ASSERT(flying[path] <= limits_.parallelism);
    }
    REEF_ASSERT(done_ == in_flight_.empty());
}

} // namespace reef::dht
