#include "tls13/record_channel.h"

#include <algorithm>
#include <asio/error.hpp>
#include <asio/write.hpp>
#include <cstring>
#include <utility>

#include "core/await.h"

namespace culvert::tls13 {
namespace {

// Socket reads of up to 16 records: few syscalls for bulk data.
constexpr std::size_t kReadChunk = 256 * 1024;

}  // namespace

RecordChannel::RecordChannel(asio::ip::tcp::socket socket, bool is_client)
    : socket_(std::move(socket)), is_client_(is_client) {}

void RecordChannel::preload(ByteSpan bytes) { input_.append(bytes); }

asio::awaitable<std::error_code> RecordChannel::write_raw(ByteSpan bytes) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
  co_return ec;
}

void RecordChannel::append_alert(std::uint8_t description, Bytes& out) {
  std::uint8_t body[2] = {static_cast<std::uint8_t>(description == alert::kCloseNotify ? 1 : 2), description};
  if (write_) {
    write_->seal(kAlert, body, out);
  } else {
    Writer w(out);
    w.u8(kAlert);
    w.u16(0x0303);
    w.u16(2);
    w.bytes(body);
  }
}

asio::awaitable<std::error_code> RecordChannel::fail(std::uint8_t description, Errc error) {
  if (socket_.is_open()) {
    Bytes out;
    append_alert(description, out);
    co_await write_raw(out);
  }
  close();
  co_return make_error_code(error);
}

std::optional<Result<RecordChannel::Record>> RecordChannel::buffered_record() {
  for (;;) {
    std::size_t available = input_.size();
    if (available < kRecordHeaderSize) return std::nullopt;
    std::uint8_t* header = input_.data();
    std::size_t length = (header[3] << 8) | header[4];
    std::uint8_t type = header[0];
    if (type < kChangeCipherSpec || type > kApplicationData || header[1] != 0x03) return culvert::fail(Errc::malformed);
    if (length > kMaxCiphertext || (!read_ && length > kMaxPlaintext)) return culvert::fail(Errc::too_large);
    if (length == 0) return culvert::fail(Errc::malformed);
    if (available < kRecordHeaderSize + length) return std::nullopt;
    std::span<std::uint8_t> body(header + kRecordHeaderSize, length);
    // The record stays in place until the next read needs room (after the caller used it).
    input_.consume(kRecordHeaderSize + length);
    if (type == kChangeCipherSpec) {
      // Middlebox compatibility: one byte 0x01, only during the handshake (RFC 8446 §5).
      if (handshake_done_ || length != 1 || body[0] != 1) return culvert::fail(Errc::malformed);
      continue;
    }
    if (!read_) return Record{type, ByteSpan(body), kRecordHeaderSize + length};  // before handshake keys
    if (type != kApplicationData) return culvert::fail(Errc::malformed);
    std::size_t plain = 0;
    auto inner = read_->open(ByteSpan(header, kRecordHeaderSize), body, &plain);
    if (!inner) return culvert::fail(inner.error());
    return Record{*inner, ByteSpan(body.data(), plain), kRecordHeaderSize + length};
  }
}

asio::awaitable<Result<RecordChannel::Record>> RecordChannel::next_record() {
  for (;;) {
    if (auto record = buffered_record()) co_return std::move(*record);
    auto space = input_.prepare(kReadChunk);
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
    input_.commit(n);
    if (ec) co_return culvert::fail(ec);
  }
}

asio::awaitable<Result<HandshakeMessage>> RecordChannel::next_handshake_message() {
  for (;;) {
    auto message = framer_.next();
    if (!message) co_return culvert::fail(message.error());
    if (*message) co_return std::move(**message);
    auto record = co_await next_record();
    if (!record) co_return culvert::fail(record.error());
    if (record->type == kAlert) co_return culvert::fail(Errc::tls_failed);
    if (record->type != kHandshake) co_return culvert::fail(Errc::malformed);
    framer_.append(record->plaintext);
  }
}

Result<void> RecordChannel::handle_post_handshake(const HandshakeMessage& message) {
  switch (message.type) {
    case msg::kNewSessionTicket:
      if (!is_client_) return culvert::fail(Errc::malformed);
      return parse_new_session_ticket(message.body());  // checked, then dropped: we never resume
    case msg::kKeyUpdate: {
      auto requested = parse_key_update(message.body());
      if (!requested) return culvert::fail(requested.error());
      if (!framer_.empty()) return culvert::fail(Errc::malformed);  // nothing may straddle the key change
      read_->update();
      if (*requested && !want_peer_update_) key_update_to_send_ = true;
      want_peer_update_ = false;
      return {};
    }
    default:
      return culvert::fail(Errc::malformed);
  }
}

Result<std::size_t> RecordChannel::take_record(const Record& record, std::span<std::uint8_t> out) {
  switch (record.type) {
    case kApplicationData: {
      std::size_t n = std::min(out.size(), record.plaintext.size());
      std::memcpy(out.data(), record.plaintext.data(), n);
      if (n < record.plaintext.size()) {
        pending_.assign(record.plaintext.begin() + static_cast<std::ptrdiff_t>(n), record.plaintext.end());
        pending_start_ = 0;
      }
      return n;
    }
    case kAlert:
      if (record.plaintext.size() == 2 && record.plaintext[1] == alert::kCloseNotify) {
        peer_closed_ = true;
        return 0;
      }
      return culvert::fail(Errc::malformed);
    case kHandshake:
      if (record.plaintext.size() >= 1 && record.plaintext[0] == msg::kNewSessionTicket)
        ticket_records_.push_back(record.wire_length);
      framer_.append(record.plaintext);
      for (;;) {
        auto message = framer_.next();
        if (!message) return culvert::fail(Errc::malformed);
        if (!*message) return 0;
        if (!handle_post_handshake(**message)) return culvert::fail(Errc::malformed);
      }
    default:
      return culvert::fail(Errc::malformed);
  }
}

asio::awaitable<IoResult> RecordChannel::read_failed(std::error_code error) {
  if (error == asio::error::eof) co_return IoResult{asio::error::eof, 0};  // FIN without close_notify
  // A record that does not open or is too long gets its alert; a peer's alert or a bad message
  // after the handshake just ends the stream.
  if (error == make_error_code(Errc::tls_failed) || error == make_error_code(Errc::too_large)) {
    Bytes out;
    append_alert(error == make_error_code(Errc::tls_failed) ? alert::kBadRecordMac : alert::kRecordOverflow, out);
    co_await write_raw(out);
  }
  co_return IoResult{error.category() == culvert_category() ? make_error_code(Errc::tls_failed) : error, 0};
}

asio::awaitable<IoResult> RecordChannel::read_some(asio::mutable_buffer buffer) {
  if (buffer.size() == 0) co_return IoResult{{}, 0};
  std::span<std::uint8_t> out(static_cast<std::uint8_t*>(buffer.data()), buffer.size());
  std::size_t copied = 0;
  // Fill the buffer from every record already read; wait for the socket only while nothing was copied.
  while (copied < out.size()) {
    if (pending_start_ < pending_.size()) {
      std::size_t n = std::min(out.size() - copied, pending_.size() - pending_start_);
      std::memcpy(out.data() + copied, pending_.data() + pending_start_, n);
      pending_start_ += n;
      copied += n;
      if (pending_start_ == pending_.size()) {
        pending_.clear();
        pending_start_ = 0;
      }
      continue;
    }
    if (copied > 0 && (deferred_error_ || peer_closed_)) break;
    if (deferred_error_) co_return co_await read_failed(std::exchange(deferred_error_, {}));
    if (peer_closed_) co_return IoResult{asio::error::eof, 0};
    if (!handshake_done_) co_return IoResult{make_error_code(Errc::tls_failed), 0};
    Result<Record> record = culvert::fail(Errc::tls_failed);
    if (copied > 0) {
      auto buffered = buffered_record();
      if (!buffered) break;
      record = std::move(*buffered);
    } else {
      record = co_await next_record();
    }
    Result<std::size_t> taken = record ? take_record(*record, out.subspan(copied)) : culvert::fail(record.error());
    if (!taken) {
      if (copied > 0) {
        deferred_error_ = taken.error();
        break;
      }
      co_return co_await read_failed(taken.error());
    }
    copied += *taken;
  }
  co_return IoResult{{}, copied};
}

asio::awaitable<std::error_code> RecordChannel::write_all(asio::const_buffer buffer) {
  if (!handshake_done_ || sent_close_notify_) co_return make_error_code(Errc::tls_failed);
  const auto* data = static_cast<const std::uint8_t*>(buffer.data());
  std::size_t left = buffer.size();
  // Up to 256 KiB of records per socket write: few syscalls, bounded memory.
  constexpr std::size_t kBatch = 16 * kMaxPlaintext;
  while (left > 0 || key_update_to_send_) {
    write_buffer_.clear();
    if (key_update_to_send_) {
      std::uint8_t body[5] = {msg::kKeyUpdate, 0, 0, 1, static_cast<std::uint8_t>(want_peer_update_ ? 1 : 0)};
      write_->seal_into(kHandshake, body, write_buffer_.prepare(RecordProtection::sealed_size(5)).data());
      write_buffer_.commit(RecordProtection::sealed_size(5));
      write_->update();
      key_update_to_send_ = false;
    }
    std::size_t batch = std::min(left, kBatch);
    for (std::size_t done = 0; done < batch;) {
      std::size_t n = std::min(kMaxPlaintext, batch - done);
      write_->seal_into(kApplicationData, ByteSpan(data + done, n),
                        write_buffer_.prepare(RecordProtection::sealed_size(n)).data());
      write_buffer_.commit(RecordProtection::sealed_size(n));
      done += n;
    }
    if (auto ec = co_await write_raw(write_buffer_.bytes())) co_return ec;
    data += batch;
    left -= batch;
  }
  co_return std::error_code{};
}

asio::awaitable<void> RecordChannel::shutdown_send() {
  if (sent_close_notify_ || !socket_.is_open()) co_return;
  sent_close_notify_ = true;
  if (write_) {
    Bytes out;
    append_alert(alert::kCloseNotify, out);
    co_await write_raw(out);
  }
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void RecordChannel::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

}  // namespace culvert::tls13
