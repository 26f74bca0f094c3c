#include "tls13/client_stream.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <asio/error.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "core/await.h"
#include "crypto/crypto.h"

namespace culvert::tls13 {
namespace {

namespace alert {
constexpr std::uint8_t kCloseNotify = 0;
constexpr std::uint8_t kUnexpectedMessage = 10;
constexpr std::uint8_t kBadRecordMac = 20;
constexpr std::uint8_t kRecordOverflow = 22;
constexpr std::uint8_t kHandshakeFailure = 40;
constexpr std::uint8_t kBadCertificate = 42;
constexpr std::uint8_t kIllegalParameter = 47;
constexpr std::uint8_t kDecodeError = 50;
constexpr std::uint8_t kDecryptError = 51;
constexpr std::uint8_t kProtocolVersion = 70;
constexpr std::uint8_t kInternalError = 80;
}  // namespace alert

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint8_t kChangeCipherSpecRecord[] = {kChangeCipherSpec, 0x03, 0x03, 0x00, 0x01, 0x01};

bool offered_suite(std::uint16_t id) { return find_cipher_suite(id) != nullptr; }

bool offered_group(std::uint16_t g) { return std::find(kGroups.begin(), kGroups.end(), g) != kGroups.end(); }

}  // namespace

ClientStream::ClientStream(asio::ip::tcp::socket socket, ClientConfig config)
    : socket_(std::move(socket)), config_(std::move(config)) {}

ClientStream::~ClientStream() { OPENSSL_cleanse(exporter_master_.data(), exporter_master_.size()); }

Bytes ClientStream::transcript_hash() const { return hash(*suite_, transcript_); }

asio::awaitable<std::error_code> ClientStream::write_raw(ByteSpan bytes) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
  co_return ec;
}

void ClientStream::queue_alert(std::uint8_t description, Bytes& out) {
  std::uint8_t body[2] = {static_cast<std::uint8_t>(description == alert::kCloseNotify ? 1 : 2), description};
  if (write_protection_) {
    write_protection_->seal(kAlert, body, out);
  } else {
    Writer w(out);
    w.u8(kAlert);
    w.u16(0x0303);
    w.u16(2);
    w.bytes(body);
  }
}

asio::awaitable<std::error_code> ClientStream::fail_handshake(std::uint8_t description, Errc error) {
  // Best effort: tell the server why, then give up on the connection.
  if (socket_.is_open()) {
    Bytes out;
    queue_alert(description, out);
    co_await write_raw(out);
  }
  close();
  co_return make_error_code(error);
}

asio::awaitable<Result<ClientStream::Record>> ClientStream::next_record() {
  for (;;) {
    std::size_t available = input_.size() - input_start_;
    if (available >= kRecordHeaderSize) {
      std::uint8_t* header = input_.data() + input_start_;
      std::size_t length = (header[3] << 8) | header[4];
      std::uint8_t type = header[0];
      if (type < kChangeCipherSpec || type > kApplicationData || header[1] != 0x03) co_return fail(Errc::malformed);
      if (length > kMaxCiphertext || (!read_protection_ && length > kMaxPlaintext)) co_return fail(Errc::too_large);
      if (length == 0) co_return fail(Errc::malformed);
      if (available >= kRecordHeaderSize + length) {
        std::span<std::uint8_t> body(header + kRecordHeaderSize, length);
        input_start_ += kRecordHeaderSize + length;
        if (type == kChangeCipherSpec) {
          // Middlebox compatibility: one byte 0x01, only during the handshake (RFC 8446 §5).
          if (handshake_done_ || length != 1 || body[0] != 1) co_return fail(Errc::malformed);
          continue;
        }
        if (!read_protection_) co_return Record{type, ByteSpan(body)};  // before ServerHello's keys
        if (type != kApplicationData) co_return fail(Errc::malformed);
        std::size_t plain = 0;
        auto inner = read_protection_->open(ByteSpan(header, kRecordHeaderSize), body, &plain);
        if (!inner) co_return fail(inner.error());
        co_return Record{*inner, ByteSpan(body.data(), plain)};
      }
    }
    // Need more bytes: compact, then read.
    if (input_start_ > 0) {
      input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(input_start_));
      input_start_ = 0;
    }
    std::size_t have = input_.size();
    input_.resize(have + kReadChunk);
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(input_.data() + have, kReadChunk), use_tuple);
    input_.resize(have + n);
    if (ec) co_return fail(ec);
  }
}

asio::awaitable<Result<HandshakeMessage>> ClientStream::next_handshake_message() {
  for (;;) {
    auto message = framer_.next();
    if (!message) co_return fail(message.error());
    if (*message) co_return std::move(**message);
    auto record = co_await next_record();
    if (!record) co_return fail(record.error());
    if (record->type == kAlert) co_return fail(Errc::tls_failed);
    if (record->type != kHandshake) co_return fail(Errc::malformed);
    framer_.append(record->plaintext);
  }
}

asio::awaitable<std::error_code> ClientStream::handshake() {
  auto ec = co_await run_handshake();
  co_return ec;
}

asio::awaitable<std::error_code> ClientStream::run_handshake() {
  HelloRandomness randomness = HelloRandomness::draw();
  ClientHelloSpec spec;
  spec.server_name = config_.server_name;
  spec.alpn = config_.alpn;
  std::vector<KeyShare> shares;
  for (std::uint16_t g : {group::kX25519MlKem768, group::kX25519}) {
    auto share = KeyShare::generate(g);
    if (!share) co_return make_error_code(Errc::tls_failed);
    spec.key_shares.push_back({g, share->public_bytes()});
    shares.push_back(std::move(*share));
  }
  Bytes hello = build_client_hello(spec, randomness);
  if (auto ec = co_await write_raw(client_hello_record(hello))) co_return ec;
  transcript_ = hello;

  // ServerHello, or HelloRetryRequest then ServerHello.
  auto message = co_await next_handshake_message();
  if (!message) co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
  if (message->type != msg::kServerHello)
    co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
  auto server_hello = parse_server_hello(message->body());
  if (!server_hello) {
    bool old = server_hello.error() == make_error_code(Errc::unsupported);
    co_return co_await fail_handshake(old ? alert::kProtocolVersion : alert::kDecodeError, Errc::tls_failed);
  }
  bool sent_change_cipher_spec = false;
  if (server_hello->hello_retry_request) {
    summary_.hello_retry = true;
    std::uint16_t wanted = server_hello->key_share_group;
    bool already_sent =
        std::any_of(shares.begin(), shares.end(), [&](const KeyShare& s) { return s.group() == wanted; });
    suite_ = find_cipher_suite(server_hello->cipher_suite);
    if (!suite_ || (wanted != 0 && (!offered_group(wanted) || already_sent)) ||
        server_hello->session_id_echo != Bytes(randomness.session_id.begin(), randomness.session_id.end()))
      co_return co_await fail_handshake(alert::kIllegalParameter, Errc::tls_failed);
    // Transcript: message_hash(Hash(ClientHello1)) || HelloRetryRequest || ClientHello2.
    Bytes first_hash = hash(*suite_, transcript_);
    transcript_ = encode_handshake_message(msg::kMessageHash, first_hash);
    transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
    spec.after_retry = true;
    spec.cookie = server_hello->cookie;
    if (wanted != 0) {
      shares.clear();
      spec.key_shares.clear();
      auto share = KeyShare::generate(wanted);
      if (!share) co_return co_await fail_handshake(alert::kIllegalParameter, Errc::tls_failed);
      spec.key_shares.push_back({wanted, share->public_bytes()});
      shares.push_back(std::move(*share));
    }
    Bytes second = build_client_hello(spec, randomness);
    transcript_.insert(transcript_.end(), second.begin(), second.end());
    Bytes flight(std::begin(kChangeCipherSpecRecord), std::end(kChangeCipherSpecRecord));
    Bytes record = client_hello_record(second);
    record[1] = 0x03;
    record[2] = 0x03;
    flight.insert(flight.end(), record.begin(), record.end());
    sent_change_cipher_spec = true;
    if (auto ec = co_await write_raw(flight)) co_return ec;
    std::uint16_t retry_suite = server_hello->cipher_suite;
    message = co_await next_handshake_message();
    if (!message || message->type != msg::kServerHello)
      co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
    server_hello = parse_server_hello(message->body());
    if (!server_hello) co_return co_await fail_handshake(alert::kDecodeError, Errc::tls_failed);
    if (server_hello->hello_retry_request || server_hello->cipher_suite != retry_suite)
      co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
  }
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
  suite_ = find_cipher_suite(server_hello->cipher_suite);
  if (!suite_ || !offered_suite(server_hello->cipher_suite) ||
      server_hello->session_id_echo != Bytes(randomness.session_id.begin(), randomness.session_id.end()))
    co_return co_await fail_handshake(alert::kIllegalParameter, Errc::tls_failed);
  auto share = std::find_if(shares.begin(), shares.end(),
                            [&](const KeyShare& s) { return s.group() == server_hello->key_share_group; });
  if (share == shares.end()) co_return co_await fail_handshake(alert::kIllegalParameter, Errc::tls_failed);
  auto shared = share->agree(server_hello->key_share);
  if (!shared) co_return co_await fail_handshake(alert::kIllegalParameter, Errc::tls_failed);
  summary_.cipher_suite = suite_->id;
  summary_.group = share->group();
  shares.clear();
  if (!framer_.empty()) co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);

  HandshakeSecrets secrets = derive_handshake_secrets(*suite_, *shared, transcript_hash());
  OPENSSL_cleanse(shared->data(), shared->size());
  read_protection_ = std::make_unique<RecordProtection>(*suite_, secrets.server_handshake_traffic, false);

  // EncryptedExtensions.
  message = co_await next_handshake_message();
  if (!message || message->type != msg::kEncryptedExtensions)
    co_return co_await fail_handshake(message ? alert::kUnexpectedMessage : alert::kBadRecordMac, Errc::tls_failed);
  auto extensions = parse_encrypted_extensions(message->body());
  if (!extensions) co_return co_await fail_handshake(alert::kDecodeError, Errc::tls_failed);
  // ALPS would need a client EncryptedExtensions with HTTP/2 settings; servers we talk to never
  // negotiate it, so refuse rather than answer wrongly.
  if (std::find(extensions->extensions.begin(), extensions->extensions.end(), ext::kApplicationSettings) !=
      extensions->extensions.end())
    co_return co_await fail_handshake(alert::kHandshakeFailure, Errc::tls_failed);
  summary_.alpn = extensions->alpn;
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());

  // Certificate (perhaps brotli-compressed) and CertificateVerify.
  message = co_await next_handshake_message();
  if (!message) co_return co_await fail_handshake(alert::kBadRecordMac, Errc::tls_failed);
  if (message->type == msg::kCertificateRequest)  // client certificates: not supported
    co_return co_await fail_handshake(alert::kHandshakeFailure, Errc::tls_failed);
  Result<std::vector<Bytes>> chain = fail(Errc::malformed);
  if (message->type == msg::kCertificate) {
    chain = parse_certificate(message->body());
  } else if (message->type == msg::kCompressedCertificate) {
    summary_.compressed_certificate = true;
    auto inflated = decompress_certificate(message->body());
    if (inflated) chain = parse_certificate(*inflated);
  } else {
    co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
  }
  if (!chain) co_return co_await fail_handshake(alert::kBadCertificate, Errc::tls_failed);
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
  if (!config_.verifier) co_return co_await fail_handshake(alert::kInternalError, Errc::tls_failed);
  auto leaf = config_.verifier->check_chain(*chain);
  if (!leaf) co_return co_await fail_handshake(alert::kBadCertificate, Errc(leaf.error().value()));

  message = co_await next_handshake_message();
  if (!message || message->type != msg::kCertificateVerify)
    co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
  auto verify = parse_certificate_verify(message->body());
  if (!verify) co_return co_await fail_handshake(alert::kDecodeError, Errc::tls_failed);
  if (!verify_server_signature(leaf->get(), verify->scheme, verify->signature, transcript_hash()))
    co_return co_await fail_handshake(alert::kDecryptError, Errc::tls_failed);
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());

  // Server Finished.
  message = co_await next_handshake_message();
  if (!message || message->type != msg::kFinished)
    co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);
  Bytes expected = finished_mac(*suite_, secrets.server_handshake_traffic, transcript_hash());
  if (!crypto::equal_constant_time(expected, message->body()))
    co_return co_await fail_handshake(alert::kDecryptError, Errc::tls_failed);
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
  // A handshake message may not straddle the key change.
  if (!framer_.empty()) co_return co_await fail_handshake(alert::kUnexpectedMessage, Errc::tls_failed);

  ApplicationSecrets application = derive_application_secrets(*suite_, secrets.master, transcript_hash());
  exporter_master_ = application.exporter_master;

  // Our flight: ChangeCipherSpec (compatibility mode, once) and Finished under the handshake keys.
  Bytes flight;
  if (!sent_change_cipher_spec) flight.assign(std::begin(kChangeCipherSpecRecord), std::end(kChangeCipherSpecRecord));
  Bytes finished = encode_handshake_message(msg::kFinished,
                                            finished_mac(*suite_, secrets.client_handshake_traffic, transcript_hash()));
  RecordProtection client_handshake(*suite_, secrets.client_handshake_traffic, true);
  client_handshake.seal(kHandshake, finished, flight);
  if (auto ec = co_await write_raw(flight)) co_return ec;

  read_protection_ = std::make_unique<RecordProtection>(*suite_, application.server_application_traffic, false);
  write_protection_ = std::make_unique<RecordProtection>(*suite_, application.client_application_traffic, true);
  OPENSSL_cleanse(secrets.master.data(), secrets.master.size());
  transcript_.clear();
  transcript_.shrink_to_fit();
  handshake_done_ = true;
  co_return std::error_code{};
}

Result<void> ClientStream::handle_post_handshake(const HandshakeMessage& message) {
  switch (message.type) {
    case msg::kNewSessionTicket:
      return parse_new_session_ticket(message.body());
    case msg::kKeyUpdate: {
      auto requested = parse_key_update(message.body());
      if (!requested) return fail(requested.error());
      if (!framer_.empty()) return fail(Errc::malformed);  // no message may straddle the key change
      read_protection_->update();
      if (*requested && !want_peer_update_) key_update_to_send_ = true;
      want_peer_update_ = false;
      return {};
    }
    default:
      return fail(Errc::malformed);
  }
}

asio::awaitable<IoResult> ClientStream::read_some(asio::mutable_buffer buffer) {
  if (buffer.size() == 0) co_return IoResult{{}, 0};
  while (pending_start_ == pending_.size()) {
    if (peer_closed_) co_return IoResult{asio::error::eof, 0};
    if (!handshake_done_) co_return IoResult{make_error_code(Errc::tls_failed), 0};
    auto record = co_await next_record();
    if (!record) {
      auto error = record.error();
      if (error == asio::error::eof) co_return IoResult{asio::error::eof, 0};  // TCP FIN without close_notify
      if (error == make_error_code(Errc::tls_failed)) {
        Bytes out;
        queue_alert(alert::kBadRecordMac, out);
        co_await write_raw(out);
      } else if (error == make_error_code(Errc::too_large)) {
        Bytes out;
        queue_alert(alert::kRecordOverflow, out);
        co_await write_raw(out);
      }
      co_return IoResult{error.category() == culvert_category() ? make_error_code(Errc::tls_failed) : error, 0};
    }
    if (record->type == kApplicationData) {
      if (record->plaintext.empty()) continue;
      std::size_t n = std::min(buffer.size(), record->plaintext.size());
      std::memcpy(buffer.data(), record->plaintext.data(), n);
      if (n < record->plaintext.size()) {
        pending_.assign(record->plaintext.begin() + static_cast<std::ptrdiff_t>(n), record->plaintext.end());
        pending_start_ = 0;
      }
      co_return IoResult{{}, n};
    }
    if (record->type == kAlert) {
      if (record->plaintext.size() == 2 && record->plaintext[1] == alert::kCloseNotify) {
        peer_closed_ = true;
        continue;
      }
      co_return IoResult{make_error_code(Errc::tls_failed), 0};
    }
    if (record->type == kHandshake) {
      framer_.append(record->plaintext);
      for (;;) {
        auto message = framer_.next();
        if (!message) co_return IoResult{make_error_code(Errc::tls_failed), 0};
        if (!*message) break;
        if (!handle_post_handshake(**message)) co_return IoResult{make_error_code(Errc::tls_failed), 0};
      }
      continue;
    }
    co_return IoResult{make_error_code(Errc::tls_failed), 0};
  }
  std::size_t n = std::min(buffer.size(), pending_.size() - pending_start_);
  std::memcpy(buffer.data(), pending_.data() + pending_start_, n);
  pending_start_ += n;
  if (pending_start_ == pending_.size()) {
    pending_.clear();
    pending_start_ = 0;
  }
  co_return IoResult{{}, n};
}

asio::awaitable<std::error_code> ClientStream::write_all(asio::const_buffer buffer) {
  if (!handshake_done_ || sent_close_notify_) co_return make_error_code(Errc::tls_failed);
  const auto* data = static_cast<const std::uint8_t*>(buffer.data());
  std::size_t left = buffer.size();
  // Up to 64 KiB of records per socket write: few syscalls, bounded memory.
  constexpr std::size_t kBatch = 4 * kMaxPlaintext;
  while (left > 0 || key_update_to_send_) {
    write_buffer_.clear();
    if (key_update_to_send_) {
      std::uint8_t body[5] = {msg::kKeyUpdate, 0, 0, 1, static_cast<std::uint8_t>(want_peer_update_ ? 1 : 0)};
      write_protection_->seal(kHandshake, body, write_buffer_);
      write_protection_->update();
      key_update_to_send_ = false;
    }
    std::size_t batch = std::min(left, kBatch);
    for (std::size_t done = 0; done < batch;) {
      std::size_t n = std::min(kMaxPlaintext, batch - done);
      write_protection_->seal(kApplicationData, ByteSpan(data + done, n), write_buffer_);
      done += n;
    }
    if (auto ec = co_await write_raw(write_buffer_)) co_return ec;
    data += batch;
    left -= batch;
  }
  co_return std::error_code{};
}

asio::awaitable<void> ClientStream::shutdown_send() {
  if (sent_close_notify_ || !socket_.is_open()) co_return;
  sent_close_notify_ = true;
  if (write_protection_) {
    Bytes out;
    queue_alert(alert::kCloseNotify, out);
    co_await write_raw(out);
  }
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void ClientStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

Result<std::array<std::uint8_t, 32>> ClientStream::export_key(std::string_view label) const {
  if (!handshake_done_) return fail(Errc::tls_failed);
  Bytes key = export_keying_material(*suite_, exporter_master_, label, {}, 32);
  std::array<std::uint8_t, 32> out;
  std::copy(key.begin(), key.end(), out.begin());
  return out;
}

}  // namespace culvert::tls13
