#include "control_call.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <functional>
#include <optional>
#include <system_error>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/write.hpp>

#include "reef/sdk.hpp"

namespace reef::sdk::detail {
namespace {

constexpr std::string_view header_end = "\r\n\r\n";

bool same_text_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

/// The Content-Length of a response head, if it has one.
std::optional<std::size_t> content_length(std::string_view head) {
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string_view::npos && line_start + 2 < head.size()) {
        line_start += 2;
        const std::size_t line_end = head.find("\r\n", line_start);
        const std::string_view line = head.substr(line_start, line_end - line_start);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos &&
            same_text_ignoring_case(line.substr(0, colon), "content-length")) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') {
                value.remove_prefix(1);
            }
            std::size_t length = 0;
            const auto parsed = std::from_chars(value.data(), value.data() + value.size(), length);
            if (parsed.ec == std::errc{}) {
                return length;
            }
        }
        line_start = line_end;
    }
    return std::nullopt;
}

/// The whole response has arrived (its head and Content-Length bytes of body).
bool complete(std::string_view raw) {
    const std::size_t head_size = raw.find(header_end);
    if (head_size == std::string_view::npos) {
        return false;
    }
    const auto length = content_length(raw.substr(0, head_size));
    return length && raw.size() >= head_size + header_end.size() + *length;
}

} // namespace

std::string percent_encoded(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += digits[byte >> 4U];
            out += digits[byte & 0xFU];
        }
    }
    return out;
}

http_answer parse_answer(std::string_view raw) {
    const std::size_t head_size = raw.find(header_end);
    if (raw.substr(0, 9) != "HTTP/1.1 " && raw.substr(0, 9) != "HTTP/1.0 ") {
        throw error("the control socket's answer is not HTTP");
    }
    if (head_size == std::string_view::npos || raw.size() < 12) {
        throw error("the control socket's answer is cut short");
    }
    http_answer answer;
    const auto parsed = std::from_chars(raw.data() + 9, raw.data() + 12, answer.status_code);
    if (parsed.ec != std::errc{}) {
        throw error("the control socket's answer has no status code");
    }
    std::string_view body = raw.substr(head_size + header_end.size());
    if (const auto length = content_length(raw.substr(0, head_size))) {
        if (body.size() < *length) {
            throw error("the control socket's answer is cut short");
        }
        body = body.substr(0, *length);
    }
    answer.body = std::string(body);
    return answer;
}

http_answer http_call(const std::string& socket_path, std::string_view method,
                      std::string_view target, std::string_view json_body,
                      std::chrono::milliseconds timeout) {
    std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    request += "Host: localhost\r\nConnection: close\r\nAccept: application/json\r\n";
    if (!json_body.empty()) {
        request += "Content-Type: application/json\r\n";
    }
    request += "Content-Length: " + std::to_string(json_body.size()) + "\r\n\r\n";
    request += json_body;

    asio::io_context io;
    asio::local::stream_protocol::socket socket(io);
    std::string raw;
    std::array<char, 16384> chunk{};
    std::error_code failure;
    bool finished = false;
    std::function<void()> read_more = [&] {
        socket.async_read_some(asio::buffer(chunk), [&](std::error_code code, std::size_t n) {
            raw.append(chunk.data(), n);
            if (code == asio::error::eof || (!code && complete(raw))) {
                finished = true;
                return;
            }
            if (code) {
                failure = code;
                return;
            }
            if (raw.size() > answer_size_max) {
                failure = std::make_error_code(std::errc::message_size);
                return;
            }
            read_more();
        });
    };
    socket.async_connect(asio::local::stream_protocol::endpoint(socket_path),
                         [&](std::error_code code) {
                             if (code) {
                                 failure = code;
                                 return;
                             }
                             asio::async_write(socket, asio::buffer(request),
                                               [&](std::error_code written, std::size_t) {
                                                   if (written) {
                                                       failure = written;
                                                       return;
                                                   }
                                                   read_more();
                                               });
                         });
    io.run_for(timeout);
    const std::string where = "control socket " + socket_path + ": ";
    if (failure) {
        throw error(where + failure.message());
    }
    if (!finished) {
        throw error(where + "no answer within " + std::to_string(timeout.count()) + " ms");
    }
    return parse_answer(raw);
}

nlohmann::json call_json(const std::string& socket_path, std::string_view method,
                         std::string_view target, const nlohmann::json& body,
                         std::chrono::milliseconds timeout) {
    const std::string text = body.is_null() ? std::string() : body.dump();
    const http_answer answer = http_call(socket_path, method, target, text, timeout);
    nlohmann::json parsed = nlohmann::json::parse(answer.body, nullptr, false);
    const std::string what = std::string(method) + " " + std::string(target);
    if (answer.status_code < 200 || answer.status_code > 299) {
        // Error answers are {"error": {"code", "message"}} (docs/formats/control-api.md).
        if (parsed.is_object() && parsed.contains("error")) {
            const nlohmann::json& reason = parsed["error"];
            if (reason.is_object() && reason.contains("message") &&
                reason["message"].is_string()) {
                throw error(what + ": " + reason["message"].get<std::string>());
            }
            if (reason.is_string()) {
                throw error(what + ": " + reason.get<std::string>());
            }
        }
        throw error(what + ": HTTP " + std::to_string(answer.status_code));
    }
    if (!parsed.is_object()) {
        throw error(what + ": the answer is not a JSON object");
    }
    return parsed;
}

} // namespace reef::sdk::detail
