#include "core/errors.h"

#include <string>

namespace culvert {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "culvert"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::ok:
        return "ok";
      case Errc::truncated:
        return "truncated input";
      case Errc::malformed:
        return "malformed input";
      case Errc::unsupported:
        return "unsupported request";
      case Errc::too_large:
        return "input too large";
      case Errc::auth_failed:
        return "the server did not accept this link (revoked, expired, over quota, or a wrong key)";
      case Errc::protocol_violation:
        return "mux protocol violation";
      case Errc::window_exceeded:
        return "flow-control window exceeded";
      case Errc::stream_reset:
        return "stream reset by peer";
      case Errc::tunnel_closed:
        return "tunnel closed";
      case Errc::destination_refused:
        return "destination refused by policy";
      case Errc::dial_failed:
        return "could not connect to destination";
      case Errc::timed_out:
        return "timed out";
      case Errc::tls_failed:
        return "TLS failure";
      case Errc::untrusted_certificate:
        return "the server's certificate is not trusted";
      case Errc::pin_mismatch:
        return "server certificate does not match the pinned key";
      case Errc::bad_link:
        return "malformed share link";
      case Errc::bad_config:
        return "invalid configuration";
      case Errc::store_failed:
        return "user store failure";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& culvert_category() {
  static const Category category;
  return category;
}

}  // namespace culvert
