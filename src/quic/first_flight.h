// The first datagrams of a Culvert QUIC client: ngtcp2's Initial packets carrying Culvert's
// Chromium QUIC ClientHello (tls13/client_hello.h) with Chromium's transport parameters
// (transport_parameters.h), protected by Culvert's own code (ngtcp2_crypto.h). This is the part of
// a connection a censor reads without any key: the lab compares it with Chromium's captured first
// flight. No I/O: the datagrams are returned, not sent.
#pragma once

#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::quic {

struct FirstFlightOptions {
  std::string server_name;
  std::size_t datagram_size = 1250;  // what Chromium sends its Initials in
};

Result<std::vector<Bytes>> client_first_flight(const FirstFlightOptions& options);

}  // namespace culvert::quic
