#include "reef/replica/kv.hpp"

#include <charconv>
#include <limits>

#include "reef/base/assert.hpp"

namespace reef::replica::kv {

namespace {

constexpr char tag_get = 'g';
constexpr char tag_put = 'p';
constexpr char tag_cas = 'c';
constexpr char tag_incr = 'i';
constexpr char snapshot_version = 1;

void put_u64(std::string& out, std::uint64_t value) {
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((value >> static_cast<unsigned>(shift)) & 0xFFU));
    }
}

void put_text(std::string& out, std::string_view text) {
    put_u64(out, text.size());
    out.append(text);
}

/// Reads fields from untrusted bytes; every read checks the remaining length.
class reader {
public:
    explicit reader(std::string_view bytes) : bytes_(bytes) {}

    std::optional<std::uint64_t> u64() {
        if (bytes_.size() < 8) {
            return std::nullopt;
        }
        std::uint64_t value = 0;
        for (int i = 0; i < 8; ++i) {
            value = (value << 8U) | static_cast<std::uint8_t>(bytes_[static_cast<std::size_t>(i)]);
        }
        bytes_.remove_prefix(8);
        return value;
    }
    std::optional<char> byte() {
        if (bytes_.empty()) {
            return std::nullopt;
        }
        const char value = bytes_.front();
        bytes_.remove_prefix(1);
        return value;
    }
    std::optional<std::string> text(std::size_t size_max) {
        auto size = u64();
        if (!size || *size > size_max || *size > bytes_.size()) {
            return std::nullopt;
        }
        std::string value(bytes_.substr(0, *size));
        bytes_.remove_prefix(*size);
        return value;
    }
    bool done() const { return bytes_.empty(); }

private:
    std::string_view bytes_;
};

std::optional<std::int64_t> as_number(const std::optional<std::string>& value) {
    if (!value) {
        return 0;
    }
    std::int64_t number = 0;
    const auto* end = value->data() + value->size();
    auto [stopped, failure] = std::from_chars(value->data(), end, number);
    if (failure != std::errc{} || stopped != end || value->empty()) {
        return std::nullopt;
    }
    return number;
}

} // namespace

std::string encode_command(const command& body) {
    std::string out;
    if (std::holds_alternative<get>(body)) {
        out.push_back(tag_get);
    } else if (const auto* written = std::get_if<put>(&body)) {
        REEF_ASSERT(written->value.size() <= value_size_max);
        out.push_back(tag_put);
        put_text(out, written->value);
    } else if (const auto* swap = std::get_if<cas>(&body)) {
        REEF_ASSERT(swap->value.size() <= value_size_max);
        out.push_back(tag_cas);
        out.push_back(swap->expected ? 1 : 0);
        put_text(out, swap->expected.value_or(std::string{}));
        put_text(out, swap->value);
    } else {
        out.push_back(tag_incr);
        put_u64(out, static_cast<std::uint64_t>(std::get<incr>(body).delta));
    }
    return out;
}

result<command> decode_command(std::string_view bytes) {
    reader in(bytes);
    const auto tag = in.byte();
    if (!tag) {
        return make_error(errc::invalid_argument, "kv command is empty");
    }
    command out;
    switch (*tag) {
    case tag_get:
        out = get{};
        break;
    case tag_put: {
        auto value = in.text(value_size_max);
        if (!value) {
            return make_error(errc::invalid_argument, "kv put: value missing or too large");
        }
        out = put{std::move(*value)};
        break;
    }
    case tag_cas: {
        const auto present = in.byte();
        auto expected = in.text(value_size_max);
        auto value = in.text(value_size_max);
        if (!present || (*present != 0 && *present != 1) || !expected || !value) {
            return make_error(errc::invalid_argument, "kv cas: malformed fields");
        }
        out = cas{*present == 1 ? std::optional<std::string>(std::move(*expected))
                                : std::nullopt,
                  std::move(*value)};
        break;
    }
    case tag_incr: {
        auto delta = in.u64();
        if (!delta) {
            return make_error(errc::invalid_argument, "kv incr: delta missing");
        }
        out = incr{static_cast<std::int64_t>(*delta)};
        break;
    }
    default:
        return make_error(errc::invalid_argument, "kv command has an unknown tag");
    }
    if (!in.done()) {
        return make_error(errc::invalid_argument, "kv command has trailing bytes");
    }
    return out;
}

std::string encode_answer(const answer& reply) {
    std::string out;
    out.push_back(reply.ok ? 1 : 0);
    out.push_back(reply.value ? 1 : 0);
    put_text(out, reply.value.value_or(std::string{}));
    put_text(out, reply.error);
    return out;
}

result<answer> decode_answer(std::string_view bytes) {
    reader in(bytes);
    const auto ok = in.byte();
    const auto has_value = in.byte();
    auto value = in.text(value_size_max);
    auto error = in.text(value_size_max);
    if (!ok || !has_value || *ok > 1 || *has_value > 1 || !value || !error || !in.done()) {
        return make_error(errc::invalid_argument, "kv answer is malformed");
    }
    return answer{*ok == 1,
                  *has_value == 1 ? std::optional<std::string>(std::move(*value)) : std::nullopt,
                  std::move(*error)};
}

answer register_state::execute(const command& body) {
    if (std::holds_alternative<get>(body)) {
        return answer{true, value_, {}};
    }
    if (const auto* written = std::get_if<put>(&body)) {
        value_ = written->value;
        return answer{true, value_, {}};
    }
    if (const auto* swap = std::get_if<cas>(&body)) {
        if (swap->expected != value_) {
            return answer{false, value_, "the value is not the expected one"};
        }
        value_ = swap->value;
        return answer{true, value_, {}};
    }
    const auto current = as_number(value_);
    const std::int64_t delta = std::get<incr>(body).delta;
    if (!current) {
        return answer{false, value_, "the value is not a number"};
    }
    if ((delta > 0 && *current > std::numeric_limits<std::int64_t>::max() - delta) ||
        (delta < 0 && *current < std::numeric_limits<std::int64_t>::min() - delta)) {
        return answer{false, value_, "the counter would overflow"};
    }
    value_ = std::to_string(*current + delta);
    return answer{true, value_, {}};
}

answer register_state::apply(const entry& committed) {
    if (committed.request == request_id{}) {
        return answer{true, value_, {}}; // a leader's no-op
    }
    auto known = last_.find(committed.request.client);
    if (known != last_.end() && committed.request.sequence <= known->second.sequence) {
        // A retry of something applied: the remembered answer when it is the last request,
        // otherwise the client has moved on and cannot be waiting for it.
        return known->second.reply;
    }
    auto decoded = decode_command(committed.command);
    answer reply = decoded ? execute(*decoded) : answer{false, value_, decoded.failure().message};
    if (known == last_.end() && last_.size() >= limits_.clients_max) {
        auto oldest = last_.begin();
        for (auto it = last_.begin(); it != last_.end(); ++it) {
            if (it->second.applied_at < oldest->second.applied_at) {
                oldest = it;
            }
        }
        last_.erase(oldest);
    }
    last_[committed.request.client] = remembered{committed.request.sequence, reply,
                                                 committed.index};
    return reply;
}

std::string register_state::serialize() const {
    std::string out;
    out.push_back(snapshot_version);
    out.push_back(value_ ? 1 : 0);
    put_text(out, value_.value_or(std::string{}));
    put_u64(out, last_.size());
    for (const auto& [client, kept] : last_) {
        put_u64(out, client);
        put_u64(out, kept.sequence);
        put_u64(out, kept.applied_at);
        out.push_back(kept.reply.ok ? 1 : 0);
        out.push_back(kept.reply.value ? 1 : 0);
        put_text(out, kept.reply.value.value_or(std::string{}));
        put_text(out, kept.reply.error);
    }
    return out;
}

result<register_state> register_state::deserialize(std::string_view bytes,
                                                   const config& limits) {
    reader in(bytes);
    register_state state(limits);
    auto invalid = [] { return make_error(errc::invalid_argument, "kv snapshot is malformed"); };
    const auto version = in.byte();
    const auto present = in.byte();
    auto value = in.text(value_size_max);
    const auto count = in.u64();
    if (version != snapshot_version || !present || !value || !count ||
        *count > limits.clients_max) {
        return invalid();
    }
    if (*present == 1) {
        state.value_ = std::move(*value);
    }
    for (std::uint64_t i = 0; i < *count; ++i) {
        const auto client = in.u64();
        const auto sequence = in.u64();
        const auto applied_at = in.u64();
        const auto ok = in.byte();
        const auto has_value = in.byte();
        auto reply_value = in.text(value_size_max);
        auto error = in.text(value_size_max);
        if (!client || !sequence || !applied_at || !ok || !has_value || !reply_value || !error) {
            return invalid();
        }
        answer reply{*ok == 1,
                     *has_value == 1 ? std::optional<std::string>(std::move(*reply_value))
                                     : std::nullopt,
                     std::move(*error)};
        state.last_[*client] = remembered{*sequence, std::move(reply), *applied_at};
    }
    if (!in.done()) {
        return invalid();
    }
    return state;
}

std::string registers::apply(const group_id& group, const entry& committed) {
    return encode_answer(registers_[group].apply(committed));
}

std::string registers::snapshot_state(const group_id& group) {
    return registers_[group].serialize();
}

void registers::forget(const group_id& group) { registers_.erase(group); }

void registers::install(const group_id& group, const snapshot& base) {
    auto restored = register_state::deserialize(base.state);
    // A snapshot comes from this node's own store or a member's append; both were made by
    // serialize(), so a damaged one is a bug or a corrupted disk: start the register empty
    // rather than crash, and the log after the snapshot still applies.
    registers_[group] = restored ? std::move(*restored) : register_state{};
}

const register_state* registers::find(const group_id& group) const {
    auto found = registers_.find(group);
    return found == registers_.end() ? nullptr : &found->second;
}

} // namespace reef::replica::kv
