#include "reef/base/base64.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace reef {
namespace {

TEST(base64, matches_the_rfc_4648_vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(plain), encoded);
        EXPECT_EQ(*base64_decode(encoded), plain);
    }
}

TEST(base64, refuses_what_is_not_base64) {
    for (const char* bad : {"Zg=", "Z===", "Zg=a", "Z!==", "=Zg=", "Zg==Zg=="}) {
        EXPECT_FALSE(base64_decode(bad).ok()) << bad;
    }
}

RC_GTEST_PROP(base64, round_trips_any_bytes, (const std::string& bytes)) {
    RC_ASSERT(*base64_decode(base64_encode(bytes)) == bytes);
}

} // namespace
} // namespace reef
