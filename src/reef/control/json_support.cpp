#include "reef/control/json_support.hpp"

#include <algorithm>

namespace reef::control::detail {

namespace {

/// Nesting depth of a JSON text (brackets outside strings), checked before
/// parsing so that a deeply nested body cannot make the parser or the value's
/// destructor recurse without bound.
std::size_t json_depth(std::string_view text) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

} // namespace

std::string dump(const json& value) {
    // Replace rather than throw on invalid UTF-8: a message may quote what a
    // client sent.
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

response ok_json(const json& value) { return response{200, dump(value), {}}; }

outcome reply_only(response reply) { return outcome{std::move(reply), std::monostate{}}; }

outcome invalid(std::string_view message) {
    return reply_only(error_response(400, errc::invalid_argument, message));
}

std::string shown(std::string_view text) {
    constexpr std::size_t shown_max = 40;
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size() && i < shown_max; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c > 0x7e || c == '"') ? '?' : static_cast<char>(c);
    }
    out += text.size() > shown_max ? "\"..." : "\"";
    return out;
}

std::variant<json, outcome> parse_object(const std::string& body) {
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
        return json::object();
    }
    if (json_depth(body) > json_depth_max) {
        return invalid("body nests deeper than " + std::to_string(json_depth_max) + " levels");
    }
    json parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded()) {
        // Parse again for the position and reason; exceptions stay inside this
        // function.
        std::string reason = "syntax error";
        try {
            const json strict = json::parse(body);
            reason = strict.dump(); // not reached: the lenient parse failed
        } catch (const json::parse_error& failure) {
            reason = failure.what();
            const auto bracket = reason.find("] ");
            if (bracket != std::string::npos) {
                reason = reason.substr(bracket + 2);
            }
        }
        return invalid("body is not valid JSON: " + reason);
    }
    if (!parsed.is_object()) {
        return invalid(std::string("body must be a JSON object, got ") + parsed.type_name());
    }
    return parsed;
}

std::optional<outcome> refuse_unknown_fields(const json& body,
                                             std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : body.items()) {
        bool is_known = false;
        for (auto name : known) {
            is_known = is_known || key == name;
        }
        if (!is_known) {
            return invalid("unknown field " + shown(key));
        }
    }
    return std::nullopt;
}

std::variant<std::string, outcome> string_field(const json& body, std::string_view name) {
    const auto field = body.find(name);
    if (field == body.end()) {
        return invalid("missing field \"" + std::string(name) + "\"");
    }
    if (!field->is_string()) {
        return invalid("field \"" + std::string(name) + "\" must be a string, got " +
                       field->type_name());
    }
    return field->get<std::string>();
}

std::variant<id256, outcome> id_field(const json& body, std::string_view name) {
    auto text = string_field(body, name);
    if (auto* refused = std::get_if<outcome>(&text)) {
        return std::move(*refused);
    }
    const std::string& hex = std::get<std::string>(text);
    auto parsed = id256::from_hex(hex);
    if (hex.size() != 64 || !parsed) {
        return invalid(std::string(name) + " must be 64 hex digits, got " + shown(hex));
    }
    return *parsed;
}

std::variant<std::uint64_t, outcome> integer_field(const json& body, std::string_view name,
                                                   std::uint64_t low, std::uint64_t high) {
    REEF_ASSERT(low <= high);
    const auto field = body.find(name);
    REEF_ASSERT(field != body.end());
    const std::string range = std::to_string(low) + ".." + std::to_string(high);
    if (!field->is_number_integer()) {
        return invalid(std::string(name) + " must be an integer " + range + ", got " +
                       (field->is_number() ? field->dump() : std::string(field->type_name())));
    }
    if (field->is_number_unsigned()) {
        const auto value = field->get<std::uint64_t>();
        if (value >= low && value <= high) {
            return value;
        }
    }
    return invalid(std::string(name) + " must be " + range + ", got " + field->dump());
}

/// The optional "request": {"client": C, "sequence": S}, both non-zero unsigned 64-bit
/// integers: a client that retries with the same pair gets its command applied once.
std::variant<std::optional<replica::request_id>, outcome> request_of(const json& body) {
    const auto field = body.find("request");
    if (field == body.end()) {
        return std::optional<replica::request_id>{};
    }
    if (!field->is_object()) {
        return invalid(std::string("field \"request\" must be an object {\"client\", "
                                   "\"sequence\"}, got ") +
                       field->type_name());
    }
    if (auto refused = refuse_unknown_fields(*field, {"client", "sequence"})) {
        return std::move(*refused);
    }
    replica::request_id id;
    for (const char* name : {"client", "sequence"}) {
        const auto part = field->find(name);
        if (part == field->end() || !part->is_number_unsigned() ||
            part->get<std::uint64_t>() == 0) {
            return invalid(std::string("field \"request.") + name +
                           "\" must be an integer in 1..2^64-1");
        }
        (std::string_view(name) == "client" ? id.client : id.sequence) =
            part->get<std::uint64_t>();
    }
    return std::optional<replica::request_id>{id};
}

} // namespace reef::control::detail
