// The transport registry's client half: the one place that maps a share link to the code that
// dials it. Adding a transport: its folder under transport/, a struct in ShareLink's
// TransportLink (link/share_link.h), a line here, an acceptor (server/acceptors/), and tests.
// Thread model: the client's executor.
#pragma once

#include <asio/any_io_executor.hpp>
#include <memory>

#include "link/share_link.h"
#include "transport/dialer.h"

namespace culvert {

// `preamble_version`: the mux framing version the client speaks (mux::kVersion).
std::unique_ptr<TunnelDialer> make_dialer(const asio::any_io_executor& executor, const ShareLink& link,
                                          std::uint8_t preamble_version);

}  // namespace culvert
