#include "control_call.hpp"

#include <gtest/gtest.h>

#include "reef/sdk.hpp"

namespace reef::sdk::detail {
namespace {

TEST(ControlCall, ParsesAnAnswerFramedByContentLength) {
    const http_answer answer = parse_answer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 11\r\n"
        "Connection: close\r\n\r\n{\"ok\":true}trailing");
    EXPECT_EQ(answer.status_code, 200);
    EXPECT_EQ(answer.body, "{\"ok\":true}");
}

TEST(ControlCall, ParsesAnAnswerEndedByTheConnection) {
    const http_answer answer = parse_answer("HTTP/1.0 404 Not Found\r\n\r\n{}");
    EXPECT_EQ(answer.status_code, 404);
    EXPECT_EQ(answer.body, "{}");
}

TEST(ControlCall, RefusesWhatIsNotHttp) {
    EXPECT_THROW(parse_answer("SSH-2.0-OpenSSH\r\n\r\n"), error);
    EXPECT_THROW(parse_answer("HTTP/1.1 200 OK\r\nContent-Length: 5"), error);
    EXPECT_THROW(parse_answer("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}"), error);
    EXPECT_THROW(parse_answer("HTTP/1.1 abc\r\n\r\n"), error);
}

TEST(ControlCall, PercentEncodesQueryValues) {
    EXPECT_EQ(percent_encoded("job-1.a_b~"), "job-1.a_b~");
    EXPECT_EQ(percent_encoded("a b/c&d=\xff"), "a%20b%2Fc%26d%3D%FF");
}

TEST(ControlCall, NothingListeningIsAClearError) {
    try {
        (void)http_call("/nonexistent/reef/control.sock", "GET", "/v1/status", "",
                        std::chrono::milliseconds(1000));
        FAIL() << "expected an error";
    } catch (const error& failure) {
        EXPECT_NE(std::string(failure.what()).find("/nonexistent/reef/control.sock"),
                  std::string::npos)
            << failure.what();
    }
}

} // namespace
} // namespace reef::sdk::detail
