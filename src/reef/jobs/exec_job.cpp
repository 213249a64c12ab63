#include "reef/jobs/exec_job.hpp"

#include <utility>

namespace reef::jobs {
namespace {

error refuse(std::string message) { return make_error(errc::invalid_argument, std::move(message)); }

bool is_u64(const json& value) {
    return value.is_number_unsigned() ||
           (value.is_number_integer() && value.get<std::int64_t>() >= 0);
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

} // namespace

result<std::vector<std::string>> parse_command(std::string_view program) {
    const json parsed = json::parse(program, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_array() || parsed.empty() ||
        parsed.size() > exec_limits::arguments_max) {
        return refuse("a command is a JSON array of 1.." +
                      std::to_string(exec_limits::arguments_max) + " strings");
    }
    std::vector<std::string> command;
    for (const auto& argument : parsed) {
        if (!argument.is_string() ||
            argument.get_ref<const std::string&>().size() > exec_limits::argument_size_max ||
            argument.get_ref<const std::string&>().find('\0') != std::string::npos) {
            return refuse("every argument of a command is a string of at most " +
                          std::to_string(exec_limits::argument_size_max) + " bytes, without NUL");
        }
        command.push_back(argument.get<std::string>());
    }
    if (command.front().empty()) {
        return refuse("a command's program name is empty");
    }
    return command;
}

std::vector<std::string> substitute(const std::vector<std::string>& command, std::uint64_t start,
                                    std::uint64_t end) {
    REEF_ASSERT(start <= end);
    std::vector<std::string> out = command;
    for (auto& argument : out) {
        replace_all(argument, "{start}", std::to_string(start));
        replace_all(argument, "{end}", std::to_string(end));
    }
    return out;
}

std::string output_page_name(std::string_view job, std::uint64_t chunk, std::uint64_t attempt,
                             std::uint64_t page) {
    return std::string(job) + "/out/" + std::to_string(chunk) + "." + std::to_string(attempt) +
           "." + std::to_string(page);
}

json output_partial(std::uint64_t attempt, std::uint64_t pages, std::uint64_t bytes) {
    return {{"attempt", attempt}, {"pages", pages}, {"bytes", bytes}};
}

status check_output_partial(const json& partial) {
    if (!partial.is_object() || partial.size() != 3 || !is_u64(partial.value("attempt", json())) ||
        !is_u64(partial.value("pages", json())) || !is_u64(partial.value("bytes", json()))) {
        return refuse("a command's partial is {attempt, pages, bytes}");
    }
    const auto pages = partial["pages"].get<std::uint64_t>();
    const auto bytes = partial["bytes"].get<std::uint64_t>();
    if (bytes > exec_limits::output_size_max ||
        pages != (bytes + exec_limits::page_size_bytes - 1) / exec_limits::page_size_bytes) {
        return refuse("a command's output is at most " +
                      std::to_string(exec_limits::output_size_max) +
                      " bytes, in pages of " + std::to_string(exec_limits::page_size_bytes));
    }
    return {};
}

void register_blob(actors::actor_table& table) {
    table.register_native(
        std::string(blob_kind),
        [](const actors::actor_record& record, bool init, const std::string&, const json&,
           const actors::run_context&) -> result<actors::run_output> {
            if (!init) {
                return refuse("blob " + record.name + " never changes");
            }
            actors::run_output out;
            out.state = json::object();
            return out;
        });
}

} // namespace reef::jobs
