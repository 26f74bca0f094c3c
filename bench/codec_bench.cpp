// Micro-benchmarks of the per-byte and per-connection work: frame codec, preamble HMAC,
// request parsers. Run: build/bench/culvert_bench
#include <benchmark/benchmark.h>

#include "crypto/mlkem768.h"
#include "inbound/http/codec.h"
#include "inbound/socks5/codec.h"
#include "mux/frame.h"
#include "transport/tls/auth.h"

namespace culvert {

// Frame encode/decode per payload size: BM_FrameEncodeDecode in record_bench.cpp.

static void BM_PreambleMakeAndVerify(benchmark::State& state) {
  UserCredential c;
  c.key_id.fill(1);
  c.secret.fill(2);
  tls::Exporter exporter{};
  for (auto _ : state) {
    auto bytes = tls::make_preamble(c, exporter, 1);
    auto p = tls::parse_preamble(bytes);
    benchmark::DoNotOptimize(tls::verify_preamble(*p, c.secret, exporter));
  }
}
BENCHMARK(BM_PreambleMakeAndVerify);

static void BM_Socks5Request(benchmark::State& state) {
  Bytes in{5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 1, 187};
  for (auto _ : state) benchmark::DoNotOptimize(socks5::parse_request(in));
}
BENCHMARK(BM_Socks5Request);

static void BM_HttpProxyRequest(benchmark::State& state) {
  std::string req =
      "GET http://example.com/index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n";
  for (auto _ : state) benchmark::DoNotOptimize(http::parse_proxy_request(as_bytes(req)));
}
BENCHMARK(BM_HttpProxyRequest);

}  // namespace culvert

// ML-KEM-768 as the TLS client uses it: a key pair per connection, one decapsulation.
static void BM_MlKem768KeyGeneration(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(culvert::crypto::mlkem768::generate_key_pair());
}
BENCHMARK(BM_MlKem768KeyGeneration);

static void BM_MlKem768Decapsulation(benchmark::State& state) {
  auto kp = culvert::crypto::mlkem768::generate_key_pair();
  auto enc = culvert::crypto::mlkem768::encapsulate(kp.encapsulation_key).value();
  for (auto _ : state)
    benchmark::DoNotOptimize(culvert::crypto::mlkem768::decapsulate(kp.decapsulation_key, enc.ciphertext));
}
BENCHMARK(BM_MlKem768Decapsulation);
