#pragma once
// VerifyWintunSignature: whether a file is a wintun.dll as WireGuard LLC
// signed it, checked before the file is ever loaded.
//
// Two checks, both required:
//  1. WinVerifyTrust(WINTRUST_ACTION_GENERIC_VERIFY_V2): the file carries an
//     Authenticode signature that is intact (no byte changed since signing)
//     and chains to a root the machine trusts. Revocation is not checked
//     (WTD_REVOKE_NONE): the service must start offline.
//  2. The signer's certificate (the one the signature's SignerInfo names,
//     found with CryptQueryObject, CryptMsgGetParam(CMSG_SIGNER_INFO_PARAM)
//     and CertFindCertificateInStore) has the subject name "WireGuard LLC"
//     (CertGetNameStringW, CERT_NAME_SIMPLE_DISPLAY_TYPE).
// Errors are EACCES and say which check failed and why (not signed, modified
// after signing, untrusted chain, another signer).
//
// `file` is an open handle to `path` that the caller keeps, without write or
// delete sharing, until it has loaded the file: the bytes verified are the
// bytes loaded.
//
// Windows-only (net/ *_win files). Thread safety: any thread.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <string>

#include "base/result.h"

namespace zl::net {

inline constexpr wchar_t kWintunSignerName[] = L"WireGuard LLC";

Result<void> VerifyWintunSignature(const std::wstring& path, HANDLE file);

}  // namespace zl::net
