// The data path's per-byte work in isolation: TLS 1.3 record seal/open per suite and size, mux
// frame encode/decode per size, and the chunk queue a mux stream buffers received bytes in.
// Throughput is reported as bytes/second of payload.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/chunk_queue.h"
#include "mux/frame.h"
#include "tls13/key_schedule.h"
#include "tls13/record.h"

namespace culvert {
namespace {

void seal_args(benchmark::internal::Benchmark* b) {
  for (int suite : {0x1301, 0x1302, 0x1303})
    for (int size : {64, 1024, 16384}) b->Args({suite, size});
}

void BM_RecordSeal(benchmark::State& state) {
  const auto& suite = *tls13::find_cipher_suite(static_cast<std::uint16_t>(state.range(0)));
  Bytes secret(suite.hash_length, 7);
  tls13::RecordProtection seal(suite, secret, true);
  Bytes plaintext(static_cast<std::size_t>(state.range(1)), 0x5a);
  std::vector<std::uint8_t> out(tls13::RecordProtection::sealed_size(plaintext.size()));
  for (auto _ : state) {
    seal.seal_into(tls13::kApplicationData, plaintext, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_RecordSeal)->Apply(seal_args);

void BM_RecordOpen(benchmark::State& state) {
  const auto& suite = *tls13::find_cipher_suite(static_cast<std::uint16_t>(state.range(0)));
  Bytes secret(suite.hash_length, 7);
  tls13::RecordProtection seal(suite, secret, true);
  Bytes plaintext(static_cast<std::size_t>(state.range(1)), 0x5a);
  // Seal as many records as the run opens: each has its own sequence number.
  std::vector<Bytes> records;
  for (int i = 0; i < 4096; ++i) {
    Bytes r;
    seal.seal(tls13::kApplicationData, plaintext, r);
    records.push_back(std::move(r));
  }
  std::unique_ptr<tls13::RecordProtection> open;
  std::size_t next = records.size();
  Bytes work;
  for (auto _ : state) {
    if (next == records.size()) {
      state.PauseTiming();
      open = std::make_unique<tls13::RecordProtection>(suite, secret, false);
      next = 0;
      state.ResumeTiming();
    }
    work = records[next++];
    std::size_t length = 0;
    auto type = open->open(ByteSpan(work).first(tls13::kRecordHeaderSize),
                           std::span<std::uint8_t>(work).subspan(tls13::kRecordHeaderSize), &length);
    if (!type) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(length);
  }
  state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_RecordOpen)->Apply(seal_args);

void BM_FrameEncodeDecode(benchmark::State& state) {
  Bytes payload(static_cast<std::size_t>(state.range(0)), 0x42);
  Bytes wire;
  for (auto _ : state) {
    wire.clear();
    mux::encode_frame(mux::FrameType::data, 0, 7, payload, wire);
    std::size_t consumed = 0;
    auto frame = mux::decode_frame(wire, consumed);
    benchmark::DoNotOptimize(frame);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FrameEncodeDecode)->Arg(64)->Arg(1024)->Arg(16384);

void BM_ChunkQueueAppendWriteOut(benchmark::State& state) {
  ChunkQueue queue;
  Bytes frame(16384, 0x11);
  for (auto _ : state) {
    for (int i = 0; i < 8; ++i) queue.append(frame);  // eight DATA frames arrive
    while (!queue.empty()) {                          // the relay writes them out in place
      auto front = queue.front();
      benchmark::DoNotOptimize(front.data());
      queue.consume(front.size());
    }
  }
  state.SetBytesProcessed(state.iterations() * 8 * 16384);
}
BENCHMARK(BM_ChunkQueueAppendWriteOut);

}  // namespace
}  // namespace culvert
