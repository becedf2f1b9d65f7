// service_probe.exe: a Windows service for system_service_win_test.cc.
//
//   service_probe.exe SERVICE_NAME RESULT_FILE
//
// Runs as SERVICE_NAME under the service control manager (net::RunAsService):
// writes "running" to RESULT_FILE once it reports running, and "stopped" once
// the SCM's stop request reached its stop handler and the body returned. Run
// outside the SCM it writes the error RunAsService gave and exits 3. Bounded:
// the body gives up after 60 s without a stop request.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "net/system_service.h"

namespace {

void WriteFile(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return;
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: service_probe SERVICE_NAME RESULT_FILE\n");
    return 2;
  }
  const std::string result_file = argv[2];
  auto ran = zl::net::RunAsService(argv[1], [&](zl::net::ServiceHost& host) {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    host.SetStopHandler([&] {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
      cv.notify_all();
    });
    host.ReportRunning();
    WriteFile(result_file, "running");
    std::unique_lock<std::mutex> lock(mu);
    const bool stopped = cv.wait_for(lock, std::chrono::seconds(60), [&] { return stop; });
    WriteFile(result_file, stopped ? "stopped" : "timed out");
    return stopped ? 0 : 7;
  });
  if (!ran.ok()) {
    WriteFile(result_file, "error: " + ran.error().message());
    return 3;
  }
  return *ran;
}
