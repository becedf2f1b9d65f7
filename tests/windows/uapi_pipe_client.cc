// uapi_pipe_client.exe: what wg.exe does with zlayer-wg.exe's named pipe, for
// the end-to-end test (tests/windows/e2e.sh) under wine, where no wg.exe is.
//
//   uapi_pipe_client.exe IFNAME < REQUEST
//
// Opens \\.\pipe\ProtectedPrefix\Administrators\WireGuard\IFNAME without
// waiting for a busy pipe, refuses it unless its owner is LocalSystem (as
// wg.exe does: "Permission denied"), writes the request read from stdin
// ("get=1\n\n" or "set=1\n...\n\n") and prints the answer up to its blank
// line. Exit status: 0 when the answer's errno is 0, 1 otherwise; every wait
// is bounded (10 s).

#include <winsock2.h>
#include <windows.h>
// After windows.h:
#include <aclapi.h>
#include <sddl.h>

#include <fcntl.h>
#include <io.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

namespace {

bool OwnerIsLocalSystem(HANDLE pipe) {
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (GetSecurityInfo(pipe, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner, nullptr,
                      nullptr, nullptr, &sd) != ERROR_SUCCESS) {
    return false;
  }
  PSID system = nullptr;
  bool ok = ConvertStringSidToSidW(L"S-1-5-18", &system) && EqualSid(owner, system);
  if (system != nullptr) LocalFree(system);
  LocalFree(sd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: uapi_pipe_client IFNAME < REQUEST\n");
    return 2;
  }
  // The protocol's bytes, unchanged: no CRLF translation either way.
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
  std::string path = std::string("\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\") +
                     argv[1];
  HANDLE pipe = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                            OPEN_EXISTING, 0, nullptr);
  if (pipe == INVALID_HANDLE_VALUE) {
    std::fprintf(stderr, "uapi_pipe_client: cannot open %s: Win32 error %lu\n", path.c_str(),
                 GetLastError());
    return 1;
  }
  if (!OwnerIsLocalSystem(pipe)) {
    std::fprintf(stderr, "uapi_pipe_client: %s: Permission denied (owner is not LocalSystem)\n",
                 path.c_str());
    CloseHandle(pipe);
    return 1;
  }
  std::string request((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  DWORD written = 0;
  if (!WriteFile(pipe, request.data(), static_cast<DWORD>(request.size()), &written, nullptr) ||
      written != request.size()) {
    std::fprintf(stderr, "uapi_pipe_client: write failed: Win32 error %lu\n", GetLastError());
    CloseHandle(pipe);
    return 1;
  }
  std::string answer;
  const ULONGLONG deadline = GetTickCount64() + 10000;
  char buf[4096];
  while (answer.find("\n\n") == std::string::npos && GetTickCount64() < deadline) {
    DWORD available = 0;
    if (!PeekNamedPipe(pipe, nullptr, 0, nullptr, &available, nullptr)) break;  // closed
    if (available == 0) {
      Sleep(10);
      continue;
    }
    DWORD got = 0;
    if (!ReadFile(pipe, buf, sizeof(buf), &got, nullptr) || got == 0) break;
    answer.append(buf, got);
  }
  CloseHandle(pipe);
  std::fwrite(answer.data(), 1, answer.size(), stdout);
  if (answer.find("\n\n") == std::string::npos) {
    std::fprintf(stderr, "uapi_pipe_client: no complete answer within 10 s\n");
    return 1;
  }
  return answer.find("errno=0\n") != std::string::npos ? 0 : 1;
}
