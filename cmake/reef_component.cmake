# reef_add_component(NAME
#     DEPS <components and libraries this one may use>
#     SOURCES <.cpp files>
#     TEST_DEPS <extra libraries for its tests>)
#
# Builds one static library `reef_<NAME>` whose public include root is src/ (so headers are
# included as "reef/<name>/x.hpp"). Every `*.test.cpp` in the component's directory becomes its
# own test executable `reef_<NAME>_<file>_test`, registered with ctest under `unit.<NAME>.<file>`.
function(reef_add_component name)
  cmake_parse_arguments(ARG "" "" "DEPS;SOURCES;TEST_DEPS" ${ARGN})
  set(target reef_${name})
  add_library(${target} STATIC ${ARG_SOURCES})
  # Build-tree only: the installed package (sdk/) exports these libraries for linking, not their
  # headers.
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/src>)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.test.cpp)
  foreach(test_source ${tests})
    get_filename_component(stem ${test_source} NAME)
    string(REPLACE ".test.cpp" "" stem ${stem})
    set(test_target reef_${name}_${stem}_test)
    add_executable(${test_target} ${test_source})
    target_link_libraries(${test_target} PRIVATE ${target} ${ARG_TEST_DEPS}
      GTest::gtest_main GTest::gmock rapidcheck rapidcheck_gtest)
    add_test(NAME unit.${name}.${stem} COMMAND ${test_target})
    set_tests_properties(unit.${name}.${stem} PROPERTIES LABELS unit TIMEOUT 300)
  endforeach()
endfunction()
