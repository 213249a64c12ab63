#include "reef/base/result.hpp"

namespace reef {

std::string_view to_string(errc code) {
    switch (code) {
    case errc::invalid_argument: return "invalid argument";
    case errc::not_found: return "not found";
    case errc::already_exists: return "already exists";
    case errc::unavailable: return "unavailable";
    case errc::timeout: return "timeout";
    case errc::aborted: return "aborted";
    case errc::failed_precondition: return "failed precondition";
    case errc::permission_denied: return "permission denied";
    case errc::resource_exhausted: return "resource exhausted";
    case errc::io_error: return "i/o error";
    case errc::internal: return "internal error";
    }
    return "unknown error";
}

std::string error::describe() const {
    std::string text(to_string(code));
    if (!message.empty()) {
        text += ": ";
        text += message;
    }
    return text;
}

} // namespace reef
