// Stateful fuzz of a server-side mux session: arbitrary bytes from an (authenticated) peer.
// The session must end or go on cleanly; nothing may crash or leak, whatever the frames say.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "fakes/memory_pipe.h"
#include "mux/session.h"

namespace {

asio::awaitable<void> send_then_end(culvert::ByteStream& peer, culvert::Bytes bytes) {
  co_await peer.write_all(asio::buffer(bytes));
  co_await peer.shutdown_send();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace culvert;
  asio::io_context io;
  auto [peer, ours] = fakes::make_pipe(io.get_executor());
  mux::SessionOptions options;
  options.is_client = false;
  options.max_streams = 8;
  options.random_below = [](std::uint32_t) { return 0u; };
  auto session = mux::Session::create(io.get_executor(), std::move(ours), options);
  std::vector<std::unique_ptr<mux::Stream>> streams;
  session->set_accept_handler([&](std::unique_ptr<mux::Stream> s, Destination) {
    // Half of the streams echo a few bytes back, half are reset, to exercise both paths.
    if (streams.size() % 2) s->reset(mux::ResetReason::dial_failed);
    streams.push_back(std::move(s));
  });
  session->feed_input({data, size / 2});
  asio::co_spawn(io, session->run(), asio::detached);
  Bytes rest(data + size / 2, data + size);
  asio::co_spawn(io, send_then_end(*peer, std::move(rest)), asio::detached);
  // Run every handler that is ready (never the keepalive timer), so each input is deterministic.
  for (int i = 0; i < 100000 && io.poll() > 0; ++i) io.restart();
  for (auto& s : streams) s->close();
  session->close(make_error_code(Errc::tunnel_closed));
  streams.clear();
  for (int i = 0; i < 100000 && io.poll() > 0; ++i) io.restart();
  return 0;
}
