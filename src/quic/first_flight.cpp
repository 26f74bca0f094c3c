#include "quic/first_flight.h"

#include <netinet/in.h>

#include <chrono>

#include "crypto/crypto.h"
#include "quic/ngtcp2_crypto.h"
#include "quic/transport_parameters.h"
#include "tls13/client_hello.h"
#include "tls13/key_share.h"

namespace culvert::quic {
namespace {

constexpr std::size_t kDestinationIdLength = 8;  // Chromium's
constexpr int kMaxDatagrams = 8;

struct Flight {
  const FirstFlightOptions* options = nullptr;
  Bytes destination_id;
  bool failed = false;
};

ngtcp2_tstamp now() {
  return static_cast<ngtcp2_tstamp>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

int on_client_initial(ngtcp2_conn* conn, void* user_data) {
  auto* flight = static_cast<Flight*>(user_data);
  if (install_initial_keys(conn, flight->destination_id, kVersion1, true) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  tls13::ClientHelloSpec spec;
  spec.server_name = flight->options->server_name;
  spec.alpn = {"h3"};
  for (std::uint16_t group : {tls13::group::kX25519MlKem768, tls13::group::kX25519}) {
    auto share = tls13::KeyShare::generate(group);
    if (!share) return NGTCP2_ERR_CALLBACK_FAILURE;
    spec.key_shares.push_back({group, share->public_bytes()});
  }
  spec.quic_transport_parameters = encode_chromium_transport_parameters({}, TransportParameterRandomness::draw());
  Bytes hello = tls13::build_client_hello(spec, tls13::HelloRandomness::draw());
  return ngtcp2_conn_submit_crypto_data(conn, NGTCP2_CRYPTO_LEVEL_INITIAL, hello.data(), hello.size());
}

int on_recv_crypto_data(ngtcp2_conn*, ngtcp2_crypto_level, std::uint64_t, const std::uint8_t*, std::size_t, void*) {
  return NGTCP2_ERR_CALLBACK_FAILURE;  // nothing is received here
}

int on_recv_retry(ngtcp2_conn*, const ngtcp2_pkt_hd*, void*) { return NGTCP2_ERR_CALLBACK_FAILURE; }

int on_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void*) {
  Bytes id = crypto::random_bytes(length);
  ngtcp2_cid_init(cid, id.data(), id.size());
  crypto::random_bytes(std::span<std::uint8_t>(token, NGTCP2_STATELESS_RESET_TOKENLEN));
  return 0;
}

// ngtcp2's local limits: the values the ClientHello advertises, so that the peer holds us to
// what we enforce.
ngtcp2_transport_params local_parameters() {
  ChromiumTransportValues chromium;
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_data = chromium.initial_max_data;
  params.initial_max_stream_data_bidi_local = chromium.initial_max_stream_data;
  params.initial_max_stream_data_bidi_remote = chromium.initial_max_stream_data;
  params.initial_max_stream_data_uni = chromium.initial_max_stream_data;
  params.initial_max_streams_bidi = chromium.initial_max_streams_bidi;
  params.initial_max_streams_uni = chromium.initial_max_streams_uni;
  params.max_idle_timeout = chromium.max_idle_timeout_ms * NGTCP2_MILLISECONDS;
  params.max_udp_payload_size = chromium.max_udp_payload_size;
  params.max_datagram_frame_size = chromium.max_datagram_frame_size;
  params.grease_quic_bit = 0;
  return params;
}

}  // namespace

Result<std::vector<Bytes>> client_first_flight(const FirstFlightOptions& options) {
  Flight flight;
  flight.options = &options;
  flight.destination_id = crypto::random_bytes(kDestinationIdLength);
  ngtcp2_cid dcid, scid;
  ngtcp2_cid_init(&dcid, flight.destination_id.data(), flight.destination_id.size());
  ngtcp2_cid_init(&scid, nullptr, 0);  // Chromium's source connection id is empty

  // Documentation addresses (RFC 5737): the path is only a label here, nothing is sent.
  sockaddr_in local{}, remote{};
  local.sin_family = remote.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(0xc0000201);
  remote.sin_addr.s_addr = htonl(0xc0000202);
  remote.sin_port = htons(443);
  ngtcp2_path path{{reinterpret_cast<ngtcp2_sockaddr*>(&local), sizeof local},
                   {reinterpret_cast<ngtcp2_sockaddr*>(&remote), sizeof remote},
                   nullptr};

  ngtcp2_callbacks callbacks{};
  set_crypto_callbacks(callbacks);
  callbacks.client_initial = on_client_initial;
  callbacks.recv_crypto_data = on_recv_crypto_data;
  callbacks.recv_retry = on_recv_retry;
  callbacks.get_new_connection_id = on_new_connection_id;

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now();
  settings.max_tx_udp_payload_size = options.datagram_size;
  settings.no_tx_udp_payload_size_shaping = 1;
  ngtcp2_transport_params params = local_parameters();

  ngtcp2_conn* conn = nullptr;
  if (ngtcp2_conn_client_new(&conn, &dcid, &scid, &path, kVersion1, &callbacks, &settings, &params, nullptr, &flight) !=
      0)
    return fail(Errc::tls_failed);
  std::vector<Bytes> datagrams;
  Bytes buffer(options.datagram_size);
  ngtcp2_tstamp ts = settings.initial_ts;
  for (int i = 0; i < kMaxDatagrams; ++i) {
    ngtcp2_pkt_info info{};
    ngtcp2_ssize n = ngtcp2_conn_write_pkt(conn, nullptr, &info, buffer.data(), buffer.size(), ts);
    if (n < 0) {
      ngtcp2_conn_del(conn);
      return fail(Errc::tls_failed);
    }
    if (n == 0) break;
    datagrams.emplace_back(buffer.begin(), buffer.begin() + n);
  }
  ngtcp2_conn_del(conn);
  if (datagrams.empty()) return fail(Errc::tls_failed);
  return datagrams;
}

}  // namespace culvert::quic
