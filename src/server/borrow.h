// The server side of the borrowed-site transport, as pieces the Server composes and tests drive:
// reading a whole ClientHello off a socket, deciding from it whether the peer is a user
// (borrow_auth.h: key id, tag, time window, replay cache), and learning the shape of the target's
// answer to that very ClientHello. Non-users are relayed to the target with every byte read.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <optional>

#include "core/bytes.h"
#include "core/result.h"
#include "store/user_store.h"
#include "tls13/borrow_auth.h"
#include "tls13/server_stream.h"

namespace culvert {

struct ReadHello {
  Bytes raw;                 // every byte read from the peer so far
  std::size_t used = 0;      // of which the ClientHello's records take this many
  Bytes message;             // the ClientHello handshake message (empty: not a TLS ClientHello)
  bool peer_closed = false;  // the peer half-closed (or reset) while we read
  bool peer_reset = false;   // ... by a reset
};
// Whether `prefix` (the first bytes a peer sent) can still begin a TLS ClientHello record. The
// gate decides by each byte, as a TLS server would fail it: a byte that cannot start a ClientHello
// sends the connection to the target at once, whatever follows.
bool could_start_client_hello(ByteSpan prefix);
// Reads records until the first handshake message is whole. Stops early, with `message` empty,
// as soon as the bytes cannot begin a TLS ClientHello, on end of stream, or past 64 KiB. Writes into `out`
// as it goes, so a caller that cancels the read (a deadline) keeps what was read.
asio::awaitable<void> read_client_hello(asio::ip::tcp::socket& socket, ReadHello& out);

struct BorrowDecision {
  User user;
  Bytes extra_secret;
};

class BorrowGate {
 public:
  // `static_private_key`: the server's X25519 key (its public half is in every share link).
  BorrowGate(std::array<std::uint8_t, 32> static_private_key, std::chrono::seconds window);

  // A user, or nothing for anyone else (probers, replays, browsers, revoked users). Unknown key
  // ids still cost one tag computation, so timing does not tell them apart. Over TCP the proof is
  // in the session id; over QUIC (whose hello has none) in the random.
  std::optional<BorrowDecision> check(ByteSpan hello_message, UserStore& store,
                                      tls13::HelloCarrier carrier = tls13::HelloCarrier::session_id);

 private:
  tls13::KeyShare static_key_;
  std::chrono::seconds window_;
  tls13::ReplayCache replays_;
};

// Sends `hello_records` to the target and reads its answer until it has been quiet for `quiet`
// (or `limit` passed): the ServerHello and the encrypted flight after it.
asio::awaitable<Result<tls13::FlightShape>> observe_target_flight(asio::ip::tcp::socket& target, ByteSpan hello_records,
                                                                  std::chrono::milliseconds quiet,
                                                                  std::chrono::milliseconds limit);

// Completes a real handshake with the target (as a Chromium-like client, any certificate accepted,
// nothing sent after it) and returns the wire lengths of the session-ticket records it sends in
// the following `wait`. Empty if the target cannot be reached or sends none.
asio::awaitable<std::vector<std::size_t>> observe_target_tickets(const std::string& host, std::uint16_t port,
                                                                 const std::string& sni,
                                                                 std::chrono::milliseconds wait);

}  // namespace culvert
