#include "crypto/secret_string.h"

#include <utility>

#include "crypto/keys.h"

namespace zl::crypto {

SecretString::SecretString(std::string_view text) : text_(text) {}

SecretString::SecretString(const SecretString& other) : text_(other.text_) {}

SecretString& SecretString::operator=(const SecretString& other) {
  if (this != &other) {
    // Wipe first: the assignment may free our buffer or keep it.
    Wipe();
    text_ = other.text_;
  }
  return *this;
}

SecretString::SecretString(SecretString&& other) noexcept
    : text_(std::move(other.text_)) {
  // A short string is copied out of the other's inline buffer, which keeps
  // the bytes; a long one's heap buffer moves with it.
  other.Wipe();
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    text_ = std::move(other.text_);
    other.Wipe();
  }
  return *this;
}

SecretString::~SecretString() { Wipe(); }

void SecretString::Wipe() {
  // Zero the whole buffer, not only size() bytes: the slack past the end
  // may still hold text (a moved-from inline buffer keeps its bytes).
  // resize() makes every byte up to capacity() part of the string, so
  // wiping them is defined behaviour; it does not reallocate.
  text_.resize(text_.capacity());
  SecureWipe(text_.data(), text_.size());
  text_.clear();
}

}  // namespace zl::crypto
