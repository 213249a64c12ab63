#include "output.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "reef/base/assert.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

std::string format_fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
    return buffer;
}

std::string two_digits(long value) {
    return (value < 10 ? "0" : "") + std::to_string(value);
}

std::string count_text(const json& object, const char* key) {
    if (!object.is_object() || !object.contains(key) || !object[key].is_number()) {
        return "?";
    }
    return object[key].dump();
}

} // namespace

std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
    REEF_ASSERT(!header.empty());
    std::vector<std::size_t> widths(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) {
        widths[i] = header[i].size();
    }
    for (const auto& row : rows) {
        REEF_ASSERT(row.size() == header.size());
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    std::string out;
    auto append_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) {
                line.append(widths[i] - row[i].size() + 2, ' ');
            }
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back(); // an empty last cell must not leave trailing blanks
        }
        out += line + "\n";
    };
    append_row(header);
    for (const auto& row : rows) {
        append_row(row);
    }
    return out;
}

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) {
        return "-";
    }
    if (seconds < 1) {
        return std::to_string(std::lround(seconds * 1000)) + "ms";
    }
    if (seconds < 60) {
        return format_fixed(seconds, 1) + "s";
    }
    auto whole = static_cast<long>(seconds);
    if (whole < 3600) {
        return std::to_string(whole / 60) + "m" + two_digits(whole % 60) + "s";
    }
    if (whole < 86400) {
        return std::to_string(whole / 3600) + "h" + two_digits(whole % 3600 / 60) + "m";
    }
    return std::to_string(whole / 86400) + "d" + two_digits(whole % 86400 / 3600) + "h";
}

std::string format_rtt(const json& rtt_ms) {
    if (!rtt_ms.is_number()) {
        return "-";
    }
    double value = rtt_ms.get<double>();
    if (!std::isfinite(value) || value < 0) {
        return "-";
    }
    return format_fixed(value, value < 10 ? 2 : 1) + "ms";
}

std::string render_peers(const json& peers) {
    const bool has_routing = peers.contains("contacts") && peers["contacts"].is_array();
    std::map<std::string, std::string> bucket_of; // node id -> bucket, for routing contacts
    if (has_routing) {
        for (const json& contact : peers["contacts"]) {
            bucket_of[contact["node_id"].get<std::string>()] = contact["bucket"].dump();
        }
    }
    std::vector<std::vector<std::string>> rows;
    std::set<std::string> members;
    for (const json& member : peers["members"]) {
        bool self = member.value("self", false);
        double since = member.contains("since_seconds") && member["since_seconds"].is_number()
                           ? member["since_seconds"].get<double>()
                           : -1;
        const std::string id = member["node_id"].get<std::string>();
        members.insert(id);
        rows.push_back({member["short_id"].get<std::string>() + (self ? " *" : ""),
                        member["address"].get<std::string>(), member["state"].get<std::string>(),
                        member["incarnation"].dump(), format_rtt(member.value("rtt_ms", json())),
                        format_duration(since)});
        if (has_routing) {
            const auto bucket = bucket_of.find(id);
            rows.back().push_back(bucket == bucket_of.end() ? "-" : bucket->second);
        }
    }
    if (!has_routing) {
        return render_table({"ID", "ADDRESS", "STATE", "INCARNATION", "RTT", "SINCE"}, rows);
    }
    std::string out =
        render_table({"ID", "ADDRESS", "STATE", "INCARNATION", "RTT", "SINCE", "DHT"}, rows);
    const json routing = peers.value("routing", json::object());
    out += "routing table: " + count_text(routing, "contacts") + " contacts in " +
           count_text(routing, "buckets_occupied") + " buckets\n";
    std::vector<std::vector<std::string>> strangers;
    for (const json& contact : peers["contacts"]) {
        if (members.count(contact["node_id"].get<std::string>()) == 0) {
            strangers.push_back(
                {contact["short_id"].get<std::string>(), contact["address"].get<std::string>(),
                 format_rtt(contact.value("rtt_ms", json())), contact["bucket"].dump()});
        }
    }
    if (!strangers.empty()) {
        out += "contacts that are not members:\n" +
               render_table({"ID", "ADDRESS", "RTT", "DHT"}, strangers);
    }
    return out;
}

std::string render_dht_put(const json& put) {
    const std::string name = put["name"].get<std::string>();
    std::string out = "stored " + name + " (sequence " + put["sequence"].dump() + ") on " +
                      std::to_string(put["stored_on"].size()) +
                      " of the closest nodes; read it anywhere as " +
                      put["reference"].get<std::string>() + "\n";
    out += "key " + put["key"].get<std::string>() + "\n";
    if (put["failed"].get<std::uint64_t>() > 0) {
        out += put["failed"].dump() + " of the closest nodes refused or did not answer\n";
    }
    return out;
}

std::string render_dht_closest(const json& closest) {
    std::vector<std::vector<std::string>> rows;
    for (const json& node : closest["nodes"]) {
        rows.push_back({node["node_id"].get<std::string>(), node["address"].get<std::string>(),
                        format_rtt(node.value("rtt_ms", json()))});
    }
    std::string out = render_table({"NODE ID", "ADDRESS", "RTT"}, rows);
    out += std::to_string(rows.size()) + (rows.size() == 1 ? " node" : " nodes") + " in " +
           closest["rounds"].dump() + (closest["rounds"] == 1 ? " round" : " rounds") + "\n";
    return out;
}

std::string render_dht_find(const json& found) {
    std::string out;
    for (const json& address : found["addresses"]) {
        out += address.get<std::string>() + "\n";
    }
    return out;
}

std::string render_status(const json& status) {
    const json network = status.value("network", json::object());
    const json membership = status.value("membership", json::object());
    std::vector<std::vector<std::string>> rows = {
        {"node id", status["node_id"].get<std::string>()},
        {"address", status["address"].get<std::string>()},
        {"state", status["state"].get<std::string>()},
        {"incarnation", status["incarnation"].dump()},
        {"cluster size", status["cluster_size"].dump()},
        {"uptime", format_duration(status["uptime_seconds"].get<double>())},
        {"pid", status["pid"].dump()},
        {"version", status.value("version", std::string("?"))},
        {"data dir", status.value("data_dir", std::string("?"))},
        {"sessions", count_text(network, "sessions_established") + " established, " +
                         count_text(network, "handshakes_refused") + " handshakes refused, " +
                         count_text(network, "frames_rejected") + " frames rejected"},
        {"probes", count_text(membership, "probes_sent") + " sent, " +
                       count_text(membership, "indirect_probes_sent") + " indirect, " +
                       count_text(membership, "suspicions_raised") + " suspicions, local health " +
                       count_text(membership, "local_health")},
    };
    std::string out;
    for (const auto& row : rows) {
        out += row[0];
        out.append(14 - row[0].size(), ' ');
        out += row[1] + "\n";
    }
    return out;
}

std::string render_kv(const nlohmann::json& answer) {
    const auto value = answer.find("value");
    if (value == answer.end() || !value->is_string()) {
        return "(absent)\n";
    }
    return value->get<std::string>() + "\n";
}

std::string render_kv_group(const nlohmann::json& answer) {
    constexpr std::size_t short_size = 12;
    constexpr std::size_t label_width = 10;
    const auto line = [](std::string label, const std::string& text) {
        label.resize(label_width, ' ');
        return label + text + "\n";
    };
    std::string out = line("key", answer["key"].get<std::string>());
    out += line("group", answer["group"].get<std::string>());
    if (!answer["hosted"].get<bool>()) {
        if (answer.value("evicted", false)) {
            return out + line("hosted", "on disk only: idle, evicted from memory (loaded on its "
                                        "next message or request)");
        }
        return out + line("hosted", "no: this node holds no copy of the group");
    }
    const std::string leader = answer["leader"].get<std::string>();
    out += line("hosted", "yes, as " + answer["role"].get<std::string>());
    out += line("epoch", answer["epoch"].dump());
    bool leader_listed = false;
    std::string label = "members";
    for (const json& member : answer["members"]) {
        const std::string id = member.get<std::string>();
        leader_listed = leader_listed || id == leader;
        out += line(label, id.substr(0, short_size) + (id == leader ? "  leader" : ""));
        label.clear();
    }
    if (!leader_listed) {
        out += line("leader", leader.substr(0, short_size) + " (not a member in this view)");
    }
    out += line("indexes", "commit " + answer["commit_index"].dump() + ", applied " +
                               answer["applied_index"].dump() + ", last " +
                               answer["last_index"].dump());
    return out;
}

} // namespace reef::cli
