// Wire format and loopback networking for the resdb_trace demo PBFT cluster.
//
// Every message is one frame: u32 little-endian body length, then the body:
//   u32 type | u32 sender | u64 view | u64 seq | u64 proxy_id | u64 local_id |
//   u64 aux | 32-byte digest | u32 payload length | payload bytes.
// `type` uses ResilientDB's Request::Type numbers (RESDB_TRACE_TYPE_*).
#ifndef RESDB_TRACE_DEMO_WIRE_H_
#define RESDB_TRACE_DEMO_WIRE_H_

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace resdb_trace::demo {

using Digest = std::array<uint8_t, 32>;

// 32-byte digest: four FNV-1a lanes with distinct seeds, each finalised with
// a splitmix64 mixer. Not cryptographic (the demo is crash-fault only).
Digest ComputeDigest(std::string_view data);
Digest ChainDigest(const Digest& a, const Digest& b);
std::string DigestHex(const Digest& d);
uint64_t DigestPrefixU64(const Digest& d);

struct Message {
  uint32_t type = 0;
  uint32_t sender = 0;
  uint64_t view = 0;
  uint64_t seq = 0;
  uint64_t proxy_id = 0;
  uint64_t local_id = 0;
  uint64_t aux = 0;
  Digest digest{};
  std::string payload;
};

// Returns the whole frame (length prefix included).
std::string EncodeFrame(const Message& m);
bool DecodeBody(std::string_view body, Message* m);

// One client transaction ("set k v" / "get k"), identified by (client, req).
struct ClientReq {
  uint64_t client_id = 0;
  uint64_t req_id = 0;
  std::string txn;
};
std::string EncodeBatch(const std::vector<ClientReq>& batch);
bool DecodeBatch(std::string_view data, std::vector<ClientReq>* batch);

// A (seq, view, digest, batch) tuple carried by VIEWCHANGE / NEWVIEW.
struct LogProof {
  uint64_t seq = 0;
  uint64_t view = 0;
  Digest digest{};
  std::string batch;  // EncodeBatch bytes
};
std::string EncodeProofs(const std::vector<LogProof>& proofs);
bool DecodeProofs(std::string_view data, std::vector<LogProof>* proofs);

// Largest frame body any demo process accepts: 64 MiB. The largest real
// frames are VIEWCHANGE / NEWVIEW messages, which carry the batches of a
// whole watermark window (by default 256 seqs of one request of at most
// ~4 KiB each, ~1 MiB); the cap leaves room for bigger --batch_size and
// --checkpoint_interval settings while refusing a length prefix that is
// garbage (a peer that does not speak the demo protocol) before allocating.
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;

// Splits a byte stream into frame bodies, whatever pieces the bytes arrive
// in. The one frame reader of the demo: blocking readers (ReadFrame) and
// non-blocking ones (the clients' poll loops) both go through it.
class FrameReader {
 public:
  enum class Result {
    kFrame,     // *body holds the next frame's body.
    kNeedMore,  // no complete frame buffered yet: Append more bytes.
    kTooLarge,  // the next length prefix exceeds kMaxFrameBytes; error()
                // says so. The stream cannot be resynchronised: close it.
  };

  enum class Received {
    kBytes,    // some bytes arrived.
    kNothing,  // none yet (non-blocking, or interrupted): try again.
    kClosed,   // EOF or a read error: the connection is gone.
  };

  // Reads what `fd` has, up to 64 KiB, into the buffer; blocks for the first
  // byte only when `wait`.
  Received Receive(int fd, bool wait);
  // Adds bytes received from the connection.
  void Append(std::string_view bytes);
  // Takes the next complete frame off the buffer. `*body` points into the
  // reader and stays valid until the next Append.
  Result Next(std::string_view* body);
  // Why Next returned kTooLarge; "" before that.
  const std::string& error() const { return error_; }
  // Bytes received but not yet returned as frames.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;  // start of the first byte not yet returned
  std::string error_;
};

// Sockets (127.0.0.1 only).
int ListenLoopback(int port);   // -1 on failure
int ConnectLoopback(int port);  // -1 on failure
bool WriteAll(int fd, std::string_view data);
// Blocks until `reader` has a whole frame from `fd`, reading as needed.
// False on EOF or a read error, and on a frame over kMaxFrameBytes (then
// reader->error() says why).
bool ReadFrame(int fd, FrameReader* reader, std::string_view* body);

// An outgoing connection with its own writer thread, so the consensus thread
// never blocks on a slow or stalled peer. Either dials `port` lazily (and
// redials after errors) or owns an accepted fd. `delay_ms` > 0 delays every
// message by that much (the slow_link fault), preserving FIFO order.
class Outbox {
 public:
  static std::shared_ptr<Outbox> Dial(int port, int delay_ms);
  static std::shared_ptr<Outbox> Adopt(int fd);
  ~Outbox();
  void Send(std::string frame);
  void Stop();

 private:
  Outbox(int port, int fd, int delay_ms);
  void Run();

  const int port_;
  const int delay_ms_;
  int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, std::string>> queue_;  // (deliver_at_ns, frame)
  bool stop_ = false;
  std::thread thread_;
};

int64_t MonoNs();

}  // namespace resdb_trace::demo

#endif  // RESDB_TRACE_DEMO_WIRE_H_
