// Starts svc-test-backend processes on loopback for the C++ suites and stops
// them at the end of the test. The binary's path comes from the build
// (SVC_TEST_BACKEND_BIN) or the environment variable of the same name.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace svc::testing {

class Backend {
 public:
  // Starts the backend with `args`; port() is 0 when it did not start.
  explicit Backend(std::vector<std::string> args) {
    const char* env = std::getenv("SVC_TEST_BACKEND_BIN");
    std::string bin = env ? env : SVC_TEST_BACKEND_BIN;
    args.insert(args.begin(), bin);
    args.push_back("--parent-pid");
    args.push_back(std::to_string(getpid()));
    int out[2];
    if (pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      pid_ = -1;
      return;
    }
    FILE* f = fdopen(out[0], "r");
    char line[64] = "";
    if (f && std::fgets(line, sizeof line, f)) std::sscanf(line, "LISTENING %d", &port_);
    if (f) std::fclose(f);
  }
  ~Backend() { Stop(); }
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Sends `sig` (SIGUSR1 clears every /_admin/ override).
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// A loopback port with nothing listening (bound, then closed).
int DeadPort();

}  // namespace svc::testing
