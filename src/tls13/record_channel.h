// RecordChannel: the TLS 1.3 record I/O that both ends of a connection share, over a TCP socket.
// It reads whole records (checking header, size and, once keys are set, the AEAD), cuts handshake
// plaintext into messages, writes sealed records, sends alerts, and after the handshake serves
// application data with KeyUpdate, close_notify and (on a client) NewSessionTicket handled.
// ClientStream and ServerStream each run their handshake on one and then delegate the ByteStream
// calls to it. Thread model: one executor; one reader and one writer may run at once.
#pragma once

#include <asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "core/byte_buffer.h"
#include "core/byte_stream.h"
#include "core/result.h"
#include "tls13/messages.h"
#include "tls13/record.h"

namespace culvert::tls13 {

namespace alert {
inline constexpr std::uint8_t kCloseNotify = 0;
inline constexpr std::uint8_t kUnexpectedMessage = 10;
inline constexpr std::uint8_t kBadRecordMac = 20;
inline constexpr std::uint8_t kRecordOverflow = 22;
inline constexpr std::uint8_t kHandshakeFailure = 40;
inline constexpr std::uint8_t kBadCertificate = 42;
inline constexpr std::uint8_t kIllegalParameter = 47;
inline constexpr std::uint8_t kDecodeError = 50;
inline constexpr std::uint8_t kDecryptError = 51;
inline constexpr std::uint8_t kProtocolVersion = 70;
inline constexpr std::uint8_t kInternalError = 80;
inline constexpr std::uint8_t kMissingExtension = 109;
inline constexpr std::uint8_t kUnsupportedExtension = 110;
inline constexpr std::uint8_t kNoApplicationProtocol = 120;
}  // namespace alert

inline constexpr std::uint8_t kChangeCipherSpecRecord[] = {kChangeCipherSpec, 0x03, 0x03, 0x00, 0x01, 0x01};

class RecordChannel {
 public:
  struct Record {
    std::uint8_t type;
    ByteSpan plaintext;
    std::size_t wire_length = 0;  // header included
  };

  RecordChannel(asio::ip::tcp::socket socket, bool is_client);

  // Bytes already read from the socket by someone else (a server's peek at the ClientHello).
  void preload(ByteSpan bytes);
  // The next record; before read protection is set, records are plaintext. ChangeCipherSpec
  // records are skipped until the handshake is done.
  asio::awaitable<Result<Record>> next_record();
  // The same from what is already buffered, without reading: nullopt when more bytes are needed.
  // The record's bytes stay valid until the next read from the socket.
  std::optional<Result<Record>> buffered_record();
  asio::awaitable<Result<HandshakeMessage>> next_handshake_message();
  bool handshake_buffer_empty() const { return framer_.empty(); }

  asio::awaitable<std::error_code> write_raw(ByteSpan bytes);
  // Appends an alert record (sealed if write protection is set).
  void append_alert(std::uint8_t description, Bytes& out);
  // Sends `description` (best effort), closes, and returns `error`.
  asio::awaitable<std::error_code> fail(std::uint8_t description, Errc error);

  // Moves both directions to new traffic secrets (handshake, then application); records from here
  // on are opened and sealed with them, sequence numbers starting at zero.
  void set_keys(const CipherSuite& suite, ByteSpan read_secret, ByteSpan write_secret) {
    read_ = std::make_unique<RecordProtection>(suite, read_secret, false);
    write_ = std::make_unique<RecordProtection>(suite, write_secret, true);
  }
  RecordProtection* write_protection() { return write_.get(); }
  void handshake_finished() { handshake_done_ = true; }

  // The ByteStream side, once the handshake is done.
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer);
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer);
  asio::awaitable<void> shutdown_send();
  void close();
  // Asks the peer for new keys with the next write (KeyUpdate with update_requested).
  void request_key_update() {
    key_update_to_send_ = true;
    want_peer_update_ = true;
  }
  asio::ip::tcp::socket& socket() { return socket_; }
  // Wire lengths of the records that carried NewSessionTickets (what an observer sees of them).
  const std::vector<std::size_t>& ticket_records() const { return ticket_records_; }

 private:
  Result<void> handle_post_handshake(const HandshakeMessage& message);
  // Takes one record in the ByteStream phase: application data is copied to `out` (the rest kept in
  // pending_), close_notify and post-handshake messages are handled. Returns bytes copied.
  Result<std::size_t> take_record(const Record& record, std::span<std::uint8_t> out);
  asio::awaitable<IoResult> read_failed(std::error_code error);

  asio::ip::tcp::socket socket_;
  bool is_client_;
  std::unique_ptr<RecordProtection> read_;
  std::unique_ptr<RecordProtection> write_;
  HandshakeFramer framer_;
  ByteBuffer input_;  // records read but not yet opened; the front one may be partial
  Bytes pending_;
  std::size_t pending_start_ = 0;
  ByteBuffer write_buffer_;
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool sent_close_notify_ = false;
  bool key_update_to_send_ = false;
  bool want_peer_update_ = false;
  std::error_code deferred_error_;  // met after data that was returned first; reported next
  std::vector<std::size_t> ticket_records_;
};

}  // namespace culvert::tls13
