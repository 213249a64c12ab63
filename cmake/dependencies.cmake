# Every third-party dependency, found once. scripts/install-deps.sh installs the Debian packages.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# Standalone Asio 1.22 ships no CMake or pkg-config metadata. Only runtime/ may link it.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(reef_dep_asio INTERFACE)
target_include_directories(reef_dep_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(reef_dep_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1 ASIO_HAS_STD_COROUTINE=1>)
target_link_libraries(reef_dep_asio INTERFACE Threads::Threads)

pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
find_package(Protobuf REQUIRED)
# SQLite 3.37+ (STRICT tables); only runtime/ may link it.
find_package(SQLite3 3.37 REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3.11 CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(rapidcheck CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
add_library(reef_dep_http_parser INTERFACE)
target_include_directories(reef_dep_http_parser SYSTEM INTERFACE ${HTTP_PARSER_INCLUDE_DIR})
target_link_libraries(reef_dep_http_parser INTERFACE ${HTTP_PARSER_LIBRARY})
include(GoogleTest)
