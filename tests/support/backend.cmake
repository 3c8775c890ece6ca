# svc-test-backend: the one test backend program every language's suite
# starts (protocol: support/backend.md). Included from tests/CMakeLists.txt
# after svc_test_support is defined.
find_package(Boost 1.74 REQUIRED)  # header-only: Asio and Beast

add_executable(svc_test_backend
  ${CMAKE_CURRENT_LIST_DIR}/svc_test_backend_main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/backend_options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/backend_control.cpp
  ${CMAKE_CURRENT_LIST_DIR}/backend_server.cpp)
set_target_properties(svc_test_backend PROPERTIES OUTPUT_NAME svc-test-backend)
target_compile_options(svc_test_backend PRIVATE -Wall -Wextra)
target_compile_definitions(svc_test_backend PRIVATE BOOST_ASIO_NO_DEPRECATED)
target_link_libraries(svc_test_backend PRIVATE svc_test_support Boost::headers OpenSSL::SSL
                      nlohmann_json::nlohmann_json Threads::Threads)
# GCC 12+ under -fsanitize=thread (the tsan preset) warns that Asio's
# atomic_thread_fence is invisible to TSan; the warning is about Asio's headers.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  target_compile_options(svc_test_backend PRIVATE -Wno-tsan)
endif()
