#include "quic/server_tls.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "crypto/crypto.h"
#include "tls13/client_hello.h"
#include "tls13/key_share.h"
#include "tls13/record_channel.h"

namespace culvert::quic {
namespace {

// The server is the cover's nginx with Debian's OpenSSL 3.0, over QUIC as over TCP: its groups
// (no ML-KEM in 3.0), taken in the client's key-share order; its TLS 1.3 suites in its own order,
// because Debian's nginx.conf says ssl_prefer_server_ciphers on (the TCP cover does the same).
constexpr std::uint16_t kGroups[] = {tls13::group::kX25519, tls13::group::kSecp256r1, tls13::group::kSecp384r1};
constexpr std::uint16_t kSuites[] = {0x1302, 0x1303, 0x1301};
// After the handshake OpenSSL 3.0 sends two NewSessionTickets (its default), lifetime = nginx's
// ssl_session_timeout (5 minutes), nonces 0 and 1 as 8 bytes, and a stateless ticket (key name,
// IV, the sealed session, HMAC): 208 bytes for a session without a server name, plus the name.
// Culvert resumes nobody, so the ticket is random bytes of that length.
constexpr int kTickets = 2;
constexpr std::uint32_t kTicketLifetime = 300;
constexpr std::size_t kTicketSize = 208;

Bytes new_session_ticket(std::uint8_t counter, std::size_t server_name_length) {
  Bytes body;
  Writer w(body);
  w.u32(kTicketLifetime);
  w.bytes(crypto::random_bytes(4));  // ticket_age_add
  w.u8(8);
  for (int i = 0; i < 7; ++i) w.u8(0);
  w.u8(counter);
  std::size_t size = kTicketSize + (server_name_length ? server_name_length + 4 : 0);
  w.u16(static_cast<std::uint16_t>(size));
  w.bytes(crypto::random_bytes(size));
  w.u16(0);  // no extensions (no early data: nginx's ssl_early_data is off)
  return tls13::encode_handshake_message(tls13::msg::kNewSessionTicket, body);
}
// OpenSSL's ServerHello extension order (its extension table: supported_versions before key_share).
constexpr std::uint16_t kServerHelloExtensions[] = {tls13::ext::kSupportedVersions, tls13::ext::kKeyShare};

void cleanse(Bytes& secret) { OPENSSL_cleanse(secret.data(), secret.size()); }

// The (EC)DHE exchange from the server's side: our share and the shared secret.
struct Exchange {
  Bytes server_share;
  Bytes shared;
};
Result<Exchange> key_exchange(std::uint16_t group, ByteSpan client_share) {
  if (group == tls13::group::kX25519MlKem768) {
    auto enc = tls13::encapsulate_x25519_mlkem768(client_share);
    if (!enc) return fail(enc.error());
    return Exchange{std::move(enc->server_share), std::move(enc->shared_secret)};
  }
  auto mine = tls13::KeyShare::generate(group);
  if (!mine) return fail(mine.error());
  auto agreed = mine->agree(client_share);
  if (!agreed) return fail(agreed.error());
  return Exchange{mine->public_bytes(), std::move(*agreed)};
}

// A ServerHello (or, with the special random and no share, a HelloRetryRequest) in OpenSSL's
// extension order, echoing the empty legacy session id of a QUIC hello.
Bytes server_hello_message(ByteSpan random, std::uint16_t suite, std::uint16_t group, ByteSpan share,
                           bool retry_request) {
  Bytes body;
  Writer w(body);
  w.u16(0x0303);
  w.bytes(random);
  w.u8(0);
  w.u16(suite);
  w.u8(0);
  std::size_t extensions = w.open_prefix(2);
  for (std::uint16_t type : kServerHelloExtensions) {
    w.u16(type);
    std::size_t ext_body = w.open_prefix(2);
    if (type == tls13::ext::kSupportedVersions) {
      w.u16(0x0304);
    } else {
      w.u16(group);
      if (!retry_request) {
        w.u16(static_cast<std::uint16_t>(share.size()));
        w.bytes(share);
      }
    }
    w.close_prefix(ext_body, 2);
  }
  w.close_prefix(extensions, 2);
  return tls13::encode_handshake_message(tls13::msg::kServerHello, body);
}

Bytes encrypted_extensions(const std::string& alpn, ByteSpan transport_parameters) {
  Bytes body;
  Writer w(body);
  std::size_t list = w.open_prefix(2);
  tls13::write_selected_alpn(w, alpn);
  w.u16(tls13::ext::kQuicTransportParameters);
  std::size_t parameters = w.open_prefix(2);
  w.bytes(transport_parameters);
  w.close_prefix(parameters, 2);
  w.close_prefix(list, 2);
  return tls13::encode_handshake_message(tls13::msg::kEncryptedExtensions, body);
}

}  // namespace

ServerTls::ServerTls(ServerTlsConfig config) : config_(std::move(config)) {}

ServerTls::~ServerTls() {
  cleanse(expected_client_finished_);
  cleanse(exporter_master_);
}

Result<void> ServerTls::refuse(std::uint8_t alert) {
  alert_ = alert;
  state_ = State::done;
  return fail(Errc::tls_failed);
}

Result<void> ServerTls::receive(Level level, ByteSpan data, TlsEvents& out) {
  if (alert_ != 0) return fail(Errc::tls_failed);  // refused already: the connection is closing
  auto& framer = framers_[static_cast<int>(level)];
  framer.append(data);
  for (;;) {
    auto message = framer.next();
    if (!message) return refuse(tls13::alert::kDecodeError);
    if (!*message) return {};
    const tls13::HandshakeMessage& m = **message;
    // The ClientHello at Initial, the client's Finished at Handshake, nothing after (QUIC has no
    // KeyUpdate message and Culvert asks for no client certificate).
    bool hello_expected = state_ == State::client_hello || state_ == State::second_client_hello;
    if (hello_expected && level == Level::initial && m.type == tls13::msg::kClientHello) {
      if (auto handled = on_client_hello(m, out); !handled) return handled;
    } else if (state_ == State::finished && level == Level::handshake && m.type == tls13::msg::kFinished) {
      if (auto handled = on_finished(m, out); !handled) return handled;
    } else {
      return refuse(tls13::alert::kUnexpectedMessage);
    }
  }
}

Result<void> ServerTls::on_client_hello(const tls13::HandshakeMessage& message, TlsEvents& out) {
  if (!config_.identity || !config_.identity->key || config_.identity->chain.empty())
    return refuse(tls13::alert::kInternalError);
  auto info = tls13::parse_client_hello(message.body());
  if (!info) return refuse(tls13::alert::kDecodeError);
  if (!info->offers_tls13) return refuse(tls13::alert::kProtocolVersion);
  if (!info->quic_transport_parameters) return refuse(tls13::alert::kMissingExtension);
  // RFC 9001 §8.4: a QUIC ClientHello carries no legacy session id.
  if (!info->session_id.empty()) return refuse(tls13::alert::kIllegalParameter);
  auto protocol = std::find_if(config_.alpn.begin(), config_.alpn.end(), [&](const std::string& p) {
    return std::find(info->alpn.begin(), info->alpn.end(), p) != info->alpn.end();
  });
  if (protocol == config_.alpn.end()) return refuse(tls13::alert::kNoApplicationProtocol);
  for (std::uint16_t id : kSuites) {
    if (std::find(info->cipher_suites.begin(), info->cipher_suites.end(), id) != info->cipher_suites.end()) {
      suite_ = tls13::find_cipher_suite(id);
      break;
    }
  }
  if (!suite_) return refuse(tls13::alert::kHandshakeFailure);
  const bool second = state_ == State::second_client_hello;
  auto share = std::find_if(info->key_shares.begin(), info->key_shares.end(), [&](const auto& s) {
    if (second) return s.first == group_;  // the group the retry asked for, and no other
    return std::find(std::begin(kGroups), std::end(kGroups), s.first) != std::end(kGroups);
  });
  if (share == info->key_shares.end()) {
    if (second) return refuse(tls13::alert::kIllegalParameter);
    // No share it can use: ask for one (RFC 8446 §4.1.4), the first of its groups, in its own
    // order as OpenSSL under server preference does, that the client supports.
    auto wanted = std::find_if(std::begin(kGroups), std::end(kGroups), [&](std::uint16_t g) {
      return std::find(info->supported_groups.begin(), info->supported_groups.end(), g) != info->supported_groups.end();
    });
    if (wanted == std::end(kGroups)) return refuse(tls13::alert::kHandshakeFailure);
    group_ = *wanted;
    Bytes retry = server_hello_message(tls13::kHelloRetryRequestRandom, suite_->id, group_, {}, true);
    // The transcript goes on from message_hash(Hash(ClientHello1)) || HelloRetryRequest.
    transcript_prefix_ = tls13::encode_handshake_message(tls13::msg::kMessageHash, tls13::hash(*suite_, message.raw));
    transcript_prefix_.insert(transcript_prefix_.end(), retry.begin(), retry.end());
    out.send.emplace_back(Level::initial, std::move(retry));
    retry_suite_ = suite_->id;
    suite_ = nullptr;
    state_ = State::second_client_hello;
    return {};
  }
  if (second && suite_->id != retry_suite_) return refuse(tls13::alert::kIllegalParameter);
  auto agreed = key_exchange(share->first, share->second);
  if (!agreed) return refuse(tls13::alert::kIllegalParameter);
  group_ = share->first;
  alpn_ = *protocol;
  server_name_ = info->server_name;
  peer_transport_parameters_ = std::move(*info->quic_transport_parameters);
  if (config_.extra_secret) {
    Bytes extra = config_.extra_secret(message.raw, *info);
    extra_secret_used_ = !extra.empty();
    agreed->shared.insert(agreed->shared.end(), extra.begin(), extra.end());
    cleanse(extra);
  }

  Bytes server_hello = server_hello_message(crypto::random_bytes(32), suite_->id, group_, agreed->server_share, false);

  Bytes transcript = std::move(transcript_prefix_);
  transcript.insert(transcript.end(), message.raw.begin(), message.raw.end());
  transcript.insert(transcript.end(), server_hello.begin(), server_hello.end());
  auto secrets = tls13::derive_handshake_secrets(*suite_, agreed->shared, tls13::hash(*suite_, transcript));
  cleanse(agreed->shared);

  Bytes flight;
  auto add = [&](const Bytes& m) {
    transcript.insert(transcript.end(), m.begin(), m.end());
    flight.insert(flight.end(), m.begin(), m.end());
  };
  add(encrypted_extensions(alpn_, config_.transport_parameters));
  add(tls13::encode_handshake_message(tls13::msg::kCertificate, tls13::encode_certificate(config_.identity->chain)));
  auto verify = tls13::sign_certificate_verify(config_.identity->key.get(), tls13::hash(*suite_, transcript));
  if (!verify) return refuse(tls13::alert::kInternalError);
  add(tls13::encode_handshake_message(tls13::msg::kCertificateVerify, *verify));
  add(tls13::encode_handshake_message(
      tls13::msg::kFinished,
      tls13::finished_mac(*suite_, secrets.server_handshake_traffic, tls13::hash(*suite_, transcript))));

  auto application = tls13::derive_application_secrets(*suite_, secrets.master, tls13::hash(*suite_, transcript));
  expected_client_finished_ =
      tls13::finished_mac(*suite_, secrets.client_handshake_traffic, tls13::hash(*suite_, transcript));
  exporter_master_ = std::move(application.exporter_master);

  out.handshake_keys = LevelSecrets{suite_, secrets.client_handshake_traffic, secrets.server_handshake_traffic};
  // The server may send at 1-RTT right after its Finished (RFC 9001 §4.1.4); what it receives
  // there waits for the handshake to be confirmed by the QUIC stack.
  out.application_keys =
      LevelSecrets{suite_, application.client_application_traffic, application.server_application_traffic};
  out.send.emplace_back(Level::initial, std::move(server_hello));
  out.send.emplace_back(Level::handshake, std::move(flight));
  cleanse(secrets.client_handshake_traffic);
  cleanse(secrets.server_handshake_traffic);
  cleanse(secrets.master);
  cleanse(application.client_application_traffic);
  cleanse(application.server_application_traffic);
  // No message may follow the ClientHello at the Initial level.
  if (!framers_[static_cast<int>(Level::initial)].empty()) return refuse(tls13::alert::kUnexpectedMessage);
  state_ = State::finished;
  return {};
}

Result<void> ServerTls::on_finished(const tls13::HandshakeMessage& message, TlsEvents& out) {
  if (!crypto::equal_constant_time(expected_client_finished_, message.body()))
    return refuse(tls13::alert::kDecryptError);
  if (!framers_[static_cast<int>(Level::handshake)].empty()) return refuse(tls13::alert::kUnexpectedMessage);
  cleanse(expected_client_finished_);
  Bytes tickets;
  for (int i = 0; i < kTickets; ++i) {
    Bytes ticket = new_session_ticket(static_cast<std::uint8_t>(i), server_name_.size());
    tickets.insert(tickets.end(), ticket.begin(), ticket.end());
  }
  out.send.emplace_back(Level::application, std::move(tickets));
  out.complete = true;
  state_ = State::done;
  return {};
}

Result<std::array<std::uint8_t, 32>> ServerTls::export_key(std::string_view label) const {
  if (state_ != State::done || alert_ != 0 || exporter_master_.empty()) return fail(Errc::tls_failed);
  return tls13::export_32(suite_, exporter_master_, label);
}

}  // namespace culvert::quic
