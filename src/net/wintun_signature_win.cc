#include "net/wintun_signature_win.h"

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>
// After windows.h:
#include <softpub.h>
#include <wincrypt.h>
#include <wintrust.h>

#include <fmt/format.h>

#include <vector>

#include "net/win32_error_win.h"
#include "net/win_text_win.h"

namespace zl::net {
namespace {

std::string Refusal(const std::wstring& path, std::string_view why) {
  return fmt::format("refusing to load {}: {}; only wintun.dll as signed by WireGuard LLC "
                     "(https://www.wintun.net) is loaded",
                     Utf8FromWide(path), why);
}

std::string_view TrustFailureReason(LONG status) {
  switch (static_cast<HRESULT>(status)) {
    case TRUST_E_NOSIGNATURE:
      return "it is not signed (TRUST_E_NOSIGNATURE)";
    case TRUST_E_BAD_DIGEST:
      return "it was modified after it was signed (TRUST_E_BAD_DIGEST)";
    case CERT_E_UNTRUSTEDROOT:
      return "its signature does not chain to a trusted root (CERT_E_UNTRUSTEDROOT)";
    case CERT_E_CHAINING:
      return "its signature's certificate chain is incomplete (CERT_E_CHAINING)";
    case TRUST_E_EXPLICIT_DISTRUST:
      return "its signer is explicitly distrusted (TRUST_E_EXPLICIT_DISTRUST)";
    case TRUST_E_SUBJECT_NOT_TRUSTED:
      return "its signature is not trusted (TRUST_E_SUBJECT_NOT_TRUSTED)";
    case CERT_E_EXPIRED:
      return "its signing certificate has expired (CERT_E_EXPIRED)";
    default:
      return {};
  }
}

// 1. WinVerifyTrust.
Result<void> VerifyAuthenticode(const std::wstring& path, HANDLE file) {
  WINTRUST_FILE_INFO file_info{};
  file_info.cbStruct = sizeof(file_info);
  file_info.pcwszFilePath = path.c_str();
  file_info.hFile = file;
  WINTRUST_DATA data{};
  data.cbStruct = sizeof(data);
  data.dwUIChoice = WTD_UI_NONE;
  data.fdwRevocationChecks = WTD_REVOKE_NONE;
  data.dwUnionChoice = WTD_CHOICE_FILE;
  data.pFile = &file_info;
  data.dwStateAction = WTD_STATEACTION_VERIFY;
  GUID action = WINTRUST_ACTION_GENERIC_VERIFY_V2;
  // hWnd NULL, as Microsoft's WinVerifyTrust example passes (WTD_UI_NONE:
  // no UI either way). INVALID_HANDLE_VALUE makes wine 8.0 start a desktop,
  // which costs 10 s where its RpcSs service cannot start.
  const LONG status = WinVerifyTrust(nullptr, &action, &data);
  data.dwStateAction = WTD_STATEACTION_CLOSE;
  WinVerifyTrust(nullptr, &action, &data);
  if (status == ERROR_SUCCESS) return Ok();
  std::string why(TrustFailureReason(status));
  if (why.empty()) {
    why = "its signature does not verify: " +
          Win32Error(static_cast<DWORD>(status), "WinVerifyTrust").message();
  }
  return MakeError(EACCES, Refusal(path, why));
}

// 2. The signer certificate's subject name.
Result<std::wstring> SignerName(const std::wstring& path) {
  HCERTSTORE store = nullptr;
  HCRYPTMSG msg = nullptr;
  if (!CryptQueryObject(CERT_QUERY_OBJECT_FILE, path.c_str(), CERT_QUERY_CONTENT_FLAG_PKCS7_SIGNED_EMBED,
                        CERT_QUERY_FORMAT_FLAG_BINARY, 0, nullptr, nullptr, nullptr, &store, &msg,
                        nullptr)) {
    return LastWin32Error("CryptQueryObject");
  }
  Result<std::wstring> result = MakeError(EACCES, "no signer certificate");
  DWORD size = 0;
  if (!CryptMsgGetParam(msg, CMSG_SIGNER_INFO_PARAM, 0, nullptr, &size) || size == 0) {
    result = LastWin32Error("CryptMsgGetParam(CMSG_SIGNER_INFO_PARAM)");
  } else {
    std::vector<BYTE> buf(size);
    if (!CryptMsgGetParam(msg, CMSG_SIGNER_INFO_PARAM, 0, buf.data(), &size)) {
      result = LastWin32Error("CryptMsgGetParam(CMSG_SIGNER_INFO_PARAM)");
    } else {
      const auto* signer = reinterpret_cast<const CMSG_SIGNER_INFO*>(buf.data());
      CERT_INFO wanted{};
      wanted.Issuer = signer->Issuer;
      wanted.SerialNumber = signer->SerialNumber;
      PCCERT_CONTEXT cert = CertFindCertificateInStore(store, X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, 0,
                                                       CERT_FIND_SUBJECT_CERT, &wanted, nullptr);
      if (cert == nullptr) {
        result = LastWin32Error("CertFindCertificateInStore(the signer)");
      } else {
        const DWORD n = CertGetNameStringW(cert, CERT_NAME_SIMPLE_DISPLAY_TYPE, 0, nullptr, nullptr, 0);
        std::wstring name(n, L'\0');
        CertGetNameStringW(cert, CERT_NAME_SIMPLE_DISPLAY_TYPE, 0, nullptr, name.data(), n);
        if (!name.empty() && name.back() == L'\0') name.pop_back();
        result = std::move(name);
        CertFreeCertificateContext(cert);
      }
    }
  }
  CryptMsgClose(msg);
  CertCloseStore(store, 0);
  return result;
}

}  // namespace

Result<void> VerifyWintunSignature(const std::wstring& path, HANDLE file) {
  ZL_RETURN_IF_ERROR(VerifyAuthenticode(path, file));
  auto signer = SignerName(path);
  if (!signer.ok()) {
    return MakeError(EACCES, Refusal(path, "its signer cannot be read: " + signer.error().message()));
  }
  if (*signer != kWintunSignerName) {
    return MakeError(EACCES, Refusal(path, "it is signed by \"" + Utf8FromWide(*signer) +
                                               "\", not by \"WireGuard LLC\""));
  }
  return Ok();
}

}  // namespace zl::net
