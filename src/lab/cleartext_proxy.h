// Proxy protocols in the clear (SOCKS4/5, HTTP CONNECT, absolute-form HTTP): trivially seen by any
// DPI (../shared/CENSOR.md, "Cleartext proxies"). Also extracts the HTTP Host for the blocklist.
#pragma once

#include <optional>
#include <string>

#include "core/bytes.h"
#include "lab/verdict.h"

namespace culvert::lab {

Verdict cleartext_proxy_verdict(ByteSpan client_start);
// The Host header (or CONNECT authority host) of a cleartext HTTP request, if that is what it is.
std::optional<std::string> http_host(ByteSpan client_start);

}  // namespace culvert::lab
