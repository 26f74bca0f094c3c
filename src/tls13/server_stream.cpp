#include "tls13/server_stream.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "crypto/crypto.h"
#include "tls13/certificate_check.h"
#include "tls13/client_hello.h"

namespace culvert::tls13 {

Result<FlightShape> parse_flight_shape(ByteSpan bytes) {
  FlightShape shape;
  Reader r(bytes);
  auto type = r.u8();
  auto version = r.u16();
  auto body = r.prefixed(2);
  if (!type || !version || !body || *type != kHandshake) return fail(Errc::malformed);
  shape.record_version = *version;
  Reader m(*body);
  auto msg_type = m.u8();
  auto msg_body = m.prefixed(3);
  if (!msg_type || !msg_body || *msg_type != msg::kServerHello) return fail(Errc::malformed);
  auto hello = parse_server_hello(*msg_body);
  if (!hello) return fail(hello.error());
  if (hello->hello_retry_request) return fail(Errc::unsupported);
  shape.hello = std::move(*hello);
  while (r.remaining() >= kRecordHeaderSize) {
    auto t = r.u8();
    r.u16();
    auto fragment = r.prefixed(2);
    if (!fragment) break;  // a partial record at the end: not counted
    if (*t == kChangeCipherSpec && shape.encrypted_records.empty()) {
      shape.change_cipher_spec = true;
    } else if (*t == kApplicationData) {
      shape.encrypted_records.push_back(kRecordHeaderSize + fragment->size());
    } else {
      break;
    }
  }
  return shape;
}

Bytes seal_into_shape(RecordProtection& seal, ByteSpan handshake, const std::vector<std::size_t>& lengths) {
  constexpr std::size_t kOverhead = kRecordHeaderSize + 1 + kTagSize;
  Bytes out;
  std::size_t at = 0;
  for (std::size_t i = 0; i < lengths.size() && at < handshake.size(); ++i) {
    if (lengths[i] <= kOverhead) continue;
    std::size_t capacity = std::min(lengths[i] - kOverhead, kMaxPlaintext);
    std::size_t records_after = lengths.size() - i - 1;
    std::size_t left = handshake.size() - at;
    // Leave at least one byte for each later record, so none is empty (RFC 8446 §5.1).
    std::size_t take = std::min(capacity, left > records_after ? left - records_after : 1);
    seal.seal(kHandshake, handshake.subspan(at, take), out, capacity - take);
    at += take;
  }
  while (at < handshake.size()) {
    std::size_t take = std::min(kMaxPlaintext, handshake.size() - at);
    seal.seal(kHandshake, handshake.subspan(at, take), out);
    at += take;
  }
  return out;
}

ServerStream::ServerStream(asio::ip::tcp::socket socket) : channel_(std::move(socket), false) {}

ServerStream::~ServerStream() { OPENSSL_cleanse(exporter_master_.data(), exporter_master_.size()); }

asio::awaitable<std::error_code> ServerStream::handshake(ByteSpan client_hello, ByteSpan rest, const FlightShape& shape,
                                                         const ServerCredentials& identity, ByteSpan extra_secret) {
  channel_.preload(rest);
  auto info = parse_client_hello(client_hello.subspan(4));
  if (!info || !info->offers_tls13) co_return co_await channel_.fail(alert::kProtocolVersion, Errc::tls_failed);
  suite_ = find_cipher_suite(shape.hello.cipher_suite);
  std::uint16_t group = shape.hello.key_share_group;
  auto offered =
      std::find_if(info->key_shares.begin(), info->key_shares.end(), [&](const auto& s) { return s.first == group; });
  if (!suite_ || offered == info->key_shares.end() ||
      std::find(info->cipher_suites.begin(), info->cipher_suites.end(), suite_->id) == info->cipher_suites.end())
    co_return co_await channel_.fail(alert::kHandshakeFailure, Errc::tls_failed);

  Bytes server_share, shared;
  if (group == group::kX25519MlKem768) {
    auto enc = encapsulate_x25519_mlkem768(offered->second);
    if (!enc) co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
    server_share = std::move(enc->server_share);
    shared = std::move(enc->shared_secret);
  } else {
    auto mine = KeyShare::generate(group);
    if (!mine) co_return co_await channel_.fail(alert::kHandshakeFailure, Errc::tls_failed);
    auto agreed = mine->agree(offered->second);
    if (!agreed) co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
    server_share = mine->public_bytes();
    shared = std::move(*agreed);
  }
  shared.insert(shared.end(), extra_secret.begin(), extra_secret.end());

  // ServerHello with the target's extension order.
  Bytes body;
  Writer w(body);
  w.u16(0x0303);
  w.bytes(crypto::random_bytes(32));
  w.u8(static_cast<std::uint8_t>(info->session_id.size()));
  w.bytes(info->session_id);
  w.u16(suite_->id);
  w.u8(0);
  std::size_t extensions = w.open_prefix(2);
  for (std::uint16_t type : shape.hello.extensions) {
    w.u16(type);
    std::size_t ext_body = w.open_prefix(2);
    if (type == ext::kSupportedVersions) {
      w.u16(0x0304);
    } else if (type == ext::kKeyShare) {
      w.u16(group);
      w.u16(static_cast<std::uint16_t>(server_share.size()));
      w.bytes(server_share);
    }
    w.close_prefix(ext_body, 2);
  }
  w.close_prefix(extensions, 2);
  Bytes server_hello = encode_handshake_message(msg::kServerHello, body);
  Bytes transcript(client_hello.begin(), client_hello.end());
  transcript.insert(transcript.end(), server_hello.begin(), server_hello.end());
  HandshakeSecrets secrets = derive_handshake_secrets(*suite_, shared, hash(*suite_, transcript));
  OPENSSL_cleanse(shared.data(), shared.size());

  Bytes flight;
  Writer f(flight);
  f.u8(kHandshake);
  f.u16(shape.record_version);
  f.u16(static_cast<std::uint16_t>(server_hello.size()));
  f.bytes(server_hello);
  if (shape.change_cipher_spec) f.bytes(kChangeCipherSpecRecord);

  // EncryptedExtensions (ALPN h2 or http/1.1 as offered), Certificate, CertificateVerify, Finished.
  Bytes encrypted;
  auto add = [&](const Bytes& message) {
    transcript.insert(transcript.end(), message.begin(), message.end());
    encrypted.insert(encrypted.end(), message.begin(), message.end());
  };
  Bytes ee;
  Writer e(ee);
  std::size_t ee_list = e.open_prefix(2);
  for (const char* protocol : {"h2", "http/1.1"}) {
    if (std::find(info->alpn.begin(), info->alpn.end(), protocol) == info->alpn.end()) continue;
    write_selected_alpn(e, protocol);
    break;
  }
  e.close_prefix(ee_list, 2);
  add(encode_handshake_message(msg::kEncryptedExtensions, ee));
  add(encode_handshake_message(msg::kCertificate, encode_certificate(identity.chain)));

  // The identity's key is P-256 (load_server_credentials checks it).
  auto verify = sign_certificate_verify(identity.key.get(), hash(*suite_, transcript));
  if (!verify) co_return co_await channel_.fail(alert::kInternalError, Errc::tls_failed);
  add(encode_handshake_message(msg::kCertificateVerify, *verify));
  add(encode_handshake_message(msg::kFinished,
                               finished_mac(*suite_, secrets.server_handshake_traffic, hash(*suite_, transcript))));

  // Sealed with the channel's own protection, so that an alert after the flight continues its
  // sequence numbers instead of reusing them.
  channel_.set_keys(*suite_, secrets.client_handshake_traffic, secrets.server_handshake_traffic);
  Bytes sealed = seal_into_shape(*channel_.write_protection(), encrypted, shape.encrypted_records);
  flight.insert(flight.end(), sealed.begin(), sealed.end());
  if (auto ec = co_await channel_.write_raw(flight)) co_return ec;

  ApplicationSecrets application = derive_application_secrets(*suite_, secrets.master, hash(*suite_, transcript));
  exporter_master_ = application.exporter_master;
  Bytes expected = finished_mac(*suite_, secrets.client_handshake_traffic, hash(*suite_, transcript));

  // The client's Finished under its handshake keys (its ChangeCipherSpec is skipped by the channel).
  auto finished = co_await channel_.next_handshake_message();
  if (!finished || finished->type != msg::kFinished)
    co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  if (!crypto::equal_constant_time(expected, finished->body()))
    co_return co_await channel_.fail(alert::kDecryptError, Errc::tls_failed);
  if (!channel_.handshake_buffer_empty()) co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  channel_.set_keys(*suite_, application.client_application_traffic, application.server_application_traffic);
  OPENSSL_cleanse(secrets.master.data(), secrets.master.size());
  channel_.handshake_finished();
  // Session tickets in the target's record sizes, sent when the target sends them. Culvert never
  // resumes, so the tickets are random bytes the client checks for shape and drops.
  Bytes tickets;
  for (std::size_t length : shape.ticket_records) {
    constexpr std::size_t kTicketOverhead = kRecordHeaderSize + 1 + kTagSize + 4 + 4 + 4 + 1 + 8 + 2 + 2;
    if (length < kTicketOverhead + 16 || length - kRecordHeaderSize - kTagSize - 1 > kMaxPlaintext) continue;
    Bytes body;
    Writer t(body);
    t.u32(7 * 24 * 3600);              // lifetime
    t.bytes(crypto::random_bytes(4));  // ticket_age_add
    t.u8(8);
    t.bytes(crypto::random_bytes(8));  // nonce
    t.u16(16);
    t.bytes(crypto::random_bytes(16));  // ticket
    t.u16(0);
    Bytes message = encode_handshake_message(msg::kNewSessionTicket, body);
    channel_.write_protection()->seal(kHandshake, message, tickets,
                                      length - kRecordHeaderSize - kTagSize - 1 - message.size());
  }
  if (!tickets.empty()) {
    if (auto ec = co_await channel_.write_raw(tickets)) co_return ec;
  }
  co_return std::error_code{};
}

Result<std::array<std::uint8_t, 32>> ServerStream::export_key(std::string_view label) const {
  return export_32(suite_, exporter_master_, label);
}

}  // namespace culvert::tls13
