#pragma once
// SecretString: text that is a secret (an encoded join token, a key in base64
// on its way to a file). Like Secret<N>, it wipes its bytes when destroyed or
// moved from, and has no operator<< or fmt formatter, so it cannot reach a
// log by accident; read it explicitly with view().
//
// Thread safety: a value.

#include <string>
#include <string_view>

namespace zl::crypto {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view text);
  SecretString(const SecretString& other);
  SecretString& operator=(const SecretString& other);
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;
  ~SecretString();

  std::string_view view() const { return text_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }
  void Wipe();

 private:
  std::string text_;
};

}  // namespace zl::crypto
