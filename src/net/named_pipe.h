#pragma once
// Local stream connections over Windows named pipes, behind a header without
// a Windows type, for the layers above net/ (the UAPI's pipe server).
// Implemented in net/named_pipe_win.cc; there is no Linux implementation
// (Linux serves the UAPI on a unix socket, uapi/server.h).
//
// NamedPipeListener serves one pipe name (`\\.\pipe\...`), byte mode, local
// clients only (PIPE_REJECT_REMOTE_CLIENTS), every instance created with the
// security descriptor given as SDDL (owner, DACL, integrity label). It keeps
// two instances listening, and creates a new one as soon as one is taken, so
// a free instance is there at all times: a client that does not wait for a
// busy pipe (wireguard-tools' wg.exe) always gets in. The first instance is
// created with FILE_FLAG_FIRST_PIPE_INSTANCE: a second server on the same
// name is refused (EADDRINUSE).
//
// Accept() blocks until a client connects or Stop() is called. Stop() also
// ends the I/O of every connection the listener handed out: a server stops
// its listener and then joins its client threads.
//
// PipeConnection: one connected instance. Read and Write wait at most until
// their deadline (ETIMEDOUT) and end promptly once the connection or its
// listener is stopped (ECANCELED). Read returns 0 at the client's end of
// stream; Write reports a client gone as EPIPE. Closing (the destructor)
// leaves what was written readable by the client.
//
// Threads and ownership: Accept, Read and Write block; one thread at a time
// per object. Stop() may be called from any thread, any number of times. A
// connection may outlive its listener (it then only lacks the listener's
// stop). Objects are destroyed by their one user thread, after the I/O ends.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"

namespace zl::net {

class PipeConnection {
 public:
  struct Impl;
  explicit PipeConnection(std::unique_ptr<Impl> impl);
  ~PipeConnection();
  PipeConnection(const PipeConnection&) = delete;
  PipeConnection& operator=(const PipeConnection&) = delete;

  // Reads at most buffer.size() (> 0) bytes: the count (> 0), or 0 when the
  // other end closed. Errors: ETIMEDOUT once `deadline` has passed,
  // ECANCELED once stopped, or the failing call's.
  Result<size_t> Read(MutableByteSpan buffer, MonoTime deadline);
  // Writes all of `bytes`. Errors: EPIPE when the other end has closed,
  // ETIMEDOUT (it did not read them all by `deadline`), ECANCELED.
  Result<void> Write(ByteSpan bytes, MonoTime deadline);
  // Ends a blocked Read/Write, and every later one, with ECANCELED.
  void Stop();

  // The pipe's security descriptor (owner, group, DACL and label that the
  // handle may read), as SDDL. For a client: what wg.exe checks.
  Result<std::string> SecurityDescriptorSddl() const;

 private:
  std::unique_ptr<Impl> impl_;
};

class NamedPipeListener {
 public:
  struct Impl;
  // Creates the pipe `pipe_path` ("\\.\pipe\NAME", UTF-8) with the
  // security descriptor `security_descriptor_sddl`. Errors: EADDRINUSE when
  // the pipe exists already (another server), EINVAL for a bad SDDL, EPERM
  // when the process may not give the pipe that owner (see named_pipe_win.cc),
  // or the failing call's.
  static Result<std::unique_ptr<NamedPipeListener>> Create(
      std::string pipe_path, std::string_view security_descriptor_sddl);
  ~NamedPipeListener();
  NamedPipeListener(const NamedPipeListener&) = delete;
  NamedPipeListener& operator=(const NamedPipeListener&) = delete;

  // Waits for a client; the connection, with a free instance listening
  // again. ECANCELED once stopped.
  Result<std::unique_ptr<PipeConnection>> Accept();
  // Ends a blocked Accept, and every later one, and the I/O of the
  // connections it handed out. Any thread.
  void Stop();

  const std::string& path() const { return path_; }

 private:
  NamedPipeListener(std::string path, std::unique_ptr<Impl> impl);

  const std::string path_;
  std::unique_ptr<Impl> impl_;
};

// The client side (tests and tools): opens the pipe read/write without
// waiting for a busy one, as wg.exe does. Errors: ENOENT (no such pipe),
// EBUSY (no free instance), EACCES (the descriptor refuses us).
Result<std::unique_ptr<PipeConnection>> ConnectToNamedPipe(
    std::string_view pipe_path);

}  // namespace zl::net
