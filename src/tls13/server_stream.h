// ServerStream: the server end of a TLS 1.3 connection, for the borrowed-site transport. It
// answers a ClientHello it has already read with a flight shaped like the borrowed target's own
// answer to that same ClientHello (FlightShape): the same cipher suite, key-share group and
// ServerHello extension order, a ChangeCipherSpec if the target sent one, and encrypted records of
// the target's lengths (TLS 1.3 record padding). An extra secret from the ClientHello
// authentication (borrow_auth.h) joins the key schedule, so only the real server can finish.
// Thread model: one executor; after the handshake one reader and one writer may run at once.
#pragma once

#include <array>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <vector>

#include "core/byte_stream.h"
#include "core/result.h"
#include "tls13/certificate_check.h"
#include "tls13/key_schedule.h"
#include "tls13/key_share.h"
#include "tls13/messages.h"
#include "tls13/record_channel.h"

namespace culvert::tls13 {

// What the target sent back, as far as an observer can see it.
struct FlightShape {
  ServerHello hello;                           // suite, group, extension order
  std::uint16_t record_version = 0x0303;       // of the ServerHello record
  bool change_cipher_spec = false;             // after the ServerHello
  std::vector<std::size_t> encrypted_records;  // lengths (as on the wire) of the records after it
  // Records of the NewSessionTickets the target sends once the client's Finished arrives (learned
  // from a full handshake with it; see observe_target_tickets in server/borrow.h).
  std::vector<std::size_t> ticket_records;
};

// Reads a FlightShape from the bytes a target sent after a ClientHello: a ServerHello record,
// perhaps a ChangeCipherSpec, then encrypted records. Errc::unsupported for a HelloRetryRequest
// or anything not TLS 1.3.
Result<FlightShape> parse_flight_shape(ByteSpan target_bytes);

class ServerStream final : public ByteStream {
 public:
  explicit ServerStream(asio::ip::tcp::socket socket);
  ~ServerStream() override;

  // `client_hello` is the ClientHello handshake message; `rest` any bytes read after it.
  asio::awaitable<std::error_code> handshake(ByteSpan client_hello, ByteSpan rest, const FlightShape& shape,
                                             const ServerCredentials& identity, ByteSpan extra_secret);

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override { return channel_.read_some(buffer); }
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override { return channel_.write_all(buffer); }
  asio::awaitable<void> shutdown_send() override { return channel_.shutdown_send(); }
  void close() override { channel_.close(); }
  void reset() override {
    std::error_code ignored;
    if (channel_.socket().is_open()) channel_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    channel_.close();
  }

  Result<std::array<std::uint8_t, 32>> export_key(std::string_view label) const;

 private:
  RecordChannel channel_;
  const CipherSuite* suite_ = nullptr;
  Bytes exporter_master_;
};

// Packs handshake bytes into records of the given wire lengths (TLS 1.3 padding fills each), every
// record carrying at least one byte; what does not fit goes into further full-size records.
Bytes seal_into_shape(RecordProtection& seal, ByteSpan handshake, const std::vector<std::size_t>& lengths);

}  // namespace culvert::tls13
