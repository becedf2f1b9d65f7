#pragma once
// Internal to crypto/ on Windows: libgcrypt, the crypto backend there
// (docs/ARCHITECTURE.md, "Windows"). Every *_gcrypt.cc calls
// EnsureGcryptInitialized() before its first libgcrypt call, and GcryptDie()
// where a call that cannot fail with a working library fails (the functions
// of crypto/ that have no error channel abort then, as the OpenSSL backend
// does). Not part of the layer's API, and not installed.
//
// Thread safety: EnsureGcryptInitialized is thread-safe (a function-local
// static); libgcrypt is thread-safe once initialised.

namespace zl::crypto::internal {

// gcry_check_version, no secure memory (our secrets live in Secret<> and are
// wiped by us; libgcrypt wipes its handles when they are closed), then
// GCRYCTL_INITIALIZATION_FINISHED. Once per process. Aborts if the linked
// libgcrypt is older than the headers.
void EnsureGcryptInitialized();

[[noreturn]] void GcryptDie(const char* what, unsigned int gcry_error);

}  // namespace zl::crypto::internal
