// `reef dht put|get|closest|find`: the DHT routes of the control API, for people and scripts.

#include <iostream>

#include <nlohmann/json.hpp>

#include "commands_internal.hpp"
#include "output.hpp"
#include "reef/base/ids.hpp"
#include "reef/dht/record.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

control_client dht_client_for(const global_options& global) {
    control_client client = client_for(global);
    client.timeout = std::max<std::chrono::milliseconds>(client.timeout, dht_timeout_min);
    return client;
}

/// The node id of the node asked, for a bare NAME (a record of its own).
result<std::string> own_id(const control_client& client) {
    auto status = client.status();
    if (!status) {
        return status.failure();
    }
    return (*status)["node_id"].get<std::string>();
}

/// The /v1/dht/get body for `ref`.
result<json> get_body(const control_client& client, const record_ref& ref) {
    switch (ref.which) {
    case record_ref::kind::key: return json{{"key", ref.hex}};
    case record_ref::kind::published: return json{{"publisher", ref.hex}, {"name", ref.name}};
    case record_ref::kind::own: break;
    }
    auto self = own_id(client);
    if (!self) {
        return self.failure();
    }
    return json{{"publisher", *self}, {"name", ref.name}};
}

/// The 64-hex key `ref` names (a record's key is BLAKE2b-256(publisher id || name)).
result<std::string> key_of(const control_client& client, const record_ref& ref) {
    if (ref.which == record_ref::kind::key) {
        return ref.hex;
    }
    std::string publisher_hex = ref.hex;
    if (ref.which == record_ref::kind::own) {
        auto self = own_id(client);
        if (!self) {
            return self.failure();
        }
        publisher_hex = *self;
    }
    auto publisher = id256::from_hex(publisher_hex);
    if (!publisher) {
        return make_error(errc::invalid_argument,
                          "the node's id " + publisher_hex + " is not 64 hex digits");
    }
    return dht::record_key(*publisher, ref.name).hex();
}


} // namespace

int run_dht_put(const global_options& global, const dht_put_options& options) {
    const control_client client = dht_client_for(global);
    return show(global, client.dht_put(options.name, options.value, options.ttl_seconds),
                           render_dht_put);
}

int run_dht_get(const global_options& global, const std::string& ref_text) {
    auto ref = parse_record_ref(ref_text);
    if (!ref) {
        return report_usage(ref.failure().message);
    }
    const control_client client = dht_client_for(global);
    auto body = get_body(client, *ref);
    if (!body) {
        return report(body.failure());
    }
    auto answer = client.dht_get(*body);
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
    } else {
        std::cout << (*answer)["value"].get<std::string>() << "\n";
    }
    return exit_ok;
}

int run_dht_closest(const global_options& global, const std::string& ref_text) {
    auto ref = parse_record_ref(ref_text);
    if (!ref) {
        return report_usage(ref.failure().message);
    }
    const control_client client = dht_client_for(global);
    auto target = key_of(client, *ref);
    if (!target) {
        return report(target.failure());
    }
    return show(global, client.dht_closest(*target), render_dht_closest);
}

int run_dht_find(const global_options& global, const std::string& node_id_hex) {
    auto id = parse_id_hex(node_id_hex, "NODE_ID");
    if (!id) {
        return report_usage(id.failure().message);
    }
    const control_client client = dht_client_for(global);
    return show(global, client.dht_find(*id), render_dht_find);
}

} // namespace reef::cli
