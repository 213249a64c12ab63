#include "address.hpp"

#include <algorithm>
#include <charconv>

#include "reef/base/ids.hpp"

namespace reef::cli {
namespace {

std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            out += '?';
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

} // namespace

result<int> parse_bounded_int(std::string_view text, int min, int max, std::string_view what) {
    REEF_ASSERT(min <= max);
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    bool whole = !text.empty() && ec == std::errc() && end == text.data() + text.size();
    if (!whole || value < min || value > max) {
        return make_error(errc::invalid_argument, std::string(what) + " must be a whole number "
                                                      "from " + std::to_string(min) + " to " +
                                                      std::to_string(max) + ", got " +
                                                      quoted(text));
    }
    return value;
}

status check_socket_path(std::string_view path) {
    if (path.empty()) {
        return make_error(errc::invalid_argument, "the control socket path is empty");
    }
    if (path.size() > socket_path_size_max) {
        return make_error(errc::invalid_argument,
                          "control socket path is " + std::to_string(path.size()) +
                              " bytes, longer than the " + std::to_string(socket_path_size_max) +
                              " a Unix socket allows: " + quoted(path) +
                              " (use a shorter --dir)");
    }
    if (path.find('\0') != std::string_view::npos) {
        return make_error(errc::invalid_argument, "the control socket path contains a NUL byte");
    }
    return {};
}

result<node_target> parse_node_target(std::string_view text) {
    auto usage = [&](std::string_view why) {
        return make_error(errc::invalid_argument,
                          "--node must be a node number (1-" + std::to_string(local_nodes_max) +
                              "), a control socket path or HOST:PORT, got " + quoted(text) +
                              (why.empty() ? "" : ": " + std::string(why)));
    };
    if (text.empty()) {
        return usage("it is empty");
    }
    bool all_digits =
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    node_target target;
    if (all_digits || text.front() == '-' || text.front() == '+') {
        auto number = parse_bounded_int(text, 1, local_nodes_max, "the node number");
        if (!number) {
            return usage(number.failure().message);
        }
        target.which = node_target::kind::local_node;
        target.node_number = *number;
        return target;
    }
    if (text.find('/') != std::string_view::npos) {
        auto checked = check_socket_path(text);
        if (!checked) {
            return checked.failure();
        }
        target.which = node_target::kind::socket_path;
        target.socket_path = std::string(text);
        return target;
    }
    auto address = parse_host_port(text);
    if (!address) {
        return usage(address.failure().message);
    }
    target.which = node_target::kind::tcp;
    target.tcp = std::move(*address);
    return target;
}

result<std::string> parse_id_hex(std::string_view text, std::string_view what) {
    std::string out;
    for (char c : text) {
        if (hex_digit_value(c) < 0) {
            break;
        }
        out += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    if (text.size() != 64 || out.size() != 64) {
        return make_error(errc::invalid_argument,
                          std::string(what) + " must be 64 hex digits, got " + quoted(text));
    }
    return out;
}

result<record_ref> parse_record_ref(std::string_view text) {
    // Names of only hex digits this long or longer are taken for keys.
    constexpr std::size_t hex_name_size_max = 32;
    const auto name_checked = [](std::string_view name) -> status {
        if (name.empty() || name.size() > record_name_size_max) {
            return make_error(errc::invalid_argument,
                              "a record name must be 1.." + std::to_string(record_name_size_max) +
                                  " bytes, got " + std::to_string(name.size()));
        }
        return {};
    };
    if (auto key = parse_id_hex(text, "KEY")) {
        return record_ref{record_ref::kind::key, *key, {}};
    }
    const auto slash = text.find('/');
    const bool all_hex =
        std::all_of(text.begin(), text.end(), [](char c) { return hex_digit_value(c) >= 0; });
    if (slash == std::string_view::npos && all_hex && text.size() >= hex_name_size_max) {
        // A long run of hex digits is a mistyped key, not a name: say so rather than look up a
        // record of that name and answer "not found".
        return make_error(errc::invalid_argument,
                          "KEY must be 64 hex digits, got " + std::to_string(text.size()));
    }
    if (slash == std::string_view::npos) {
        if (auto checked = name_checked(text); !checked) {
            return checked.failure();
        }
        return record_ref{record_ref::kind::own, {}, std::string(text)};
    }
    auto publisher = parse_id_hex(text.substr(0, slash), "PUBLISHER in PUBLISHER/NAME");
    if (!publisher) {
        return publisher.failure();
    }
    if (auto checked = name_checked(text.substr(slash + 1)); !checked) {
        return checked.failure();
    }
    return record_ref{record_ref::kind::published, *publisher, std::string(text.substr(slash + 1))};
}

} // namespace reef::cli
