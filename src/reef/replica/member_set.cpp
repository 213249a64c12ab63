#include "reef/replica/member_set.hpp"

#include <algorithm>
#include <cstring>

#include "reef/base/assert.hpp"

namespace reef::replica {

std::string encode_member_set(std::span<const node_id> members) {
    REEF_ASSERT(!members.empty() && members.size() <= member_set_size_max);
    REEF_ASSERT(std::is_sorted(members.begin(), members.end()));
    std::string out;
    out.reserve(members.size() * id256::size_bytes);
    for (const auto& member : members) {
        const auto& bytes = member.bytes();
        out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    return out;
}

result<std::vector<node_id>> decode_member_set(std::string_view command) {
    if (command.empty() || command.size() % id256::size_bytes != 0) {
        return make_error(errc::invalid_argument,
                          "a member set is a non-empty multiple of 32 bytes, got " +
                              std::to_string(command.size()));
    }
    const std::size_t count = command.size() / id256::size_bytes;
    if (count > member_set_size_max) {
        return make_error(errc::invalid_argument,
                          "a member set has at most " + std::to_string(member_set_size_max) +
                              " members, got " + std::to_string(count));
    }
    std::vector<node_id> members;
    members.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        id256::bytes_type bytes{};
        std::memcpy(bytes.data(), command.data() + i * id256::size_bytes, id256::size_bytes);
        members.emplace_back(bytes);
        if (members.back().is_zero()) {
            return make_error(errc::invalid_argument,
                              "member " + std::to_string(i) + " of a member set is the zero id");
        }
        if (i > 0 && !(members[i - 1] < members[i])) {
            return make_error(errc::invalid_argument,
                              "member " + std::to_string(i) +
                                  " of a member set is not greater than the one before it "
                                  "(members are sorted and unique)");
        }
    }
    return members;
}

bool is_member_change(const entry& item) {
    return item.request == request_id{} && !item.command.empty();
}

std::vector<node_id> member_set_after(const std::optional<snapshot>& base,
                                      std::span<const entry> log,
                                      const std::vector<node_id>& created) {
    for (auto it = log.rbegin(); it != log.rend(); ++it) {
        if (is_member_change(*it)) {
            auto members = decode_member_set(it->command);
            REEF_ASSERT(members.ok()); // validated before it entered any log
            return std::move(*members);
        }
    }
    if (base && !base->members.empty()) {
        return base->members;
    }
    return created;
}

bool one_member_apart(const std::vector<node_id>& current, const std::vector<node_id>& next) {
    std::vector<node_id> only_current;
    std::vector<node_id> only_next;
    std::set_difference(current.begin(), current.end(), next.begin(), next.end(),
                        std::back_inserter(only_current));
    std::set_difference(next.begin(), next.end(), current.begin(), current.end(),
                        std::back_inserter(only_next));
    return only_current.size() + only_next.size() == 1;
}

} // namespace reef::replica
