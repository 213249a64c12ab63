#include "reef/control/api.hpp"

#include <array>
#include <optional>

#include "reef/base/address.hpp"
#include "reef/control/actors_api.hpp"
#include "reef/control/dht_api.hpp"
#include "reef/control/jobs_api.hpp"
#include "reef/control/json_support.hpp"
#include "reef/control/kv_api.hpp"
#include "reef/membership/swim.hpp"
#include "reef/node/node.hpp"
#include "reef/node/version.hpp"

namespace reef::control {

namespace {

using detail::invalid;
using detail::json;
using detail::ok_json;
using detail::parse_object;
using detail::refuse_unknown_fields;
using detail::reply_only;
using detail::shown;

json network_json(const network_facts& network) {
    return json{{"sessions_open", network.sessions_open},
                {"sessions_established", network.sessions_established},
                {"handshakes_refused", network.handshakes_refused},
                {"frames_rejected", network.frames_rejected},
                {"payloads_sent", network.payloads_sent},
                {"payloads_received", network.payloads_received},
                {"payloads_dropped", network.payloads_dropped}};
}

json membership_json(const node::node& local) {
    const auto& stats = local.membership_stats();
    return json{{"probes_sent", stats.probes_sent},
                {"indirect_probes_sent", stats.indirect_probes_sent},
                {"suspicions_raised", stats.suspicions_raised},
                {"refutations", stats.refutations},
                {"messages_rejected", stats.messages_rejected + local.stats().payloads_rejected},
                {"local_health", stats.local_health}};
}

json dht_json(const node::node& local) {
    const dht::kademlia& table = local.dht();
    const auto& stats = table.stats();
    return json{{"contacts", table.table().size()},
                {"records", table.store().size()},
                {"operations_in_flight", table.operations_in_flight()},
                {"requests_answered", stats.requests_answered},
                {"stores_accepted", stats.stores_accepted},
                {"stores_refused", stats.stores_refused},
                {"replies_unsolicited", stats.replies_unsolicited},
                {"records_rejected", stats.records_rejected}};
}

/// The routing table: its contacts, closest buckets first, and a summary.
json routing_json(const node::node& local, json& contacts) {
    const dht::routing_table& table = local.dht().table();
    std::size_t occupied = 0;
    for (int index = 0; index < dht::routing_table::buckets_count; ++index) {
        occupied += table.bucket_size(index) > 0 ? 1 : 0;
    }
    contacts = json::array();
    for (const auto& known : table.closest(local.self(), table.size())) {
        contacts.push_back(json{{"node_id", known.id.hex()},
                                {"short_id", known.id.short_hex()},
                                {"address", known.address},
                                {"rtt_ms", known.rtt ? json(known.rtt->ms()) : json(nullptr)},
                                {"bucket", dht::routing_table::bucket_index(local.self(),
                                                                            known.id)}});
    }
    REEF_ASSERT(contacts.size() == table.size());
    return json{{"contacts", table.size()}, {"buckets_occupied", occupied}};
}

json replica_json(const node::node& local) {
    const auto& stats = local.replicas().stats();
    return json{{"groups", local.replicas().groups_count()},
                {"requests_submitted", stats.requests_submitted},
                {"requests_answered", stats.requests_answered},
                {"requests_timed_out", stats.requests_timed_out},
                {"retries", stats.retries},
                {"redirects", stats.redirects},
                {"groups_located", stats.groups_located},
                {"creations_asked", stats.creations_asked},
                {"refused", stats.refused}};
}

outcome get_status(const node::node& local, const runtime_facts& facts) {
    const node_id self = local.self();
    json body{{"node_id", self.hex()},
              {"short_id", self.short_hex()},
              {"address", local.address()},
              {"state", local.has_left() ? "left" : "alive"},
              {"incarnation", local.incarnation()},
              {"uptime_seconds", facts.uptime.sec()},
              {"cluster_size", local.cluster_size()},
              {"pid", facts.pid},
              {"version", std::string(node::version)},
              {"data_dir", facts.data_dir},
              {"network", network_json(facts.network)},
              {"membership", membership_json(local)},
              {"dht", dht_json(local)},
              {"replica", replica_json(local)}};
    return reply_only(ok_json(body));
}

outcome get_peers(const node::node& local, const runtime_facts& facts) {
    json members = json::array();
    for (const auto& member : local.members()) {
        const auto& update = member.update;
        const duration since = facts.now - member.state_since;
        json entry{{"node_id", update.id.hex()},
                   {"short_id", update.id.short_hex()},
                   {"address", update.address},
                   {"state", std::string(membership::to_string(update.state))},
                   {"incarnation", update.incarnation},
                   {"rtt_ms", nullptr},
                   {"since_seconds", since < duration::zero() ? 0.0 : since.sec()},
                   {"self", update.id == local.self()},
                   {"in_table", local.dht().table().find(update.id).has_value()}};
        if (member.rtt) {
            entry["rtt_ms"] = member.rtt->ms();
        }
        members.push_back(std::move(entry));
    }
    json contacts;
    json routing = routing_json(local, contacts);
    return reply_only(ok_json(json{{"members", std::move(members)},
                                   {"routing", std::move(routing)},
                                   {"contacts", std::move(contacts)}}));
}

outcome post_join(const request& incoming, const node::node& local) {
    auto parsed = parse_object(incoming.body);
    if (auto* refused = std::get_if<outcome>(&parsed)) {
        return std::move(*refused);
    }
    const json& body = std::get<json>(parsed);
    if (auto refused = refuse_unknown_fields(body, {"address"})) {
        return std::move(*refused);
    }
    const auto field = body.find("address");
    if (field == body.end()) {
        return invalid("missing field \"address\" (HOST:PORT of a member to join through)");
    }
    if (!field->is_string()) {
        return invalid(std::string("field \"address\" must be a string, got ") +
                       field->type_name());
    }
    auto address = parse_host_port(field->get_ref<const std::string&>());
    if (!address) {
        return invalid(address.failure().message);
    }
    if (address->text() == local.address()) {
        return invalid("address " + address->text() + " is this node's own address");
    }
    if (local.has_left()) {
        return reply_only(error_response(409, errc::failed_precondition,
                                         "this node has left the cluster and is shutting down"));
    }
    return outcome{ok_json(json{{"ok", true}}), join_command{address->text()}};
}

outcome post_leave(const request& incoming) {
    auto parsed = parse_object(incoming.body);
    if (auto* refused = std::get_if<outcome>(&parsed)) {
        return std::move(*refused);
    }
    if (auto refused = refuse_unknown_fields(std::get<json>(parsed), {})) {
        return std::move(*refused);
    }
    return outcome{ok_json(json{{"ok", true}}), leave_command{}};
}

struct route {
    std::string_view path;
    std::string_view method;
};

constexpr std::array<route, 19> routes{{
    {"/v1/status", "GET"},
    {"/v1/peers", "GET"},
    {"/v1/join", "POST"},
    {"/v1/leave", "POST"},
    {"/v1/dht/put", "POST"},
    {"/v1/dht/get", "POST"},
    {"/v1/dht/closest", "POST"},
    {"/v1/dht/find", "POST"},
    {kv_path, "POST"},
    {kv_group_path, "GET"},
    {actors_spawn_path, "POST"},
    {actors_send_path, "POST"},
    {actors_steer_path, "POST"},
    {actors_state_path, "GET"},
    {jobs_path, "GET"},
    {jobs_start_path, "POST"},
    {jobs_state_path, "GET"},
    {jobs_cancel_path, "POST"},
    {jobs_page_path, "GET"},
}};

} // namespace

outcome handle(const request& incoming, const node::node& local, const runtime_facts& facts) {
    std::string_view path = incoming.target;
    path = path.substr(0, path.find('?'));
    const route* found = nullptr;
    for (const auto& candidate : routes) {
        if (candidate.path == path) {
            found = &candidate;
        }
    }
    if (found == nullptr) {
        return reply_only(error_response(
            404, errc::not_found,
            "no such endpoint " + shown(path) +
                " (try /v1/status, /v1/peers, /v1/join, /v1/leave, /v1/dht/put, /v1/dht/get, "
                "/v1/dht/closest, /v1/dht/find, /v1/kv, /v1/kv/group, /v1/actors/spawn, "
                "/v1/actors/send, /v1/actors/steer, /v1/actors/state, /v1/jobs, "
                "/v1/jobs/start, /v1/jobs/state, /v1/jobs/cancel)"));
    }
    if (incoming.method != found->method) {
        response refused = error_response(
            405, errc::invalid_argument,
            "method " + shown(incoming.method) + " is not allowed on " +
                std::string(found->path) + "; use " + std::string(found->method));
        refused.allow = std::string(found->method);
        return reply_only(std::move(refused));
    }
    if (incoming.body.size() > body_size_max) {
        return reply_only(error_response(413, errc::resource_exhausted,
                                         "body is " + std::to_string(incoming.body.size()) +
                                             " bytes (at most " + std::to_string(body_size_max) +
                                             ")"));
    }
    if (path == "/v1/status") {
        return get_status(local, facts);
    }
    if (path == "/v1/peers") {
        return get_peers(local, facts);
    }
    if (path == "/v1/join") {
        return post_join(incoming, local);
    }
    if (is_dht_path(path)) {
        return handle_dht(path, incoming);
    }
    if (path == kv_path) {
        return handle_kv(incoming);
    }
    if (path == kv_group_path) {
        return handle_kv_group(incoming, local);
    }
    if (is_actors_path(path)) {
        return handle_actors(path, incoming);
    }
    if (is_jobs_path(path)) {
        return handle_jobs(path, incoming);
    }
    REEF_ASSERT(path == "/v1/leave");
    return post_leave(incoming);
}

bool answers_later(const command& action) {
    return std::holds_alternative<dht_put_command>(action) ||
           std::holds_alternative<dht_get_command>(action) ||
           std::holds_alternative<dht_closest_command>(action) ||
           std::holds_alternative<dht_find_command>(action) ||
           std::holds_alternative<kv_command>(action) ||
           std::holds_alternative<actor_command>(action);
}

response error_response(int status, errc code, std::string_view message) {
    REEF_ASSERT(status >= 400 && status <= 599);
    json body{{"error", {{"code", std::string(to_string(code))}, {"message", message}}}};
    return response{status, detail::dump(body), {}};
}

int http_status_of(errc code) {
    switch (code) {
    case errc::invalid_argument: return 400;
    case errc::not_found: return 404;
    case errc::already_exists: return 409;
    case errc::unavailable: return 503;
    case errc::timeout: return 504;
    case errc::aborted: return 409;
    case errc::failed_precondition: return 409;
    case errc::permission_denied: return 403;
    case errc::resource_exhausted: return 429;
    case errc::io_error: return 500;
    case errc::internal: return 500;
    }
    return 500;
}

std::string_view reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

} // namespace reef::control
