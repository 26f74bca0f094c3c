// The data path's building blocks: ByteBuffer, ChunkQueue, record sealing in place, and
// spawn_relay() over real loopback sockets (bytes both ways, half-close, idle limit).
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <numeric>

#include "core/await.h"
#include "core/byte_buffer.h"
#include "core/chunk_queue.h"
#include "core/relay.h"
#include "core/tcp_stream.h"
#include "tls13/key_schedule.h"
#include "tls13/record.h"

namespace culvert {
namespace {

Bytes counting(std::size_t n, std::size_t start = 0) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((start + i) * 7 + ((start + i) >> 8));
  return b;
}

TEST(ByteBuffer, KeepsBytesInOrderThroughGrowthAndCompaction) {
  ByteBuffer buffer;
  Bytes expected;
  std::size_t written = 0;
  for (int round = 0; round < 200; ++round) {
    auto chunk = counting(1000 + round * 37, written);
    auto space = buffer.prepare(chunk.size());
    std::copy(chunk.begin(), chunk.end(), space.begin());
    buffer.commit(chunk.size());
    written += chunk.size();
    expected.insert(expected.end(), chunk.begin(), chunk.end());
    // Consume a part of the front every round, so the data wanders and compaction happens.
    std::size_t take = std::min<std::size_t>(buffer.size(), 900 + round * 11);
    ASSERT_TRUE(std::equal(buffer.data(), buffer.data() + take, expected.begin()));
    buffer.consume(take);
    expected.erase(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(take));
    ASSERT_EQ(buffer.size(), expected.size());
  }
  EXPECT_TRUE(std::equal(buffer.data(), buffer.data() + buffer.size(), expected.begin()));
  // Bounded: capacity stays within a small multiple of what was ever held at once.
  EXPECT_LT(buffer.capacity(), 4 * (expected.size() + 10000));
}

TEST(ByteBuffer, EmptyBufferGivesItsMemoryBack) {
  ByteBuffer buffer;
  buffer.append(counting(5000));
  buffer.shrink_if_empty();
  EXPECT_GE(buffer.capacity(), 5000u);  // not empty: kept
  buffer.consume(5000);
  buffer.shrink_if_empty();
  EXPECT_EQ(buffer.capacity(), 0u);
}

TEST(ChunkQueue, FrontStaysWhereItIsWhileMoreArrives) {
  ChunkQueue queue;
  auto first = counting(PooledBuffer::kSize - 100);
  queue.append(first);
  auto front = queue.front();
  const std::uint8_t* where = front.data();
  // A frame that straddles the chunk boundary, then several more chunks' worth.
  queue.append(counting(3 * PooledBuffer::kSize, first.size()));
  EXPECT_EQ(queue.front().data(), where);
  EXPECT_EQ(queue.front().size(), PooledBuffer::kSize);  // the first chunk, now full
  EXPECT_TRUE(std::equal(first.begin(), first.end(), where));
  EXPECT_EQ(queue.size(), first.size() + 3 * PooledBuffer::kSize);
}

TEST(ChunkQueue, ReadAndConsumeReturnEveryByteInOrder) {
  ChunkQueue queue;
  auto all = counting(200000);
  queue.append(ByteSpan(all).first(70000));
  Bytes got(all.size());
  std::size_t have = queue.read(std::span<std::uint8_t>(got).first(1000));
  queue.append(ByteSpan(all).subspan(70000));
  while (!queue.empty()) {
    if (have % 2 == 0) {
      auto front = queue.front();
      std::size_t n = std::min<std::size_t>(front.size(), 30000);
      std::copy(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(n),
                got.begin() + static_cast<std::ptrdiff_t>(have));
      queue.consume(n);
      have += n;
    } else {
      have += queue.read(std::span<std::uint8_t>(got).subspan(have, std::min<std::size_t>(12345, got.size() - have)));
    }
  }
  EXPECT_EQ(have, all.size());
  EXPECT_EQ(got, all);
  queue.shrink_if_empty();
  EXPECT_TRUE(queue.front().empty());
}

TEST(RecordSealing, SealIntoWritesTheSameRecordAsSeal) {
  for (std::uint16_t id : {0x1301, 0x1302, 0x1303}) {
    const auto& suite = *tls13::find_cipher_suite(id);
    Bytes secret(suite.hash_length, 3);
    tls13::RecordProtection a(suite, secret, true), b(suite, secret, true);
    for (std::size_t size : {0u, 1u, 1000u, 16384u}) {
      auto plaintext = counting(size);
      Bytes by_seal;
      a.seal(tls13::kApplicationData, plaintext, by_seal, 7);
      Bytes by_seal_into(tls13::RecordProtection::sealed_size(size, 7));
      b.seal_into(tls13::kApplicationData, plaintext, by_seal_into.data(), 7);
      EXPECT_EQ(by_seal, by_seal_into) << id << " " << size;
    }
  }
}

// Two loopback connections joined by spawn_relay(): app <-> [relay] <-> origin.
class SpawnRelay : public ::testing::Test {
 protected:
  void SetUp() override {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    for (int i = 0; i < 2; ++i) {
      outer_[i] = std::make_unique<asio::ip::tcp::socket>(io_);
      outer_[i]->connect(acceptor.local_endpoint());
      inner_[i] = std::make_unique<asio::ip::tcp::socket>(acceptor.accept());
    }
  }

  void relay(std::chrono::milliseconds idle) {
    spawn_relay(io_.get_executor(), std::make_unique<TcpStream>(std::move(*inner_[0])),
                std::make_unique<TcpStream>(std::move(*inner_[1])), idle);
  }

  // Runs `body` to completion (or fails after 10 s).
  template <class Body>
  void run(Body body) {
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    io_.run_for(std::chrono::seconds(10));
    ASSERT_TRUE(done);
  }

  asio::io_context io_;
  std::unique_ptr<asio::ip::tcp::socket> outer_[2], inner_[2];
};

TEST_F(SpawnRelay, CopiesBothWaysAndPassesHalfCloseOn) {
  relay(std::chrono::seconds(30));
  auto up = counting(8 << 20), down = counting(8 << 20, 99);
  run([&]() -> asio::awaitable<void> {
    // Written while read: the bytes exceed what socket buffers hold, so the relay must keep pace.
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          auto [ec1, n1] = co_await asio::async_write(*outer_[0], asio::buffer(up), use_tuple);
          EXPECT_FALSE(ec1);
          outer_[0]->shutdown(asio::ip::tcp::socket::shutdown_send);
        },
        asio::detached);
    Bytes got(up.size());
    auto [ec2, n2] = co_await asio::async_read(*outer_[1], asio::buffer(got), use_tuple);
    EXPECT_FALSE(ec2);
    EXPECT_EQ(got, up);
    std::uint8_t extra;
    auto [ec3, n3] = co_await outer_[1]->async_read_some(asio::buffer(&extra, 1), use_tuple);
    EXPECT_EQ(ec3, asio::error::eof);  // the half-close arrived
    // The other direction still works after it.
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          auto [ec4, n4] = co_await asio::async_write(*outer_[1], asio::buffer(down), use_tuple);
          EXPECT_FALSE(ec4);
          outer_[1]->shutdown(asio::ip::tcp::socket::shutdown_send);
        },
        asio::detached);
    Bytes back(down.size());
    auto [ec5, n5] = co_await asio::async_read(*outer_[0], asio::buffer(back), use_tuple);
    EXPECT_FALSE(ec5);
    EXPECT_EQ(back, down);
    auto [ec6, n6] = co_await outer_[0]->async_read_some(asio::buffer(&extra, 1), use_tuple);
    EXPECT_EQ(ec6, asio::error::eof);
  });
}

TEST_F(SpawnRelay, IdleLimitClosesBothSides) {
  relay(std::chrono::milliseconds(200));
  run([&]() -> asio::awaitable<void> {
    auto started = std::chrono::steady_clock::now();
    std::uint8_t byte;
    auto [ec0, n0] = co_await outer_[0]->async_read_some(asio::buffer(&byte, 1), use_tuple);
    auto [ec1, n1] = co_await outer_[1]->async_read_some(asio::buffer(&byte, 1), use_tuple);
    EXPECT_TRUE(ec0);
    EXPECT_TRUE(ec1);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(190));
  });
}

}  // namespace
}  // namespace culvert
