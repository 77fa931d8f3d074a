#include "demo/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

namespace resdb_trace::demo {
namespace {

constexpr size_t kMaxQueued = 200000;  // frames kept for an unreachable peer

uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Writer {
 public:
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void Raw(const void* p, size_t n) {
    out_.append(static_cast<const char*>(p), n);
  }
  void Bytes(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i)
      *v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i)
      *v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool Raw(void* p, size_t n) {
    if (in_.size() < n) return false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool Bytes(std::string* s) {
    uint32_t n;
    if (!U32(&n) || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

int64_t MonoNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Digest ComputeDigest(std::string_view data) {
  Digest d{};
  for (int lane = 0; lane < 4; ++lane) {
    uint64_t h = 0xcbf29ce484222325ULL ^ Mix(static_cast<uint64_t>(lane + 1));
    for (unsigned char c : data) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h = Mix(h ^ data.size());
    for (int i = 0; i < 8; ++i)
      d[lane * 8 + i] = static_cast<uint8_t>(h >> (8 * i));
  }
  return d;
}

Digest ChainDigest(const Digest& a, const Digest& b) {
  std::string buf(reinterpret_cast<const char*>(a.data()), a.size());
  buf.append(reinterpret_cast<const char*>(b.data()), b.size());
  return ComputeDigest(buf);
}

std::string DigestHex(const Digest& d) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

uint64_t DigestPrefixU64(const Digest& d) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(d[i]) << (8 * i);
  return v;
}

std::string EncodeFrame(const Message& m) {
  Writer w;
  w.U32(0);  // length placeholder
  w.U32(m.type);
  w.U32(m.sender);
  w.U64(m.view);
  w.U64(m.seq);
  w.U64(m.proxy_id);
  w.U64(m.local_id);
  w.U64(m.aux);
  w.Raw(m.digest.data(), m.digest.size());
  w.Bytes(m.payload);
  std::string& out = w.out();
  const uint32_t len = static_cast<uint32_t>(out.size() - 4);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(len >> (8 * i));
  return std::move(out);
}

bool DecodeBody(std::string_view body, Message* m) {
  Reader r(body);
  return r.U32(&m->type) && r.U32(&m->sender) && r.U64(&m->view) &&
         r.U64(&m->seq) && r.U64(&m->proxy_id) && r.U64(&m->local_id) &&
         r.U64(&m->aux) && r.Raw(m->digest.data(), m->digest.size()) &&
         r.Bytes(&m->payload) && r.done();
}

std::string EncodeBatch(const std::vector<ClientReq>& batch) {
  Writer w;
  w.U32(static_cast<uint32_t>(batch.size()));
  for (const ClientReq& r : batch) {
    w.U64(r.client_id);
    w.U64(r.req_id);
    w.Bytes(r.txn);
  }
  return std::move(w.out());
}

bool DecodeBatch(std::string_view data, std::vector<ClientReq>* batch) {
  Reader r(data);
  uint32_t n;
  if (!r.U32(&n)) return false;
  batch->clear();
  for (uint32_t i = 0; i < n; ++i) {
    ClientReq c;
    if (!r.U64(&c.client_id) || !r.U64(&c.req_id) || !r.Bytes(&c.txn))
      return false;
    batch->push_back(std::move(c));
  }
  return r.done();
}

std::string EncodeProofs(const std::vector<LogProof>& proofs) {
  Writer w;
  w.U32(static_cast<uint32_t>(proofs.size()));
  for (const LogProof& p : proofs) {
    w.U64(p.seq);
    w.U64(p.view);
    w.Raw(p.digest.data(), p.digest.size());
    w.Bytes(p.batch);
  }
  return std::move(w.out());
}

bool DecodeProofs(std::string_view data, std::vector<LogProof>* proofs) {
  Reader r(data);
  uint32_t n;
  if (!r.U32(&n)) return false;
  proofs->clear();
  for (uint32_t i = 0; i < n; ++i) {
    LogProof p;
    if (!r.U64(&p.seq) || !r.U64(&p.view) ||
        !r.Raw(p.digest.data(), p.digest.size()) || !r.Bytes(&p.batch))
      return false;
    proofs->push_back(std::move(p));
  }
  return r.done();
}

int ListenLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

void FrameReader::Append(std::string_view bytes) {
  // drop what earlier frames used up before growing the buffer
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes.data(), bytes.size());
}

FrameReader::Received FrameReader::Receive(int fd, bool wait) {
  char tmp[65536];
  const ssize_t got = recv(fd, tmp, sizeof(tmp), wait ? 0 : MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    return Received::kNothing;
  }
  if (got <= 0) return Received::kClosed;
  Append(std::string_view(tmp, static_cast<size_t>(got)));
  return Received::kBytes;
}

FrameReader::Result FrameReader::Next(std::string_view* body) {
  if (!error_.empty()) return Result::kTooLarge;
  if (buffered() < 4) return Result::kNeedMore;
  const auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  const uint32_t len =
      h[0] | (h[1] << 8) | (h[2] << 16) | (static_cast<uint32_t>(h[3]) << 24);
  if (len > kMaxFrameBytes) {
    error_ = "frame of " + std::to_string(len) + " bytes exceeds the " +
             std::to_string(kMaxFrameBytes >> 20) +
             " MiB cap (kMaxFrameBytes in demo/wire.h): the peer does not "
             "speak the demo protocol or the stream is corrupt";
    return Result::kTooLarge;
  }
  if (buffered() - 4 < len) return Result::kNeedMore;
  *body = std::string_view(buf_).substr(pos_ + 4, len);
  pos_ += 4 + len;
  return Result::kFrame;
}

bool ReadFrame(int fd, FrameReader* reader, std::string_view* body) {
  while (true) {
    switch (reader->Next(body)) {
      case FrameReader::Result::kFrame:
        return true;
      case FrameReader::Result::kTooLarge:
        return false;
      case FrameReader::Result::kNeedMore:
        break;
    }
    if (reader->Receive(fd, /*wait=*/true) == FrameReader::Received::kClosed) {
      return false;
    }
  }
}

std::shared_ptr<Outbox> Outbox::Dial(int port, int delay_ms) {
  return std::shared_ptr<Outbox>(new Outbox(port, -1, delay_ms));
}

std::shared_ptr<Outbox> Outbox::Adopt(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::shared_ptr<Outbox>(new Outbox(0, fd, 0));
}

Outbox::Outbox(int port, int fd, int delay_ms)
    : port_(port), delay_ms_(delay_ms), fd_(fd) {
  thread_ = std::thread([this] { Run(); });
}

Outbox::~Outbox() {
  Stop();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

void Outbox::Stop() {
  std::lock_guard<std::mutex> l(mu_);
  stop_ = true;
  cv_.notify_all();
}

void Outbox::Send(std::string frame) {
  std::lock_guard<std::mutex> l(mu_);
  if (stop_) return;
  if (queue_.size() >= kMaxQueued) queue_.pop_front();  // peer unreachable
  queue_.emplace_back(MonoNs() + int64_t{delay_ms_} * 1000000,
                      std::move(frame));
  cv_.notify_one();
}

void Outbox::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
    if (stop_) break;
    if (fd_ < 0) {
      if (port_ == 0) {  // adopted socket is gone: drop everything
        queue_.clear();
        continue;
      }
      l.unlock();
      int fd = ConnectLoopback(port_);
      l.lock();
      if (fd < 0) {
        cv_.wait_for(l, std::chrono::milliseconds(50),
                     [this] { return stop_; });
        continue;
      }
      fd_ = fd;
    }
    const int64_t now = MonoNs();
    if (queue_.front().first > now) {
      cv_.wait_for(l, std::chrono::nanoseconds(queue_.front().first - now),
                   [this] { return stop_; });
      continue;
    }
    // Write everything due in one go (outside the lock).
    std::string out;
    while (!queue_.empty() && queue_.front().first <= now &&
           out.size() < (1u << 20)) {
      out += queue_.front().second;
      queue_.pop_front();
    }
    const int fd = fd_;
    l.unlock();
    const bool ok = WriteAll(fd, out);
    l.lock();
    if (!ok) {  // frames in `out` are lost, as on a real broken link
      close(fd_);
      fd_ = -1;
    }
  }
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
}

}  // namespace resdb_trace::demo
