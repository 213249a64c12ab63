#include "reef/node/node.hpp"

#include <string_view>
#include <utility>

#include "reef/dht/codec.hpp"
#include "reef/jobs/job_table.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/membership/codec.hpp"
#include "reef/replica/host_codec.hpp"
#include "reef/wire/envelope.hpp"

namespace reef::node {

namespace {

/// A driver that never drains effects is a bug; this bound catches it long before memory does.
constexpr std::size_t effects_pending_max = 1U << 20U;

std::vector<std::uint8_t> encode_on(wire::channel kind, std::string body) {
    wire::envelope outer;
    outer.kind = kind;
    outer.body = std::move(body);
    return wire::encode(outer);
}

/// This node's own address for its DHT address record: the one it states in handshakes.
/// This node life's client id for kv requests: unique across nodes (it hashes the node id) and
/// across its restarts (the incarnation), so request ids of different lives never collide.
std::uint64_t kv_client_of(const node_id& self, std::uint64_t incarnation, std::uint64_t seed) {
    std::vector<std::uint8_t> material(self.bytes().begin(), self.bytes().end());
    for (std::uint64_t word : {incarnation, seed}) {
        for (int shift = 0; shift < 64; shift += 8) {
            material.push_back(static_cast<std::uint8_t>(word >> static_cast<unsigned>(shift)));
        }
    }
    const auto digest = crypto::blake2b_256(material);
    std::uint64_t client = 0;
    for (int i = 0; i < 8; ++i) {
        client = (client << 8U) | digest[static_cast<std::size_t>(i)];
    }
    return client | 1U; // never zero: the zero request id marks a leader's no-op
}

actors::table_config labelled(actors::table_config limits, const node_id& self) {
    limits.self_label = self.short_hex();
    return limits;
}

std::vector<host_port> own_addresses(const std::string& address) {
    auto parsed = parse_host_port(address, port_zero::refused);
    REEF_ASSERT(parsed.ok());
    return {*parsed};
}

} // namespace

status config::validate() const {
    if (auto inner = membership.validate(); !inner) {
        return inner;
    }
    if (auto inner = dht.validate(); !inner) {
        return inner;
    }
    if (auto inner = replica.validate(); !inner) {
        return inner;
    }
    if (replica_group_size == 0 || replica_group_size > replica.members_max) {
        return make_error(errc::invalid_argument, "replica_group_size must be 1..members_max");
    }
    if (replica_locate_width < replica_group_size || replica_locate_width > replica.members_max) {
        return make_error(errc::invalid_argument,
                          "replica_locate_width must be replica_group_size..members_max");
    }
    if (rejection_reports_per_second == 0) {
        return make_error(errc::invalid_argument, "rejection_reports_per_second must be > 0");
    }
    return {};
}

node::node(const config& limits, const crypto::identity& self, std::string address,
           std::uint64_t incarnation, std::uint64_t seed, instant now, std::uint64_t unix_seconds)
    : limits_(limits),
      self_(self.id()),
      address_(std::move(address)),
      membership_(limits.membership, self_, address_, incarnation, seed),
      dht_(limits.dht, self, own_addresses(address_), seed ^ 0x6468'7400'0000'0000ULL, now),
      actors_(labelled(limits.actors, self.id()),
              [this](const std::string& actor, std::string_view line) {
                  effects_.emplace_back(std::in_place_type<actor_log>, actor, std::string(line));
              }),
      applications_(registers_, actors_),
      replicas_(limits.replica, self.id(), applications_, seed ^ 0x7265706cULL),
      kv_client_base_(kv_client_of(self.id(), incarnation, seed)),
      started_at_(now),
      unix_seconds_at_start_(unix_seconds),
      incarnation_persisted_(incarnation) {
    REEF_ASSERT(limits.validate().ok());
    REEF_ASSERT(!self_.is_zero());
    jobs::register_jobs(actors_);
    if (limits.job_slots > 0) {
        jobs::worker_config worker_limits;
        worker_limits.name = self_.hex();
        worker_limits.slots = limits.job_slots;
        worker_limits.allow_exec = limits.allow_exec;
        worker_.emplace(worker_limits, kernels_);
    }
    REEF_ASSERT(membership::is_valid_address(address_));
}

std::uint64_t node::unix_seconds_at(instant now) const {
    const std::int64_t elapsed = (now - started_at_).ns() / 1'000'000'000;
    return unix_seconds_at_start_ + static_cast<std::uint64_t>(std::max<std::int64_t>(elapsed, 0));
}

result<dht::operation_id> node::dht_put(instant now, std::string name, std::string value,
                                        std::uint64_t lifetime_seconds) {
    auto started = dht_.start_put(now, unix_seconds_at(now), std::move(name), std::move(value),
                                  lifetime_seconds);
    collect(now);
    return started;
}

result<dht::operation_id> node::dht_get(instant now, const id256& key) {
    auto started = dht_.start_get(now, unix_seconds_at(now), key);
    collect(now);
    return started;
}

result<dht::operation_id> node::dht_closest(instant now, const node_id& target) {
    auto started = dht_.start_closest(now, target);
    collect(now);
    return started;
}

void node::join(instant now, std::span<const std::string> addresses) {
    for (const auto& address : addresses) {
        REEF_ASSERT(membership::is_valid_address(address));
    }
    membership_.join(now, addresses);
    collect(now);
}

void node::leave(instant now) {
    if (!left_) {
        left_ = true;
        membership_.leave(now);
    }
    collect(now);
}

void node::on_payload(instant now, const node_id& from, const std::string& from_address,
                      std::span<const std::uint8_t> bytes) {
    ++stats_.payloads_received;
    set_actor_clock(now);
    auto outer = wire::decode(bytes);
    if (!outer) {
        reject(now, from, outer.failure().message);
        return;
    }
    switch (outer->kind) {
    case wire::channel::membership: {
        auto inner = membership::decode(outer->body);
        if (!inner) {
            reject(now, from, "membership message: " + inner.failure().message);
            return;
        }
        membership_.on_message(now, from, *inner);
        break;
    }
    case wire::channel::replica: {
        auto inner = replica::decode_host(outer->body);
        if (!inner) {
            reject(now, from, "replica message: " + inner.failure().message);
            return;
        }
        replicas_.on_message(now, from, *inner);
        break;
    }
    case wire::channel::dht: {
        auto inner = dht::decode(outer->body);
        if (!inner) {
            reject(now, from, "dht message: " + inner.failure().message);
            return;
        }
        dht_.on_message(now, unix_seconds_at(now), from, from_address, *inner);
        break;
    }
    }
    collect(now);
}

void node::on_tick(instant now) {
    set_actor_clock(now);
    if (worker_ && worker_->next_deadline() <= now) {
        worker_->on_tick(now);
    }
    membership_.on_tick(now);
    dht_.on_tick(now, unix_seconds_at(now));
    if (replicas_.next_deadline() <= now) {
        replicas_.on_tick(now);
    }
    collect(now);
}

void node::on_unreachable(instant now, const node_id& to) {
    ++stats_.unreachable_reports;
    // A seed address that cannot be reached is retried by membership's join timer; only a known
    // member's unreachability is news to the failure detector.
    if (!to.is_zero()) {
        membership_.on_unreachable(now, to);
        dht_.on_unreachable(now, to);
    }
    collect(now);
}

std::vector<effect> node::take_effects() { return std::exchange(effects_, {}); }

instant node::next_deadline() const {
    return std::min({membership_.next_deadline(), dht_.next_deadline(),
                     replicas_.next_deadline(), actors_next_due(),
                     worker_ ? worker_->next_deadline() : instant::never()});
}

replica::group_id node::kv_group_of(std::string_view key) {
    std::string material("reef.kv");
    material.push_back('\0');
    material.append(key);
    const auto digest = crypto::blake2b_256(
        {reinterpret_cast<const std::uint8_t*>(material.data()), material.size()});
    return replica::group_id{digest};
}

void node::replica_recover(instant now, const replica::group_id& group,
                           replica::durable_state state) {
    replicas_.recover(now, group, std::move(state));
    collect(now);
}

namespace {

std::string hex_of(std::uint64_t value) {
    constexpr std::string_view digits = "0123456789abcdef";
    std::string text(16, '0');
    for (std::size_t i = 0; i < 16; ++i) {
        text[15 - i] = digits[(value >> (4U * i)) & 0xfU];
    }
    return text;
}

} // namespace

std::vector<node_id> node::closest_alive(const replica::group_id& group) const {
    std::vector<node_id> alive;
    for (const auto& member : membership_.members()) {
        if (member.update.state == membership::member_state::alive ||
            member.update.state == membership::member_state::suspect) {
            alive.push_back(member.update.id);
        }
    }
    // Closest first: the order in which the group is looked for.
    const std::size_t count = std::min(limits_.replica_locate_width, alive.size());
    std::partial_sort(alive.begin(), alive.begin() + static_cast<std::ptrdiff_t>(count),
                      alive.end(), [&](const node_id& a, const node_id& b) {
                          return a.distance_to(group) < b.distance_to(group);
                      });
    alive.resize(count);
    return alive;
}

replica::request_id node::take_client() {
    if (kv_clients_idle_.empty()) {
        kv_clients_idle_.push_back(kv_client{kv_client_base_ + kv_clients_made_++, 0});
    }
    auto& own = kv_clients_idle_.back();
    own.sequence += 1;
    return replica::request_id{own.id, own.sequence};
}

result<std::uint64_t> node::submit_with_client(
    instant now, const replica::group_id& group, std::vector<node_id> candidates,
    const std::function<std::string(const replica::request_id&)>& command, bool may_create) {
    if (candidates.empty()) {
        return make_error(errc::unavailable, "no member is known to host it");
    }
    const std::size_t group_size = std::min(limits_.replica_group_size, candidates.size());
    const replica::request_id request = take_client();
    auto id = replicas_.submit(now, group, std::move(candidates), group_size, request,
                               command(request), may_create);
    if (id) {
        kv_clients_busy_[*id] = kv_clients_idle_.back();
        kv_clients_idle_.pop_back();
    }
    return id;
}

result<std::uint64_t> node::kv_submit(instant now, std::string_view key,
                                      const replica::kv::command& body,
                                      std::optional<replica::request_id> request) {
    if (key.empty() || key.size() > kv_key_size_max) {
        return make_error(errc::invalid_argument,
                          "a kv key is 1.." + std::to_string(kv_key_size_max) + " bytes");
    }
    set_actor_clock(now);
    const replica::group_id group = kv_group_of(key);
    auto alive = closest_alive(group);
    result<std::uint64_t> id = make_error(errc::unavailable, "no member is known to host the key");
    if (!request) {
        id = submit_with_client(
            now, group, std::move(alive),
            [&](const replica::request_id&) { return replica::kv::encode_command(body); }, true);
    } else if (!alive.empty()) {
        const std::size_t group_size = std::min(limits_.replica_group_size, alive.size());
        id = replicas_.submit(now, group, std::move(alive), group_size, *request,
                              replica::kv::encode_command(body));
    }
    collect(now);
    return id;
}

result<std::uint64_t> node::actor_submit(instant now, const actors::json& given,
                                         bool may_create) {
    return submit_actor_request(now, given, may_create, waiter{waiter::kind::client, 0});
}

result<std::uint64_t> node::submit_actor_request(instant now, const actors::json& given,
                                                 bool may_create, waiter waiting) {
    actors::json request = given;
    if (request.value("op", "") == "spawn" && request.value("name", "") == "" &&
        request.contains("name_prefix")) {
        // A name this node makes up (a job's id): unique per node life, like its client ids.
        request["name"] = request.value("name_prefix", "") + hex_of(kv_client_base_) + "-" +
                          std::to_string(++names_made_);
        request.erase("name_prefix");
    }
    const std::string name = request.value("name", "");
    if (auto valid = actors::validate_name(name, limits_.actors.records); !valid) {
        return valid.failure();
    }
    set_actor_clock(now);
    const replica::group_id group = actor_group_of(name);
    // A message or spawn without its own sender is this node's client request: its request id
    // names the sender and sequence, unique per node life, so retries inside the host dedupe.
    const auto command = [&](const replica::request_id& assigned) {
        const std::string op = request.value("op", "");
        if ((op == "deliver" || op == "spawn") && !request.contains("from")) {
            actors::json filled = request;
            filled["from"] = std::string(actors::client_prefix) + hex_of(assigned.client);
            filled["sequence"] = assigned.sequence;
            return actors::encode_request(filled);
        }
        return actors::encode_request(request);
    };
    auto id = submit_with_client(now, group, closest_alive(group), command, may_create);
    if (id) {
        // Registered before collect(): a request this node answers itself is done in there.
        switch (waiting.who) {
        case waiter::kind::client: actor_requests_.insert(*id); break;
        case waiter::kind::worker: worker_requests_[*id] = waiting.token; break;
        }
    }
    collect(now);
    return id;
}

replica::group_id node::actor_group_of(std::string_view name) {
    std::string material("reef.actor");
    material.push_back('\0');
    material.append(name);
    const auto digest = crypto::blake2b_256(
        {reinterpret_cast<const std::uint8_t*>(material.data()), material.size()});
    return replica::group_id{digest};
}

void node::set_actor_clock(instant now) {
    const std::int64_t elapsed_ms = std::max<std::int64_t>((now - started_at_).ns() / 1'000'000, 0);
    actors_.set_clock(now, unix_seconds_at_start_ * 1000 + static_cast<std::uint64_t>(elapsed_ms));
}

void node::collect_jobs(instant now) {
    if (!worker_) {
        return;
    }
    for (auto& produced : worker_->take_effects()) {
        if (auto* asked = std::get_if<jobs::ask>(&produced)) {
            auto [request, may_create] = jobs::actor_request(*asked);
            auto id = submit_actor_request(now, request, may_create,
                                           waiter{waiter::kind::worker, asked->token});
            if (!id) {
                worker_->on_answer(now, asked->token, id.failure());
            }
        } else if (auto* started = std::get_if<jobs::start_run>(&produced)) {
            effects_.emplace_back(std::in_place_type<job_run>, std::move(*started));
        } else if (auto* stopped = std::get_if<jobs::stop_run>(&produced)) {
            effects_.emplace_back(std::in_place_type<job_run>, *stopped);
        } else {
            effects_.emplace_back(std::in_place_type<job_run>,
                                  std::get<jobs::shorten_run>(produced));
        }
    }
}

void node::on_job_answer(instant now, std::uint64_t token, const result<std::string>& answer) {
    if (!answer) {
        worker_->on_answer(now, token, answer.failure());
        return;
    }
    actors::json parsed = actors::json::parse(*answer, nullptr, false);
    if (parsed.is_discarded()) {
        worker_->on_answer(now, token, make_error(errc::internal, "an answer that is not JSON"));
        return;
    }
    worker_->on_answer(now, token, parsed);
}

void node::job_progress(instant now, std::uint64_t run, std::uint64_t through,
                        const actors::json& partial) {
    set_actor_clock(now);
    if (worker_) {
        worker_->on_progress(now, run, through, partial);
    }
    collect(now);
}

void node::job_finished(instant now, std::uint64_t run, std::uint64_t through,
                        const actors::json& partial) {
    set_actor_clock(now);
    if (worker_) {
        worker_->on_finished(now, run, through, partial);
    }
    collect(now);
}

void node::job_output(instant now, std::uint64_t run, std::string_view output) {
    set_actor_clock(now);
    if (worker_) {
        worker_->on_output(now, run, output);
    }
    collect(now);
}

void node::job_failed(instant now, std::uint64_t run, const std::string& why) {
    set_actor_clock(now);
    if (worker_) {
        worker_->on_failed(now, run, why);
    }
    collect(now);
}

instant node::actors_next_due() const {
    return actors_.next_due([this](const replica::group_id& group) { return leads(group); });
}

bool node::leads(const replica::group_id& group) const {
    const auto* core = replicas_.find(group);
    return core != nullptr && core->current_role() == replica::role::leader;
}

std::size_t node::pump_actors(instant now) {
    set_actor_clock(now);
    auto due = actors_.due_requests(
        [this](const replica::group_id& group) { return leads(group); });
    for (auto& out : due) {
        const replica::group_id group = actor_group_of(out.to);
        std::vector<node_id> candidates;
        if (leads(group)) {
            // One of this node's own actors (a chore): its members, this leader first.
            candidates.push_back(self_);
            for (const auto& member : replicas_.find(group)->members()) {
                if (member != self_) {
                    candidates.push_back(member);
                }
            }
        } else {
            // A copy this node holds may be stale (it was removed from the group and never
            // told): its members are only hints after the closest alive nodes.
            candidates = closest_alive(group);
            if (const auto* core = replicas_.find(group); core != nullptr) {
                for (const auto& member : core->members()) {
                    if (candidates.size() < limits_.replica.members_max &&
                        std::find(candidates.begin(), candidates.end(), member) ==
                            candidates.end()) {
                        candidates.push_back(member);
                    }
                }
            }
        }
        auto id = submit_with_client(
            now, group, std::move(candidates),
            [&](const replica::request_id&) { return std::move(out.command); }, out.may_create);
        if (id) {
            courier_requests_[*id] = out.token;
        } else {
            actors_.on_request_done(out.token, id.failure());
        }
    }
    return due.size();
}

void node::reject(instant now, const node_id& from, std::string reason) {
    ++stats_.payloads_rejected;
    REEF_ASSERT(stats_.payloads_rejected <= stats_.payloads_received);
    if (now - report_window_start_ >= duration::seconds(1) || now < report_window_start_) {
        report_window_start_ = now;
        reports_in_window_ = 0;
    }
    if (reports_in_window_ >= limits_.rejection_reports_per_second) {
        ++reports_suppressed_;
        return;
    }
    ++reports_in_window_;
    effects_.emplace_back(std::in_place_type<payload_rejected>, from, std::move(reason),
                          reports_suppressed_);
    reports_suppressed_ = 0;
}

void node::collect(instant now) {
    auto produced = membership_.take_effects();
    // Persist a raised incarnation before any send that may announce it.
    const std::uint64_t incarnation = membership_.incarnation();
    REEF_ASSERT(incarnation >= incarnation_persisted_);
    if (incarnation > incarnation_persisted_) {
        incarnation_persisted_ = incarnation;
        effects_.emplace_back(std::in_place_type<persist_incarnation>, incarnation);
    }
    for (auto& produced_effect : produced) {
        if (auto* send = std::get_if<membership::send_effect>(&produced_effect)) {
            ++stats_.payloads_sent;
            effects_.emplace_back(std::in_place_type<send_payload>, send->to,
                                  std::move(send->address),
                                  encode_on(wire::channel::membership,
                                            membership::encode(send->body)));
        } else {
            auto& changed = std::get<membership::member_changed>(produced_effect);
            feed_routing_table(now, changed);
            effects_.emplace_back(std::in_place_type<member_changed>, std::move(changed));
        }
    }
    collect_replicas(now);
    // Answers to the courier's requests may make more work due at once (an acknowledgement to
    // record, the next message to a destination); a few rounds take it, the deadline the rest.
    for (int round = 0; round < 4 && pump_actors(now) > 0; ++round) {
        collect_replicas(now);
    }
    collect_jobs(now);
    for (auto& produced_effect : dht_.take_effects()) {
        if (auto* send = std::get_if<dht::send_message>(&produced_effect)) {
            ++stats_.payloads_sent;
            effects_.emplace_back(std::in_place_type<send_payload>, send->to.id,
                                  std::move(send->to.address),
                                  encode_on(wire::channel::dht, dht::encode(send->body)));
        } else {
            effects_.emplace_back(std::in_place_type<dht_done>,
                                  std::get<dht::operation_done>(std::move(produced_effect)));
        }
    }
    REEF_ASSERT(effects_.size() < effects_pending_max);
}

void node::collect_replicas(instant now) {
    // Repairs started while handling effects produce more effects: take until none are left.
    for (auto batch = replicas_.take_effects(); !batch.empty(); batch = replicas_.take_effects()) {
        collect_replica_batch(now, batch);
    }
}

void node::repair_group(instant now, const replica::group_id& group,
                        const std::vector<node_id>& members) {
    // Members membership declares dead or gone are replaced by the closest alive non-members;
    // a member it does not know is left alone (it may have just joined). Without a spare the
    // group keeps its dead member rather than shrink.
    std::vector<node_id> target;
    std::vector<node_id> spares;
    for (const auto& member : membership_.members()) {
        // Only a member seen alive right now is a spare: a suspect may be cut off.
        const bool alive = member.update.state == membership::member_state::alive;
        const bool in_group =
            std::binary_search(members.begin(), members.end(), member.update.id);
        if (alive && !in_group) {
            spares.push_back(member.update.id);
        }
    }
    for (const auto& member : members) {
        if (member == self_ || !member_gone(member)) {
            target.push_back(member);
        }
    }
    // A group below its size (a replacement a previous leader did not finish) grows back too.
    const std::size_t wanted = std::max(members.size(), limits_.replica_group_size);
    if (target.size() == wanted) {
        return;
    }
    std::sort(spares.begin(), spares.end(), [&](const node_id& a, const node_id& b) {
        return a.distance_to(group) < b.distance_to(group);
    });
    for (const auto& spare : spares) {
        if (target.size() >= wanted) {
            break;
        }
        target.push_back(spare);
    }
    if (target.size() < members.size()) {
        // Not enough spares: keep dead members rather than shrink below the current size.
        for (const auto& member : members) {
            if (target.size() < members.size() &&
                std::find(target.begin(), target.end(), member) == target.end()) {
                target.push_back(member);
            }
        }
    }
    std::sort(target.begin(), target.end());
    if (target != members) {
        ++stats_.replica_repairs;
        (void)replicas_.change_members(now, group, std::move(target));
    }
}

bool node::member_gone(const node_id& id) const {
    for (const auto& member : membership_.members()) {
        if (member.update.id == id) {
            return member.update.state == membership::member_state::dead ||
                   member.update.state == membership::member_state::left;
        }
    }
    return false;
}

void node::collect_replica_batch(instant now, std::vector<replica::host_effect>& batch) {
    for (auto& produced : batch) {
        if (auto* out = std::get_if<replica::host_send>(&produced)) {
            auto address = address_of_member(out->to);
            if (!address) {
                continue; // not a member this node can reach; the requester retries
            }
            if (!replica::validate_host(out->body).ok()) {
                // Too large for one message (a promise carrying an unusually long log): the
                // epoch change retries, and compaction shortens the log meanwhile.
                ++stats_.replica_messages_oversized;
                continue;
            }
            ++stats_.payloads_sent;
            effects_.emplace_back(std::in_place_type<send_payload>, out->to, std::move(*address),
                                  encode_on(wire::channel::replica, replica::encode(out->body)));
        } else if (auto* write = std::get_if<replica::host_persist>(&produced)) {
            effects_.emplace_back(std::in_place_type<replica_write>, std::move(*write));
        } else if (auto* leading = std::get_if<replica::group_leading>(&produced)) {
            repair_group(now, leading->group, leading->members);
        } else {
            auto& finished = std::get<replica::request_done>(produced);
            if (auto client = kv_clients_busy_.find(finished.id);
                client != kv_clients_busy_.end()) {
                kv_clients_idle_.push_back(client->second);
                kv_clients_busy_.erase(client);
            }
            if (auto courier = courier_requests_.find(finished.id);
                courier != courier_requests_.end()) {
                const std::uint64_t token = courier->second;
                courier_requests_.erase(courier);
                actors_.on_request_done(token, finished.answer);
                continue;
            }
            if (auto asked = worker_requests_.find(finished.id);
                asked != worker_requests_.end()) {
                const std::uint64_t token = asked->second;
                worker_requests_.erase(asked);
                on_job_answer(now, token, finished.answer);
                continue;
            }
            if (actor_requests_.erase(finished.id) > 0) {
                effects_.emplace_back(std::in_place_type<actor_done>, finished.id,
                                      std::move(finished.answer));
                continue;
            }
            result<replica::kv::answer> answer =
                finished.answer ? replica::kv::decode_answer(*finished.answer)
                                : result<replica::kv::answer>(finished.answer.failure());
            effects_.emplace_back(std::in_place_type<kv_done>, finished.id, std::move(answer));
        }
    }
}

std::optional<std::string> node::address_of_member(const node_id& id) const {
    for (const auto& member : membership_.members()) {
        if (member.update.id == id) {
            return member.update.address;
        }
    }
    return std::nullopt;
}

void node::feed_routing_table(instant now, const membership::member_changed& changed) {
    const auto& member = changed.update;
    if (member.id == self_) {
        return;
    }
    if (member.state == membership::member_state::alive) {
        dht_.observe(now, member.id, member.address);
    } else if (member.state == membership::member_state::dead ||
               member.state == membership::member_state::left) {
        dht_.remove(member.id);
        for (const auto& group : replicas_.on_member_down(now, member.id)) {
            repair_group(now, group, replicas_.find(group)->members());
        }
    }
}

void node::check_invariants() const {
    REEF_ASSERT(kv_clients_idle_.size() + kv_clients_busy_.size() == kv_clients_made_);
    REEF_ASSERT(kv_clients_busy_.size() <= limits_.replica.requests_max);
    membership_.check_invariants();
    replicas_.check_invariants();
    dht_.check_invariants();
    REEF_ASSERT(stats_.payloads_rejected <= stats_.payloads_received);
    REEF_ASSERT(incarnation_persisted_ == membership_.incarnation());
    REEF_ASSERT(reports_in_window_ <= limits_.rejection_reports_per_second);
}

} // namespace reef::node
