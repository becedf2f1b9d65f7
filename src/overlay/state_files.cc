#include "overlay/state_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <string>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "crypto/x25519.h"

namespace zl::overlay {
namespace {

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError("open " + dir);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + dir);
  return {};
}

Result<void> WriteAll(int fd, std::string_view data, const std::string& what) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write " + what);
    off += size_t(n);
  }
  return {};
}

}  // namespace

std::string IdentityPath(const std::string& dir) { return dir + "/identity.key"; }
std::string NodeStatePath(const std::string& dir) { return dir + "/node.json"; }
std::string StorePath(const std::string& dir) { return dir + "/store.db"; }
std::string ControlSocketPath(const std::string& dir) { return dir + "/control.sock"; }

Result<void> EnsureStateDir(const std::string& dir) {
  if (dir.empty()) return MakeError(EINVAL, "the state directory is empty");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoError("stat " + dir);
    // Create the missing parents (0755, like mkdir -p), then the directory.
    for (size_t pos = 1; (pos = dir.find('/', pos)) != std::string::npos; ++pos) {
      const std::string parent = dir.substr(0, pos);
      if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("mkdir " + parent);
      }
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir " + dir);
    if (::stat(dir.c_str(), &st) != 0) return ErrnoError("stat " + dir);
  }
  if (!S_ISDIR(st.st_mode)) return MakeError(ENOTDIR, dir + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return MakeError(EPERM, dir + " is owned by uid " + std::to_string(st.st_uid) +
                                ", not by us; refusing to keep keys there");
  }
  if ((st.st_mode & 0077) != 0) {
    // Ours, but open to others: tighten rather than refuse (mkdir -p of a
    // parent may have made it 0755 before we existed).
    if (::chmod(dir.c_str(), st.st_mode & 0700) != 0) return ErrnoError("chmod " + dir);
  }
  return {};
}

Result<void> WriteFileAtomic(const std::string& path, std::string_view contents) {
  const std::string dir = Dirname(path);
  std::string tmp = path + ".tmpXXXXXX";
  // mkstemp creates the file 0600.
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return ErrnoError("create a temporary file next to " + path);
  auto fail = [&](Error e) -> Result<void> {
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto w = WriteAll(fd.get(), contents, tmp); !w.ok()) return fail(w.error());
  if (::fsync(fd.get()) != 0) return fail(ErrnoError("fsync " + tmp));
  if (::close(fd.Release()) != 0) return fail(ErrnoError("close " + tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoError("rename to " + path));
  return FsyncDir(dir);
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("open " + path);
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + path);
    if (n == 0) break;
    if (out.size() + size_t(n) > max_bytes) {
      return MakeError(EFBIG, path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, size_t(n));
  }
  crypto::SecureWipe(buf, sizeof(buf));
  return out;
}

Result<crypto::SecretString> ReadSecretFile(const std::string& path) {
  auto text = ReadFile(path, 4096);
  if (!text.ok()) return text.error();
  crypto::SecretString secret(*text);
  crypto::SecureWipe(text->data(), text->size());
  return secret;
}

Result<crypto::PrivateKey> LoadOrCreateIdentity(const std::string& dir, crypto::Rng& rng,
                                                bool* created) {
  const std::string path = IdentityPath(dir);
  if (created != nullptr) *created = false;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoError("stat " + path);
    crypto::PrivateKey key = crypto::GeneratePrivateKey(rng);
    crypto::SecretString text(Base64Encode(key.span()) + "\n");
    if (auto w = WriteFileAtomic(path, text.view()); !w.ok()) return w.error();
    if (created != nullptr) *created = true;
    return key;
  }
  if ((st.st_mode & 0077) != 0) {
    return MakeError(EPERM, path + " is readable by others (mode " +
                                fmt::format("{:04o}", st.st_mode & 07777) + "); fix with chmod 600");
  }
  auto text = ReadSecretFile(path);
  if (!text.ok()) return text.error();
  std::string_view v = text->view();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) {
    v.remove_suffix(1);
  }
  crypto::PrivateKey key;
  if (v.size() != 44 || !Base64Decode(v, key.mutable_span()) || key.IsZero()) {
    return MakeError(EINVAL, path + " does not hold a WireGuard private key (44 characters of "
                                    "base64); refusing to start with a different identity");
  }
  return key;
}

}  // namespace zl::overlay
