// halfopen_native: what halfopen needs from Linux that Node cannot do fast,
// or at all: the socket table and its owners for `ls` and the procfs source
// (sockDiag, sockDiagAsync, socketOwners, scanSockets), waking `watch` on
// tracefs data and raising its file limit (watchReadable, raiseNofileLimit),
// and the scanner's host discovery over raw and ping sockets (discover,
// discover6). Chosen through src/platform/linux/host.ts (select.ts):
//
//   sockDiag(family, states, netnsPath?)  -> Buffer
//     One NETLINK_SOCK_DIAG dump (inet_diag, the interface `ss` uses) of the
//     TCP sockets whose state is in the `states` bit mask, with the filter
//     applied in the kernel: of one address family, or of both in one walk
//     (family 0, the TCPDIAG_GETSOCK request `ss -t` sends). With `netnsPath`
//     (/proc/PID/ns/net) the dump runs on a thread that first joins that
//     network namespace (setns, CAP_SYS_ADMIN), so other namespaces are read
//     without touching the Node threads. The result is the raw netlink
//     messages, parsed in TypeScript by a pure parser (inet-diag.ts).
//
//   sockDiagAsync(family, states, netnsPath?) -> Promise<Buffer>
//     The same dump off the JS thread.
//
//   socketOwners(procRoot, pids, wanted, threads) -> { owners, walkedPids, readlinks }
//     Which process holds each wanted socket inode: the /proc/PID/fd walk that
//     `ss -p` does, spread over `threads` threads, using readlinkat on an open
//     fd directory, and stopping once every wanted inode has an owner.
//     `owners[i]` is the pid holding wanted[i], or 0.
//
//   scanSockets(procRoot, pids, threads) -> Promise<{ inodes, pids, walkedPids, readlinks }>
//     The same walk for every socket link, off the JS thread (libuv's pool
//     plus threads of its own), so the caller dumps and parses meanwhile.
//     One entry per inode, sorted; a shared socket goes to the lowest pid.
//
//   watchReadable(fds, onReadable) -> { rearm(), stop() }
//     A thread of its own that poll()s the fds (tracefs trace_pipe_raw files)
//     and calls onReadable() on the JS thread once any is readable, then
//     waits until rearm() before it polls again, so the JS side reads at its
//     own pace and is never woken twice for the same data. stop() wakes the
//     thread through an eventfd and joins it. This is how `watch` sleeps
//     while the host is idle instead of reading the buffers every 10 ms.
//
//   createStateDecoder(config) -> { read(...), decode(...), ids() }
//     watch's hot path: the per-CPU ring-buffer pages (trace_pipe_raw, non-
//     blocking: EAGAIN ends a CPU, no exception per empty buffer) read and
//     decoded here into columns instead of one JavaScript object per record:
//     sock:inet_sock_set_state, tcp_receive_reset and tcp_retransmit_skb
//     records become numbers (time stamp; kind, pid, socket id, states and
//     family, ports, IPv4 addresses, the payload's offset in the buffer),
//     any other record only its kind 0 and offset (the caller decodes those
//     few itself). Socket addresses become small reused ids (SocketIds).
//     Field offsets come from the kernel's format files (tracefs-columns.ts).
//
//   raiseNofileLimit() -> { soft, hard, before }
//     setrlimit(RLIMIT_NOFILE): the soft limit raised to the hard limit.
//
//   discover(addresses, { icmp, ackPorts, timeoutMs, perSecond, sourcePort }) -> Promise<{ replies, mode }>
//     The scanner's host discovery that holds no half-open slot (IPv4): an
//     ICMP echo request and a TCP ACK to each of `ackPorts` for every address
//     (`addresses`: a Uint32Array of IPv4 addresses in host order), sent at
//     most `perSecond` a second, then replies collected until `timeoutMs`
//     after the last send. An unsolicited ACK draws a RST from a live host
//     and creates no connection state anywhere. Raw sockets need
//     CAP_NET_RAW; without it ICMP goes through a Linux ping socket
//     (SOCK_DGRAM, allowed by net.ipv4.ping_group_range) and no ACK is sent
//     (`mode` says which). Rejects with code EPERM when neither works.
//     `replies`: Float64Array of [address, kind (1 echo reply, 2 RST), rtt ms]
//     triples, the first reply of each address.
//
//   discover6(addresses, options) -> Promise<{ replies, mode }>
//     The same for IPv6: `addresses` a Uint8Array of 16-byte addresses;
//     ICMPv6 echo (the kernel computes ICMPv6 and, with IPV6_CHECKSUM, TCP
//     checksums) and TCP ACKs; the first number of each triple is the
//     address's index in `addresses`.
//
//   captureOpen(netnsPath, sockets, kind = 0) -> Int32Array of fds
//     Capture of TCP SYNs for the raw-sender tracer: `sockets` AF_PACKET
//     SOCK_DGRAM sockets (ETH_P_ALL, every interface) of the network
//     namespace of `netnsPath` ("" for ours; opened on a thread of our own
//     that joins it), in one PACKET_FANOUT_CPU group, so socket i receives
//     the packets tapped on CPU i (mod `sockets`). A classic BPF filter in
//     the kernel keeps only outgoing TCP SYNs without ACK and incoming
//     SYN-ACKs and RSTs (IPv4 and IPv6), snapped to 128 bytes; the rest never
//     reaches us. Non-blocking; timestamps on (SO_TIMESTAMPNS). kind 1: the
//     filter keeps incoming DNS answers instead (UDP from port 53), 2048 bytes.
//
//   holdTimestamps() -> fd
//     A socket that keeps packet time stamping on while it is open, so a new
//     capture opens about a millisecond sooner.
//
//   pollReadable(fds, ready) -> count
//     Which of `fds` have data now: one poll(2) with no wait; ready[i] is 1 for
//     each readable fds[i], else 0. For the DNS answers' sockets, checked at
//     every read of the trace buffers: one call and one system call however
//     many namespaces are watched.
//
//   captureRead(fds, maxPackets, snap = 128) -> Buffer | undefined
//     What the sockets hold, up to maxPackets (recvmmsg, MSG_DONTWAIT);
//     undefined when they held nothing (no buffer is made). One
//     record per packet, 8-byte aligned: f64 time (ns, CLOCK_MONOTONIC: the
//     packet's CLOCK_REALTIME stamp minus REALTIME-MONOTONIC measured now),
//     u32 socket index, i32 ifindex, u16 ethertype, u8 packet type, u8 0,
//     u16 captured length, u16 0, u32 length, u32 0, then the captured
//     bytes from the network header. Parsed by raw-capture.ts.
//
//   nfqOpen(netnsPath, queueNum, maxLen) -> fd
//     A NETLINK_NETFILTER socket bound to NFQUEUE queue `queueNum` of the
//     namespace of `netnsPath` ("" ours; opened on a thread that joins it),
//     for `watch --enforce`: packets copied up to 128 bytes (headers only),
//     at most `maxLen` held in the kernel, fail-open when that is full or our
//     receive buffer is (NFQA_CFG_F_FAIL_OPEN), with the socket owner's uid
//     and gid (NFQA_CFG_F_UID_GID). Non-blocking; 8 MiB receive buffer.
//     EBUSY: another program has the queue. Closing the fd unbinds it and the
//     kernel drops what was held (the rule's `bypass` then lets new SYNs by).
//
//   nfqVerdict(fd, queueNum, ids: Uint32Array, verdicts: Uint8Array) -> sent
//     One NFQNL_MSG_VERDICT per id (verdict 0 drop, 1 accept), many to one
//     sendmsg (netlink processes them in order).
//
//   nfqPump(fd, queueNum, onData) -> { take(), grant(total), used(), stop() }
//     A thread that reads the queue as packets come and accepts at once, by
//     itself, as many as JavaScript granted (grant(total): the fast accepts
//     allowed in all, a number that only grows), so a connect below the
//     limit never waits for the JavaScript thread; onData() tells JavaScript
//     to take() what came: { messages (every packet, accepted or not),
//     accepted: Uint32Array of the ids accepted here, overflows, readAtMs:
//     CLOCK_MONOTONIC ms of the last read, before which every queued packet
//     has been handed over }.
//
// Errors are thrown as JS errors with `code` set to the errno name (EPERM, ...).
// Nothing here is passed to a shell; no input is interpreted beyond numbers and
// one path.
#include <napi.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <chrono>
#include <dirent.h>
#include <netinet/ip.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace {

struct Failure {
  int err = 0;
  std::string what;
};

// Throw a TypeError for a bad argument; returns undefined for the caller to return.
Napi::Value BadArgument(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowErrno(Napi::Env env, const Failure& f) {
  const char* name = f.err == EPERM ? "EPERM" : f.err == EACCES ? "EACCES" : f.err == ENOENT ? "ENOENT" : f.err == EMFILE ? "EMFILE"
                   : f.err == EINVAL ? "EINVAL" : f.err == EPROTONOSUPPORT ? "EPROTONOSUPPORT" : f.err == EBUSY ? "EBUSY" : f.err == ENOBUFS ? "ENOBUFS" : "EIO";
  Napi::Error e = Napi::Error::New(env, f.what + ": " + std::strerror(f.err));
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, f.err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// One inet_diag dump in the calling thread's network namespace.
bool Dump(int family, uint32_t states, std::string& out, Failure& fail) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    fail = {errno, "socket(NETLINK_SOCK_DIAG)"};
    return false;
  }
  // family 0: the original TCPDIAG_GETSOCK request, which the kernel answers
  // for both address families in one walk of its hash tables (what
  // `ss -t` sends); else SOCK_DIAG_BY_FAMILY for one family.
  struct {
    nlmsghdr nh;
    union {
      inet_diag_req_v2 v2;
      inet_diag_req v1;
    } r;
  } req;
  std::memset(&req, 0, sizeof req);
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  if (family == 0) {
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(inet_diag_req));
    req.nh.nlmsg_type = TCPDIAG_GETSOCK;
    req.r.v1.idiag_states = states;
  } else {
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(inet_diag_req_v2));
    req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.r.v2.sdiag_family = static_cast<uint8_t>(family);
    req.r.v2.sdiag_protocol = IPPROTO_TCP;
    req.r.v2.idiag_states = states;
  }
  sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    fail = {errno, "sendto(NETLINK_SOCK_DIAG)"};
    close(fd);
    return false;
  }
  std::vector<char> buf(1 << 17);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail = {errno, "recv(NETLINK_SOCK_DIAG)"};
      close(fd);
      return false;
    }
    if (n == 0) break;
    // Keep every message but stop after NLMSG_DONE or an error message; the
    // parser reads the error code from the NLMSG_ERROR payload.
    bool done = false;
    int len = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = true;
    }
    out.append(buf.data(), static_cast<size_t>(n));
    if (done) break;
  }
  close(fd);
  return true;
}

// Join the network namespace of `path` (/proc/PID/ns/net, /run/netns/NAME) on the calling thread; "" stays.
bool JoinNetns(const std::string& path, Failure& fail) {
  if (path.empty()) return true;
  int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    fail = {errno, "open(" + path + ")"};
    return false;
  }
  int r = setns(nsfd, CLONE_NEWNET);
  int err = errno;
  close(nsfd);
  if (r != 0) {
    fail = {err, "setns(" + path + ")"};
    return false;
  }
  return true;
}

// One dump, in the namespace of `path` when given: setns changes the
// namespace of the calling thread only, so that is done on a thread of our
// own, which then ends (never on a JS or libuv thread).
bool DumpIn(int family, uint32_t states, const std::string& path, std::string& out, Failure& fail) {
  if (path.empty()) return Dump(family, states, out, fail);
  bool ok = false;
  std::thread t([&] {
    if (JoinNetns(path, fail)) ok = Dump(family, states, out, fail);
  });
  t.join();
  return ok;
}

bool DumpArgs(const Napi::CallbackInfo& info, const char* usage, int& family, uint32_t& states, std::string& path) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  family = info[0].As<Napi::Number>().Int32Value();
  states = info[1].As<Napi::Number>().Uint32Value();
  if (family != 0 && family != AF_INET && family != AF_INET6) {
    Napi::TypeError::New(env, "sockDiag: family must be 0 (both), AF_INET (2) or AF_INET6 (10)").ThrowAsJavaScriptException();
    return false;
  }
  path = info.Length() >= 3 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  return true;
}

Napi::Value SockDiag(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family;
  uint32_t states;
  std::string path;
  if (!DumpArgs(info, "sockDiag(family, states, netnsPath?)", family, states, path)) return env.Undefined();
  std::string out;
  Failure fail;
  if (!DumpIn(family, states, path, out, fail)) return ThrowErrno(env, fail);
  return Napi::Buffer<char>::Copy(env, out.data(), out.size());
}

// sockDiagAsync(family, states, netnsPath?) -> Promise<Buffer>: the same dump off the JS thread.
class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Env env, int family, uint32_t states, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), family_(family), states_(states), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { ok_ = DumpIn(family_, states_, path_, out_, fail_); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (ok_) {
      deferred_.Resolve(Napi::Buffer<char>::Copy(env, out_.data(), out_.size()));
      return;
    }
    ThrowErrno(env, fail_);
    Napi::Value e = env.GetAndClearPendingException().Value();
    deferred_.Reject(e);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int family_;
  uint32_t states_;
  std::string path_;
  std::string out_;
  Failure fail_;
  bool ok_ = false;
};

Napi::Value SockDiagAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family;
  uint32_t states;
  std::string path;
  if (!DumpArgs(info, "sockDiagAsync(family, states, netnsPath?)", family, states, path)) return env.Undefined();
  auto* worker = new DumpWorker(env, family, states, std::move(path));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// "socket:[12345]" -> 12345, else 0.
uint32_t SocketInode(const char* link, ssize_t n) {
  static const char kPrefix[] = "socket:[";
  if (n < 10 || std::memcmp(link, kPrefix, 8) != 0 || link[n - 1] != ']') return 0;
  uint64_t v = 0;
  for (ssize_t i = 8; i < n - 1; i++) {
    char c = link[i];
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > 0xffffffffULL) return 0;
  }
  return static_cast<uint32_t>(v);
}

struct ProcFds {
  int pid = 0;
  int dirfd = -1;
  std::vector<std::string> fds;
};

// Which wanted inodes have been found, shared by the walking threads.
struct Wanted {
  std::unordered_map<uint32_t, size_t> index;
  std::vector<std::atomic<int32_t>> owners;
  std::atomic<int64_t> remaining{0};
  explicit Wanted(const uint32_t* inodes, size_t n) : owners(n) {
    index.reserve(n * 2);
    for (size_t i = 0; i < n; i++) index.emplace(inodes[i], i);
    for (auto& o : owners) o.store(0, std::memory_order_relaxed);
    remaining.store(static_cast<int64_t>(index.size()));
  }
};

struct WalkResult {
  // Every socket link seen (only when walking without a wanted set).
  std::vector<uint32_t> inodes;
  std::vector<int32_t> pids;
  int64_t walked = 0;
  int64_t readlinks = 0;
};

template <typename Fn>
void RunThreads(int threads, Fn fn) {
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; t++) pool.emplace_back(fn);
  fn();
  for (auto& t : pool) t.join();
}

// The /proc/PID/fd walk. Phase 1 lists each process's fd directory (threads
// take processes in turn); phase 2 reads the links in chunks of 512, any
// thread any chunk, with readlinkat on the open directory. With `wanted`, it
// records owners of those inodes and stops once all are found; without, it
// collects every socket link.
void WalkFds(const std::string& proc, const std::vector<int32_t>& pids, int threads, Wanted* wanted, WalkResult& out) {
  const size_t nPids = pids.size();
  std::vector<ProcFds> procs(nPids);
  for (size_t i = 0; i < nPids; i++) procs[i].pid = pids[i];
  std::atomic<size_t> nextPid(0);
  std::atomic<int64_t> walked(0);
  RunThreads(threads, [&] {
    for (;;) {
      size_t i = nextPid.fetch_add(1);
      if (i >= nPids) return;
      ProcFds& p = procs[i];
      std::string dir = proc + "/" + std::to_string(p.pid) + "/fd";
      int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) continue;  // gone, or not ours to read
      int listfd = dup(dfd);
      DIR* d = listfd >= 0 ? fdopendir(listfd) : nullptr;
      if (!d) {
        if (listfd >= 0) close(listfd);
        close(dfd);
        continue;
      }
      walked.fetch_add(1);
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        p.fds.emplace_back(e->d_name);
      }
      closedir(d);
      p.dirfd = dfd;
    }
  });
  struct Chunk {
    size_t proc, from, to;
  };
  std::vector<Chunk> chunks;
  const size_t kChunk = 512;
  for (size_t i = 0; i < procs.size(); i++) {
    if (procs[i].dirfd < 0) continue;
    for (size_t f = 0; f < procs[i].fds.size(); f += kChunk) chunks.push_back({i, f, std::min(procs[i].fds.size(), f + kChunk)});
  }
  std::atomic<size_t> nextChunk(0);
  std::atomic<int64_t> readlinks(0);
  std::mutex merge;
  RunThreads(threads, [&] {
    char link[64];
    std::vector<uint32_t> myInodes;
    std::vector<int32_t> myPids;
    int64_t n = 0;
    for (;;) {
      if (wanted && wanted->remaining.load(std::memory_order_relaxed) <= 0) break;
      size_t c = nextChunk.fetch_add(1);
      if (c >= chunks.size()) break;
      const Chunk& ch = chunks[c];
      const ProcFds& p = procs[ch.proc];
      for (size_t k = ch.from; k < ch.to; k++) {
        ssize_t len = readlinkat(p.dirfd, p.fds[k].c_str(), link, sizeof link);
        n++;
        if (len <= 0) continue;
        uint32_t inode = SocketInode(link, len);
        if (inode == 0) continue;
        if (!wanted) {
          myInodes.push_back(inode);
          myPids.push_back(p.pid);
          continue;
        }
        auto it = wanted->index.find(inode);
        if (it == wanted->index.end()) continue;
        int32_t expected = 0;
        if (wanted->owners[it->second].compare_exchange_strong(expected, p.pid) && wanted->remaining.fetch_sub(1) <= 1) break;
      }
    }
    readlinks.fetch_add(n);
    if (!wanted) {
      std::lock_guard<std::mutex> lock(merge);
      out.inodes.insert(out.inodes.end(), myInodes.begin(), myInodes.end());
      out.pids.insert(out.pids.end(), myPids.begin(), myPids.end());
    }
  });
  for (auto& p : procs)
    if (p.dirfd >= 0) close(p.dirfd);
  if (!wanted && !out.inodes.empty()) {
    // One owner per socket, the lowest pid when a socket is shared (fork,
    // fd passing), whatever order the threads met them in.
    std::vector<std::pair<uint32_t, int32_t>> pairs(out.inodes.size());
    for (size_t i = 0; i < pairs.size(); i++) pairs[i] = {out.inodes[i], out.pids[i]};
    std::sort(pairs.begin(), pairs.end());
    out.inodes.clear();
    out.pids.clear();
    for (size_t i = 0; i < pairs.size(); i++) {
      if (i > 0 && pairs[i].first == pairs[i - 1].first) continue;
      out.inodes.push_back(pairs[i].first);
      out.pids.push_back(pairs[i].second);
    }
  }
  out.walked = walked.load();
  out.readlinks = readlinks.load();
}

bool ReadPids(const Napi::Env& env, const Napi::Value& v, std::vector<int32_t>& pids) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, "pids must be an Int32Array").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  pids.assign(a.Data(), a.Data() + a.ElementLength());
  return true;
}

int Threads(const Napi::Value& v) {
  int t = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : 1;
  return t < 1 ? 1 : t > 16 ? 16 : t;
}

// socketOwners(procRoot, pids, wanted, threads): owner pid of each wanted inode (0: none).
Napi::Value SocketOwners(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString()) {
    return BadArgument(env, "socketOwners(procRoot, pids: Int32Array, wanted: Uint32Array, threads)");
  }
  std::vector<int32_t> pids;
  if (!ReadPids(env, info[1], pids)) return env.Undefined();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    return BadArgument(env, "socketOwners: wanted must be a Uint32Array");
  }
  Napi::Uint32Array wantArr = info[2].As<Napi::Uint32Array>();
  const size_t nWanted = wantArr.ElementLength();
  Wanted wanted(wantArr.Data(), nWanted);
  WalkResult walk;
  if (!wanted.index.empty()) WalkFds(info[0].As<Napi::String>().Utf8Value(), pids, Threads(info[3]), &wanted, walk);
  Napi::Int32Array result = Napi::Int32Array::New(env, nWanted);
  // Duplicate wanted inodes share the first slot's answer.
  for (size_t i = 0; i < nWanted; i++) {
    auto it = wanted.index.find(wantArr[i]);
    result[i] = it == wanted.index.end() ? 0 : wanted.owners[it->second].load();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("owners", result);
  out.Set("walkedPids", Napi::Number::New(env, static_cast<double>(walk.walked)));
  out.Set("readlinks", Napi::Number::New(env, static_cast<double>(walk.readlinks)));
  return out;
}

// scanSockets(procRoot, pids, threads) -> Promise<{ inodes, pids, walkedPids, readlinks }>:
// every socket link of every process, walked off the JS thread, so the
// caller can dump and parse the socket tables meanwhile.
class ScanWorker : public Napi::AsyncWorker {
 public:
  ScanWorker(Napi::Env env, std::string proc, std::vector<int32_t> pids, int threads)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), proc_(std::move(proc)), pids_(std::move(pids)), threads_(threads) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { WalkFds(proc_, pids_, threads_, nullptr, result_); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    const size_t n = result_.inodes.size();
    Napi::Uint32Array inodes = Napi::Uint32Array::New(env, n);
    Napi::Int32Array pids = Napi::Int32Array::New(env, n);
    if (n > 0) {
      std::memcpy(inodes.Data(), result_.inodes.data(), n * sizeof(uint32_t));
      std::memcpy(pids.Data(), result_.pids.data(), n * sizeof(int32_t));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("inodes", inodes);
    out.Set("pids", pids);
    out.Set("walkedPids", Napi::Number::New(env, static_cast<double>(result_.walked)));
    out.Set("readlinks", Napi::Number::New(env, static_cast<double>(result_.readlinks)));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string proc_;
  std::vector<int32_t> pids_;
  int threads_;
  WalkResult result_;
};

Napi::Value ScanSockets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString()) {
    return BadArgument(env, "scanSockets(procRoot, pids: Int32Array, threads)");
  }
  std::vector<int32_t> pids;
  if (!ReadPids(env, info[1], pids)) return env.Undefined();
  auto* worker = new ScanWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(pids), Threads(info[2]));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// The poll thread of watchReadable. States: armed (polling or about to),
// fired (told JS, waiting for rearm), stopped.
class ReadableWatcher {
 public:
  ReadableWatcher(std::vector<int> fds, int wakeFd, Napi::ThreadSafeFunction tsfn)
      : fds_(std::move(fds)), wake_(wakeFd), tsfn_(std::move(tsfn)) {
    thread_ = std::thread([this] { Run(); });
  }
  void Rearm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      cv_.notify_one();
    }
    uint64_t one = 1;
    ssize_t ignored = write(wake_, &one, sizeof one);
    (void)ignored;
    if (thread_.joinable()) thread_.join();
    close(wake_);
  }

 private:
  void Run() {
    std::vector<pollfd> p(fds_.size() + 1);
    for (size_t i = 0; i < fds_.size(); i++) p[i] = {fds_[i], POLLIN, 0};
    p[fds_.size()] = {wake_, POLLIN, 0};
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return armed_ || stopped_; });
        if (stopped_) break;
      }
      for (auto& q : p) q.revents = 0;
      int n = poll(p.data(), p.size(), -1);
      if (n < 0 && errno == EINTR) continue;
      if (p[fds_.size()].revents != 0) break;
      if (n < 0) {
        // Cannot poll (should not happen): wake JS anyway, so it reads on its timer.
        usleep(10000);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopped_) break;
        armed_ = false;
      }
      tsfn_.NonBlockingCall();
    }
    tsfn_.Release();
  }

  std::vector<int> fds_;
  int wake_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = true;
  bool stopped_ = false;
};

// watchReadable on the JS thread's own event loop: one uv_poll per fd (epoll, level-triggered), stopped when any
// fires until rearm(). No thread, no cross-thread wake: a rearm is an epoll_ctl, where the poll thread's was a
// condition variable, a futex and a wake of the loop (about 60 us a read at 20,000 connects/s, measured).
class UvReadableWatcher {
 public:
  static UvReadableWatcher* Start(Napi::Env env, const std::vector<int>& fds, Napi::Function fn) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return nullptr;
    auto* w = new UvReadableWatcher(env, fn);
    for (int fd : fds) {
      auto* h = new uv_poll_t;
      if (uv_poll_init(loop, h, fd) != 0) {
        delete h;
        w->Stop();
        return nullptr;
      }
      h->data = w;
      w->handles_.push_back(h);
    }
    w->Arm();
    return w;
  }
  void Rearm() {
    if (!stopped_ && !armed_) Arm();
  }
  // Stops and frees itself once libuv has closed every handle.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    open_ = handles_.size();
    if (open_ == 0) {
      delete this;
      return;
    }
    for (uv_poll_t* h : handles_) {
      uv_poll_stop(h);
      uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* handle) {
        auto* self = static_cast<UvReadableWatcher*>(handle->data);
        delete reinterpret_cast<uv_poll_t*>(handle);
        if (--self->open_ == 0) delete self;
      });
    }
  }

 private:
  UvReadableWatcher(Napi::Env env, Napi::Function fn) : env_(env), fn_(Napi::Persistent(fn)), context_(env, "halfopen.watchReadable") {}
  void Arm() {
    armed_ = true;
    for (uv_poll_t* h : handles_) uv_poll_start(h, UV_READABLE, OnReadable);
  }
  static void OnReadable(uv_poll_t* h, int, int) {
    auto* w = static_cast<UvReadableWatcher*>(h->data);
    if (w->stopped_ || !w->armed_) return;
    w->armed_ = false;
    for (uv_poll_t* x : w->handles_) uv_poll_stop(x);
    Napi::HandleScope scope(w->env_);
    // MakeCallback: the microtasks the callback queues run before we return to libuv, as for any I/O callback.
    w->fn_.MakeCallback(w->env_.Global(), {}, w->context_);
    // A throw would otherwise stay pending in the env (and surface at some later, unrelated call) while the watcher
    // is never rearmed: report it as uncaught, as the poll thread's thread-safe function did.
    if (w->env_.IsExceptionPending()) napi_fatal_exception(w->env_, w->env_.GetAndClearPendingException().Value());
  }

  Napi::Env env_;
  Napi::FunctionReference fn_;
  Napi::AsyncContext context_;
  std::vector<uv_poll_t*> handles_;
  size_t open_ = 0;
  bool armed_ = false;
  bool stopped_ = false;
};

// The JS handle of a watcher: rearm() until stop(); stop() once (then `finish` ends the watcher).
template <typename W, typename Finish>
Napi::Object WatcherHandle(Napi::Env env, W* w, Finish finish) {
  Napi::Object handle = Napi::Object::New(env);
  auto stopped = std::make_shared<bool>(false);
  handle.Set("rearm", Napi::Function::New(env, [w, stopped](const Napi::CallbackInfo&) {
    if (!*stopped) w->Rearm();
  }));
  handle.Set("stop", Napi::Function::New(env, [w, stopped, finish](const Napi::CallbackInfo&) {
    if (*stopped) return;
    *stopped = true;
    finish(w);
  }));
  return handle;
}

Napi::Value WatchReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsFunction()) {
    return BadArgument(env, "watchReadable(fds: Int32Array, onReadable: () => void, ownThread?: boolean)");
  }
  Napi::Int32Array a = info[0].As<Napi::Int32Array>();
  std::vector<int> fds(a.Data(), a.Data() + a.ElementLength());
  // The event loop's own epoll when every fd can be polled there (tracefs's can) and is ours alone; the poll thread
  // when the caller says an fd is also libuv's (standard output: two watchers of one fd in one loop break libuv) or
  // when one cannot be polled there.
  const bool ownThread = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  if (UvReadableWatcher* uw = ownThread ? nullptr : UvReadableWatcher::Start(env, fds, info[1].As<Napi::Function>())) {
    // Stop() frees it once libuv has closed its handles.
    Napi::Object handle = WatcherHandle(env, uw, [](UvReadableWatcher* x) { x->Stop(); });
    handle.Set("mode", Napi::String::New(env, "event-loop"));
    return handle;
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return ThrowErrno(env, {errno, "eventfd"});
  Napi::ThreadSafeFunction tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "halfopen.watchReadable", 0, 1);
  return WatcherHandle(env, new ReadableWatcher(std::move(fds), wake, tsfn), [](ReadableWatcher* x) {
    x->Stop();
    delete x;
  });
}

// ---- the tracefs records of watch's hot path, decoded here (createStateDecoder) ----

// The ids of kernel socket addresses: one small integer per skaddr for as long as it may matter, so JavaScript keys
// a socket by a short string made once per id instead of a hex string made (and hashed) per record, and the core's
// tracker finds its attempt by array index (the events' `slot`). Open addressing
// on the 64-bit address. An entry is live while its latest connect (CLOSE->SYN_SENT) is newer than its latest leave;
// when the table is half full, entries that left more than kIdleNs ago and live ones silent for kStaleNs are evicted
// (their ids reused), and it doubles if it is still more than 3/8 full. The path without the helper keys sockets
// by their address in hex instead (tracefs-decode.ts).
class SocketIds {
 public:
  static constexpr uint64_t kIdleNs = 10'000'000'000ULL;
  static constexpr uint64_t kStaleNs = 3'600'000'000'000ULL;
  // kind: 1 connect, 2 leave, 0 other (reset, retransmit: looked up, added if new, never live by itself).
  int32_t Id(uint64_t key, int kind, uint64_t ts) {
    if (ts > newest_) newest_ = ts;
    size_t i = Find(key);
    if (slots_[i].id == 0) {
      if ((count_ + 1) * 2 > slots_.size()) {
        Sweep();
        i = Find(key);
      }
      int32_t id;
      if (!free_.empty()) {
        id = free_.back();
        free_.pop_back();
      } else {
        id = next_++;
      }
      slots_[i] = Slot{key, id, 0, 0};
      count_++;
    }
    Slot& s = slots_[i];
    if (kind == 1 && ts > s.connectTs) s.connectTs = ts;
    if (kind == 2 && ts > s.leaveTs) s.leaveTs = ts;
    return s.id;
  }
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key;
    int32_t id;  // 0: empty
    uint64_t connectTs;
    uint64_t leaveTs;
  };
  std::vector<Slot> slots_ = std::vector<Slot>(4096);
  std::vector<int32_t> free_;
  size_t count_ = 0;
  int32_t next_ = 1;
  uint64_t newest_ = 0;

  size_t Find(uint64_t key) const {
    const size_t mask = slots_.size() - 1;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
    while (slots_[i].id != 0 && slots_[i].key != key) i = (i + 1) & mask;
    return i;
  }
  void Sweep() {
    std::vector<Slot> keep;
    keep.reserve(count_);
    for (const Slot& s : slots_) {
      if (s.id == 0) continue;
      const bool live = s.connectTs > s.leaveTs;
      const uint64_t last = live ? s.connectTs : std::max(s.leaveTs, s.connectTs);
      const uint64_t idle = live ? kStaleNs : kIdleNs;
      if (newest_ > last && newest_ - last > idle) free_.push_back(s.id);
      else keep.push_back(s);
    }
    size_t size = slots_.size();
    if (keep.size() * 8 > size * 3) size *= 2;
    slots_.assign(size, Slot{0, 0, 0, 0});
    count_ = keep.size();
    for (const Slot& s : keep) slots_[Find(s.key)] = s;
  }
};

// Field offsets and sizes from the kernel's format files, in the order of StateDecoderConfig (tracefs-columns.ts).
struct FieldAt {
  int32_t offset;
  int32_t size;
  bool isSigned;
};

uint64_t ReadField(const uint8_t* p, const FieldAt& f) {
  switch (f.size) {
    case 1:
      return p[f.offset];
    case 2: {
      uint16_t v;
      memcpy(&v, p + f.offset, 2);
      return v;
    }
    case 4: {
      uint32_t v;
      memcpy(&v, p + f.offset, 4);
      return f.isSigned ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v))) : v;
    }
    default: {
      uint64_t v;
      memcpy(&v, p + f.offset, 8);
      return v;
    }
  }
}

class StateDecoder {
 public:
  // config: Int32Array; see tracefs-columns.ts (stateDecoderConfig) for the order.
  explicit StateDecoder(const int32_t* c) {
    tsOffset_ = c[0];
    commitOffset_ = c[1];
    commitSize_ = c[2];
    dataOffset_ = c[3];
    typeOffset_ = c[4];
    pidOffset_ = c[5];
    flagsOffset_ = c[6];
    stateId_ = c[7];
    for (int k = 0; k < 7; k++) state_[k] = FieldAt{c[8 + 3 * k], c[9 + 3 * k], c[10 + 3 * k] != 0};
    saddr_ = c[29];
    daddr_ = c[30];
    resetId_ = c[31];
    resetSk_ = FieldAt{c[32], c[33], false};
    retransmitId_ = c[34];
    retransmitSk_ = FieldAt{c[35], c[36], false};
    retransmitState_ = FieldAt{c[37], c[38], c[39] != 0};
  }
  size_t ids() const { return ids_.size(); }
  size_t DataOffset() const { return static_cast<size_t>(dataOffset_); }
  static constexpr int kConfigLength = 40;
  static constexpr int kStride = 8;

  // Decodes one page of `len` bytes at `page` (its offset in the caller's buffer: `base`) into the columns from
  // record `n`; returns the new count, or -1 when the page is malformed, -2 when the columns are full. *lost: set
  // when the page says events were lost before it; *data: the bytes of events it holds.
  int64_t Page(const uint8_t* page, size_t len, size_t base, double* ts, int32_t* f, int64_t n, int64_t cap, bool* lost, size_t* data = nullptr) {
    if (len < static_cast<size_t>(dataOffset_)) return -1;
    uint64_t stamp;
    memcpy(&stamp, page + tsOffset_, 8);
    uint64_t commit = 0;
    if (commitSize_ == 8) {
      memcpy(&commit, page + commitOffset_, 8);
      commit &= 0xffffffffULL;
    } else {
      uint32_t c32;
      memcpy(&c32, page + commitOffset_, 4);
      commit = c32;
    }
    const size_t size = commit & 0xfffff;
    const size_t end = dataOffset_ + size;
    if (end > len) return -1;
    if (data) *data = size;
    if (commit & (3ULL << 30)) *lost = true;
    uint64_t t = stamp;
    size_t pos = dataOffset_;
    while (pos + 4 <= end) {
      uint32_t header;
      memcpy(&header, page + pos, 4);
      const uint32_t typeLen = header & 0x1f;
      const uint64_t delta = header >> 5;
      uint32_t word = 0;
      if (pos + 8 <= end) memcpy(&word, page + pos + 4, 4);
      if (typeLen == 29) {
        if (delta == 0 || pos + 8 > end) break;
        t += delta;
        pos += 4 + word;
        continue;
      }
      if (typeLen == 30) {
        t += (static_cast<uint64_t>(word) << 27) + delta;
        pos += 8;
        continue;
      }
      if (typeLen == 31) {
        t = (stamp >> 59 << 59) + (static_cast<uint64_t>(word) << 27) + delta;
        pos += 8;
        continue;
      }
      t += delta;
      size_t length, payload;
      if (typeLen == 0) {
        if (word < 4) return -1;
        length = word - 4;
        payload = pos + 8;
      } else {
        length = typeLen * 4;
        payload = pos + 4;
      }
      if (length == 0 || payload + length > end) return -1;
      if (n >= cap) return -2;
      Record(page + payload, length, base + payload, t, ts + n, f + n * kStride);
      n++;
      pos = payload + length;
    }
    return n;
  }

 private:
  int32_t tsOffset_, commitOffset_, commitSize_, dataOffset_, typeOffset_, pidOffset_, flagsOffset_;
  int32_t stateId_, resetId_, retransmitId_;
  // skaddr, oldstate, newstate, sport, dport, family, (unused)
  FieldAt state_[7];
  int32_t saddr_, daddr_;
  FieldAt resetSk_, retransmitSk_, retransmitState_;
  SocketIds ids_;

  void Record(const uint8_t* p, size_t length, size_t at, uint64_t t, double* ts, int32_t* f) {
    uint16_t type;
    memcpy(&type, p + typeOffset_, 2);
    *ts = static_cast<double>(t);
    f[0] = 0;
    f[7] = static_cast<int32_t>(at);
    (void)length;
    if (type == stateId_) {
      const uint32_t oldState = static_cast<uint32_t>(ReadField(p, state_[1]));
      const uint32_t newState = static_cast<uint32_t>(ReadField(p, state_[2]));
      const int kind = newState == 2 ? 1 : oldState == 2 ? 2 : 0;
      int32_t tid;
      memcpy(&tid, p + pidOffset_, 4);
      f[0] = 1 | ((p[flagsOffset_] & 0x58) != 0 ? 0x100 : 0);
      f[1] = tid;
      f[2] = ids_.Id(ReadField(p, state_[0]), kind, t);
      f[3] = static_cast<int32_t>((oldState & 0xff) | ((newState & 0xff) << 8) | ((ReadField(p, state_[5]) == 10 ? 6 : 4) << 16));
      f[4] = static_cast<int32_t>((ReadField(p, state_[3]) & 0xffff) | ((ReadField(p, state_[4]) & 0xffff) << 16));
      memcpy(&f[5], p + saddr_, 4);
      memcpy(&f[6], p + daddr_, 4);
    } else if (type == resetId_) {
      f[0] = 2;
      f[2] = ids_.Id(ReadField(p, resetSk_), 0, t);
    } else if (type == retransmitId_) {
      f[0] = 3;
      f[2] = ids_.Id(ReadField(p, retransmitSk_), 0, t);
      f[3] = static_cast<int32_t>(ReadField(p, retransmitState_) & 0xff);
    }
  }
};

// A page with more room left than this was not full: the writer was still on it.
constexpr size_t kFullSlack = 256;

struct DecodeOut {
  double* ts;
  int32_t* fields;
  int64_t cap;
  int32_t* meta;
};

// (ts: Float64Array, fields: Int32Array, meta: Int32Array) at info[i..i+2], checked; false after throwing.
bool DecodeOutAt(const Napi::CallbackInfo& info, size_t i, DecodeOut* out) {
  auto is = [&](size_t k, napi_typedarray_type t) { return info.Length() > k && info[k].IsTypedArray() && info[k].As<Napi::TypedArray>().TypedArrayType() == t; };
  if (!is(i, napi_float64_array) || !is(i + 1, napi_int32_array) || !is(i + 2, napi_int32_array)) return false;
  Napi::Float64Array ts = info[i].As<Napi::Float64Array>();
  Napi::Int32Array fields = info[i + 1].As<Napi::Int32Array>();
  Napi::Int32Array meta = info[i + 2].As<Napi::Int32Array>();
  if (meta.ElementLength() < 4) return false;
  out->ts = ts.Data();
  out->fields = fields.Data();
  out->cap = std::min<int64_t>(ts.ElementLength(), fields.ElementLength() / StateDecoder::kStride);
  out->meta = meta.Data();
  return true;
}

Napi::Value PageError(Napi::Env env, int64_t why, size_t offset) {
  Napi::Error e = Napi::Error::New(env, why == -2 ? "decoded records exceed the columns given" : "malformed ring-buffer page at offset " + std::to_string(offset));
  e.Set("code", Napi::String::New(env, why == -2 ? "ECOLUMNS" : "EBADPAGE"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// createStateDecoder(config) -> { read(fds, buf, pageSize, maxPagesPerFd, ts, fields, meta, ready?), decode(buf, lengths,
// pageSize, ts, fields, meta), ids() }: see the header of this file. Records go to ts[i] and fields[i*8 .. i*8+7]
// from i = 0; meta: [records, pages, a page said events were lost (1), stopped for room in the columns (1)].
Napi::Value CreateStateDecoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || info[0].As<Napi::Int32Array>().ElementLength() < StateDecoder::kConfigLength) {
    return BadArgument(env, "createStateDecoder(config: Int32Array of 40)");
  }
  auto d = std::make_shared<StateDecoder>(info[0].As<Napi::Int32Array>().Data());
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("read", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    DecodeOut out;
    if (info.Length() < 7 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber() || !DecodeOutAt(info, 4, &out)) {
      return BadArgument(env, "read(fds: Int32Array, buf: Buffer, pageSize: number, maxPagesPerFd: number, ts: Float64Array, fields: Int32Array, meta: Int32Array)");
    }
    Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
    Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
    const int64_t page = info[2].As<Napi::Number>().Int64Value();
    const int64_t max = info[3].As<Napi::Number>().Int64Value();
    if (page <= 0 || max <= 0 || static_cast<uint64_t>(page) * static_cast<uint64_t>(max) * fds.ElementLength() > buf.Length()) {
      return BadArgument(env, "read: buf must hold maxPagesPerFd pages of pageSize for every fd");
    }
    // ready (optional): fd i is read only when ready[i] is set (pollReadable said so): an idle CPU costs no read.
    const uint8_t* ready = nullptr;
    if (info.Length() > 7 && !info[7].IsUndefined()) {
      if (!info[7].IsTypedArray() || info[7].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || info[7].As<Napi::Uint8Array>().ElementLength() < fds.ElementLength()) {
        return BadArgument(env, "read: ready must be a Uint8Array of at least fds.length");
      }
      ready = info[7].As<Napi::Uint8Array>().Data();
    }
    int64_t n = 0;
    int32_t pages = 0;
    bool lost = false;
    bool full = false;
    for (size_t i = 0; i < fds.ElementLength() && !full; i++) {
      if (ready && !ready[i]) continue;
      int shortPages = 0;
      for (int64_t k = 0; k < max; k++) {
        // Room for a page of the smallest records (8 bytes each), or stop here: the caller grows the columns and calls again.
        if (out.cap - n < page / 8) {
          full = true;
          break;
        }
        const size_t at = static_cast<size_t>(pages) * page;
        ssize_t got = read(fds[i], buf.Data() + at, static_cast<size_t>(page));
        if (got < 0 && errno == EINTR) {
          k--;
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got < 0) return ThrowErrno(env, {errno, "read(trace_pipe_raw)"});
        if (got == 0) break;
        pages++;
        size_t data = 0;
        const int64_t next = d->Page(buf.Data() + at, static_cast<size_t>(got), at, out.ts, out.fields, n, out.cap, &lost, &data);
        if (next < 0) return PageError(env, next, at);
        n = next;
        // Two pages well short of full in a row: the second was the one being written (the first can be the rest of a
        // page read in part before, with full pages after it), so what came since is read next time. Reading on
        // until EAGAIN made a read per handful of events under a flood.
        if (data + kFullSlack < static_cast<size_t>(page) - d->DataOffset()) {
          if (++shortPages == 2) break;
        } else {
          shortPages = 0;
        }
      }
    }
    out.meta[0] = static_cast<int32_t>(n);
    out.meta[1] = pages;
    out.meta[2] = lost ? 1 : 0;
    out.meta[3] = full ? 1 : 0;
    return env.Undefined();
  }));
  handle.Set("decode", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    DecodeOut out;
    if (info.Length() < 6 || !info[0].IsBuffer() || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[2].IsNumber() || !DecodeOutAt(info, 3, &out)) {
      return BadArgument(env, "decode(buf: Buffer, lengths: Int32Array, pageSize: number, ts: Float64Array, fields: Int32Array, meta: Int32Array)");
    }
    Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
    Napi::Int32Array lengths = info[1].As<Napi::Int32Array>();
    const int64_t page = info[2].As<Napi::Number>().Int64Value();
    if (page <= 0 || static_cast<uint64_t>(page) * lengths.ElementLength() > buf.Length()) return BadArgument(env, "decode: buf must hold a page of pageSize for every length");
    int64_t n = 0;
    bool lost = false;
    for (size_t i = 0; i < lengths.ElementLength(); i++) {
      const size_t at = i * page;
      const int32_t len = lengths[i];
      if (len < 0 || len > page) return BadArgument(env, "decode: a length is outside 0..pageSize");
      const int64_t next = d->Page(buf.Data() + at, static_cast<size_t>(len), at, out.ts, out.fields, n, out.cap, &lost);
      if (next < 0) return PageError(env, next, at);
      n = next;
    }
    out.meta[0] = static_cast<int32_t>(n);
    out.meta[1] = static_cast<int32_t>(lengths.ElementLength());
    out.meta[2] = lost ? 1 : 0;
    out.meta[3] = 0;
    return env.Undefined();
  }));
  handle.Set("ids", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(d->ids())); }));
  return handle;
}

Napi::Value RaiseNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return ThrowErrno(env, {errno, "getrlimit(RLIMIT_NOFILE)"});
  double before = static_cast<double>(r.rlim_cur);
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) return ThrowErrno(env, {errno, "setrlimit(RLIMIT_NOFILE)"});
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("before", Napi::Number::New(env, before));
  out.Set("soft", Napi::Number::New(env, static_cast<double>(r.rlim_cur)));
  out.Set("hard", Napi::Number::New(env, static_cast<double>(r.rlim_max)));
  return out;
}

// ---- discover: ICMP echo and TCP ACK sweeps (no connection state) ----

uint16_t Checksum(const uint8_t* data, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += (static_cast<uint32_t>(data[i]) << 8) | data[i + 1];
  if (len & 1) sum += static_cast<uint32_t>(data[len - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// The local address the kernel would use toward `dst` (host order), via a UDP connect (sends nothing).
uint32_t SourceFor(uint32_t dst) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(9);
  sa.sin_addr.s_addr = htonl(dst);
  uint32_t out = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) out = ntohl(local.sin_addr.s_addr);
  }
  close(fd);
  return out;
}

// An address of either family: IPv4 in the first 4 bytes (network order), or IPv6's 16.
using Address = std::array<uint8_t, 16>;

class DiscoverWorker : public Napi::AsyncWorker {
 public:
  DiscoverWorker(Napi::Env env, int family, std::vector<Address> targets, bool icmp, std::vector<uint16_t> ackPorts, int timeoutMs, double perSecond, uint16_t sourcePort)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), family_(family), targets_(std::move(targets)), icmp_(icmp), ackPorts_(std::move(ackPorts)),
        timeoutMs_(timeoutMs), perSecond_(perSecond), sourcePort_(sourcePort) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    using Clock = std::chrono::steady_clock;
    const bool v6 = family_ == AF_INET6;
    const int icmpProto = v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP);
    const size_t alen = v6 ? 16 : 4;
    int icmpFd = -1, tcpFd = -1;
    bool raw = true;
    if (icmp_ || !ackPorts_.empty()) icmpFd = socket(family_, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, icmpProto);
    if (icmpFd < 0) {
      raw = false;
      if (errno != EPERM && errno != EACCES) return Fail(errno, "socket(SOCK_RAW, ICMP)");
      // No CAP_NET_RAW: a ping socket, where ping_group_range allows it; no ACK probes.
      icmpFd = socket(family_, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, icmpProto);
      if (icmpFd < 0) return Fail(errno == EACCES ? EPERM : errno, "socket(SOCK_DGRAM, ICMP)");
      mode_ = "ping-socket";
      icmp_ = true;
    } else {
      mode_ = "raw";
      if (v6) {
        // Only echo replies reach the socket (the kernel fills in ICMPv6 checksums itself).
        icmp6_filter filter;
        ICMP6_FILTER_SETBLOCKALL(&filter);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
        setsockopt(icmpFd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
      }
      if (!ackPorts_.empty()) {
        tcpFd = socket(family_, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
        int offset = 16;  // IPv6: the kernel computes the TCP checksum (pseudo-header included) at this offset
        if (tcpFd < 0 || (v6 && setsockopt(tcpFd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof offset) != 0)) {
          int e = errno;
          close(icmpFd);
          if (tcpFd >= 0) close(tcpFd);
          return Fail(e, "socket(SOCK_RAW, IPPROTO_TCP)");
        }
      }
    }
    const uint16_t ident = static_cast<uint16_t>(getpid() & 0xffff);
    auto key = [&](const uint8_t* a) { return std::string(reinterpret_cast<const char*>(a), alen); };
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < targets_.size(); i++) index.emplace(key(targets_[i].data()), i);
    std::vector<double> sentAt(targets_.size(), -1), got(targets_.size(), 0), rtt(targets_.size(), 0);
    const auto t0 = Clock::now();
    auto ms = [&]() { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
    const double gap = perSecond_ > 0 ? 1000.0 / perSecond_ : 0;

    auto drain = [&](int waitMs) {
      pollfd fds[2];
      int n = 0;
      fds[n++] = {icmpFd, POLLIN, 0};
      if (tcpFd >= 0) fds[n++] = {tcpFd, POLLIN, 0};
      if (poll(fds, n, waitMs) <= 0) return;
      uint8_t buf[2048];
      for (int k = 0; k < n; k++) {
        if (!(fds[k].revents & POLLIN)) continue;
        for (;;) {
          sockaddr_storage from{};
          socklen_t fl = sizeof from;
          ssize_t r = recvfrom(fds[k].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
          if (r <= 0) break;
          const uint8_t* src = v6 ? reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr.s6_addr : reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(&from)->sin_addr.s_addr);
          auto it = index.find(key(src));
          if (it == index.end()) continue;
          size_t i = it->second;
          const uint8_t* p = buf;
          size_t len = static_cast<size_t>(r);
          if (raw && !v6) {  // IPv4 raw sockets deliver the IP header; IPv6 ones do not
            if (len < 20) continue;
            size_t ihl = (buf[0] & 0x0f) * 4u;
            if (len < ihl) continue;
            p += ihl;
            len -= ihl;
          }
          double kind = 0;
          if (fds[k].fd == icmpFd) {
            if (len < 8 || p[0] != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY)) continue;
            if (raw && ((p[4] << 8) | p[5]) != ident) continue;
            kind = 1;
          } else {
            if (len < 20) continue;
            uint16_t dport = static_cast<uint16_t>((p[2] << 8) | p[3]);
            if (dport != sourcePort_ || !(p[13] & 0x04)) continue;  // a RST to our probe's port
            kind = 2;
          }
          if (got[i] == 0 && sentAt[i] >= 0) {
            got[i] = kind;
            rtt[i] = ms() - sentAt[i];
          }
        }
      }
    };

    for (size_t i = 0; i < targets_.size(); i++) {
      const double due = static_cast<double>(i) * gap;
      while (ms() < due) drain(std::max(1, static_cast<int>(due - ms())));
      sockaddr_storage dst{};
      socklen_t dlen;
      if (v6) {
        auto* d = reinterpret_cast<sockaddr_in6*>(&dst);
        d->sin6_family = AF_INET6;
        std::memcpy(d->sin6_addr.s6_addr, targets_[i].data(), 16);
        dlen = sizeof(sockaddr_in6);
      } else {
        auto* d = reinterpret_cast<sockaddr_in*>(&dst);
        d->sin_family = AF_INET;
        std::memcpy(&d->sin_addr.s_addr, targets_[i].data(), 4);
        dlen = sizeof(sockaddr_in);
      }
      const uint8_t* a = targets_[i].data();
      sentAt[i] = ms();
      if (icmp_) {
        uint8_t pkt[16] = {static_cast<uint8_t>(v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO), 0, 0, 0, static_cast<uint8_t>(ident >> 8), static_cast<uint8_t>(ident), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        std::memcpy(pkt + 8, "halfopen", 8);
        if (!v6) {
          uint16_t c = Checksum(pkt, sizeof pkt);
          pkt[2] = static_cast<uint8_t>(c >> 8);
          pkt[3] = static_cast<uint8_t>(c);
        }
        sendto(icmpFd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&dst), dlen);
      }
      if (tcpFd >= 0) {
        uint32_t src = v6 ? 0 : SourceFor((static_cast<uint32_t>(a[0]) << 24) | (a[1] << 16) | (a[2] << 8) | a[3]);
        for (uint16_t port : ackPorts_) {
          uint8_t tcp[20] = {};
          tcp[0] = static_cast<uint8_t>(sourcePort_ >> 8);
          tcp[1] = static_cast<uint8_t>(sourcePort_);
          tcp[2] = static_cast<uint8_t>(port >> 8);
          tcp[3] = static_cast<uint8_t>(port);
          uint32_t ack = 0x68616c66u ^ (static_cast<uint32_t>(a[alen - 4]) << 24 | a[alen - 3] << 16 | a[alen - 2] << 8 | a[alen - 1]);  // any number: a stray ACK draws a RST either way
          tcp[8] = static_cast<uint8_t>(ack >> 24);
          tcp[9] = static_cast<uint8_t>(ack >> 16);
          tcp[10] = static_cast<uint8_t>(ack >> 8);
          tcp[11] = static_cast<uint8_t>(ack);
          tcp[12] = 5 << 4;         // data offset: 20 bytes
          tcp[13] = 0x10;           // ACK
          tcp[14] = 0x04;           // window 1024
          if (!v6) {
            uint8_t pseudo[12] = {static_cast<uint8_t>(src >> 24), static_cast<uint8_t>(src >> 16), static_cast<uint8_t>(src >> 8), static_cast<uint8_t>(src), a[0], a[1], a[2], a[3], 0, IPPROTO_TCP, 0, 20};
            uint32_t sum = 0;
            for (size_t j = 0; j < sizeof pseudo; j += 2) sum += (static_cast<uint32_t>(pseudo[j]) << 8) | pseudo[j + 1];
            uint16_t c = Checksum(tcp, sizeof tcp, sum);
            tcp[16] = static_cast<uint8_t>(c >> 8);
            tcp[17] = static_cast<uint8_t>(c);
          }
          sendto(tcpFd, tcp, sizeof tcp, 0, reinterpret_cast<sockaddr*>(&dst), dlen);
        }
      }
      drain(0);
    }
    const double end = ms() + timeoutMs_;
    for (;;) {
      bool all = std::all_of(got.begin(), got.end(), [](double g) { return g != 0; });
      double left = end - ms();
      if (all || left <= 0) break;
      drain(std::max(1, static_cast<int>(left)));
    }
    close(icmpFd);
    if (tcpFd >= 0) close(tcpFd);
    for (size_t i = 0; i < targets_.size(); i++)
      if (got[i] != 0) {
        // IPv4: the address itself (host order); IPv6 (128 bits do not fit a double): its index in the input.
        const uint8_t* t = targets_[i].data();
        out_.push_back(v6 ? static_cast<double>(i) : static_cast<double>((static_cast<uint32_t>(t[0]) << 24) | (t[1] << 16) | (t[2] << 8) | t[3]));
        out_.push_back(got[i]);
        out_.push_back(rtt[i]);
      }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (err_ != 0) {
      Napi::Error e = Napi::Error::New(env, what_ + ": " + std::strerror(err_));
      const char* name = err_ == EPERM ? "EPERM" : err_ == EACCES ? "EACCES" : err_ == EMFILE ? "EMFILE" : "EIO";
      e.Set("code", Napi::String::New(env, name));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Float64Array replies = Napi::Float64Array::New(env, out_.size());
    for (size_t i = 0; i < out_.size(); i++) replies[i] = out_[i];
    Napi::Object result = Napi::Object::New(env);
    result.Set("replies", replies);
    result.Set("mode", Napi::String::New(env, mode_));
    deferred_.Resolve(result);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  void Fail(int err, const char* what) {
    err_ = err;
    what_ = what;
  }
  Napi::Promise::Deferred deferred_;
  int family_;
  std::vector<Address> targets_;
  bool icmp_;
  std::vector<uint16_t> ackPorts_;
  int timeoutMs_;
  double perSecond_;
  uint16_t sourcePort_;
  std::vector<double> out_;
  std::string mode_ = "raw";
  int err_ = 0;
  std::string what_;
};

// discover (IPv4: a Uint32Array of addresses in host order) and discover6 (IPv6: a Uint8Array of 16-byte addresses).
Napi::Value DiscoverFamily(const Napi::CallbackInfo& info, int family) {
  Napi::Env env = info.Env();
  const bool v6 = family == AF_INET6;
  const char* usage = v6 ? "discover6(addresses: Uint8Array of 16-byte addresses, options)" : "discover(addresses: Uint32Array, options)";
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsObject()) return BadArgument(env, usage);
  std::vector<Address> targets;
  if (v6) {
    if (info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return BadArgument(env, usage);
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    if (a.ElementLength() % 16 != 0) return BadArgument(env, usage);
    for (size_t i = 0; i < a.ElementLength(); i += 16) {
      Address x{};
      std::memcpy(x.data(), a.Data() + i, 16);
      targets.push_back(x);
    }
  } else {
    if (info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) return BadArgument(env, usage);
    Napi::Uint32Array a = info[0].As<Napi::Uint32Array>();
    for (size_t i = 0; i < a.ElementLength(); i++) {
      Address x{};
      uint32_t n = a[i];
      x[0] = static_cast<uint8_t>(n >> 24);
      x[1] = static_cast<uint8_t>(n >> 16);
      x[2] = static_cast<uint8_t>(n >> 8);
      x[3] = static_cast<uint8_t>(n);
      targets.push_back(x);
    }
  }
  Napi::Object o = info[1].As<Napi::Object>();
  bool icmp = o.Get("icmp").ToBoolean().Value();
  std::vector<uint16_t> ports;
  Napi::Value pv = o.Get("ackPorts");
  if (pv.IsArray()) {
    Napi::Array arr = pv.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      uint32_t p = arr.Get(i).ToNumber().Uint32Value();
      if (p < 1 || p > 65535) return BadArgument(env, "discover: ackPorts must be 1 to 65535");
      ports.push_back(static_cast<uint16_t>(p));
    }
  }
  int timeoutMs = o.Get("timeoutMs").ToNumber().Int32Value();
  double perSecond = o.Get("perSecond").ToNumber().DoubleValue();
  uint32_t sourcePort = o.Get("sourcePort").ToNumber().Uint32Value();
  if (timeoutMs < 0 || timeoutMs > 600000 || sourcePort < 1 || sourcePort > 65535) return BadArgument(env, "discover: timeoutMs 0-600000, sourcePort 1-65535");
  auto* worker = new DiscoverWorker(env, family, std::move(targets), icmp, std::move(ports), timeoutMs, perSecond, static_cast<uint16_t>(sourcePort));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}


// ---- capture: TCP SYNs, SYN-ACKs and RSTs for the raw-sender tracer ----

// The kernel-side filter. A SOCK_DGRAM packet socket's filter sees the
// packet from its network header; SKF_AD_PROTOCOL is the ethertype and
// SKF_AD_PKTTYPE says outgoing (4) or not.
const sock_filter kSynFilter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 7),
    // IPv4: TCP, first fragment, flags at 13 past the IP header.
    /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 20),
    /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 18, 0),
    /* 6 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
    /* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13),
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JA, 4, 0, 0),
    // IPv6: TCP right after the fixed header (extension headers are not followed).
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 14),
    /* 10 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 12),
    /* 12 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 53),
    // A = TCP flags.
    /* 13 */ BPF_STMT(BPF_ST, 0),
    /* 14 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
    /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 3),
    // Outgoing: SYN without ACK.
    /* 16 */ BPF_STMT(BPF_LD | BPF_MEM, 0),
    /* 17 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
    /* 18 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 4, 5),
    // Incoming: RST, or SYN with ACK.
    /* 19 */ BPF_STMT(BPF_LD | BPF_MEM, 0),
    /* 20 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x04, 2, 0),
    /* 21 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
    /* 22 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x12, 0, 1),
    /* 23 */ BPF_STMT(BPF_RET | BPF_K, 128),
    /* 24 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

// DNS answers coming in: UDP from port 53 (IPv4, first fragment; IPv6 without
// extension headers), not outgoing, snapped to 2048 bytes.
const sock_filter kDnsFilter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 15, 0),
    /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 7),
    /* 4 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 11),
    /* 6 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
    /* 7 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 9, 0),
    /* 8 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
    /* 9 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
    /* 10 */ BPF_JUMP(BPF_JMP | BPF_JA, 4, 0, 0),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),
    /* 12 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
    /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
    /* 14 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40),
    // A = UDP source port (IPv4 path jumps here from 10; IPv6 falls through from 14).
    /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 53, 0, 1),
    /* 16 */ BPF_STMT(BPF_RET | BPF_K, 2048),
    /* 17 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

bool OpenCaptureSockets(int count, int kind, std::vector<int>& fds, Failure& fail) {
  sock_fprog prog = kind == 1 ? sock_fprog{static_cast<unsigned short>(sizeof kDnsFilter / sizeof kDnsFilter[0]), const_cast<sock_filter*>(kDnsFilter)}
                              : sock_fprog{static_cast<unsigned short>(sizeof kSynFilter / sizeof kSynFilter[0]), const_cast<sock_filter*>(kSynFilter)};
  int group = 0;
  for (int i = 0; i < count; i++) {
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      fail = {errno, "socket(AF_PACKET)"};
      return false;
    }
    fds.push_back(fd);
    // Filter first and bind after, so nothing unfiltered is ever queued.
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
      fail = {errno, "setsockopt(SO_ATTACH_FILTER)"};
      return false;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    // 16 MiB: about a fifth of a second of a 50,000 SYN/s scan and its answers, while the JS thread is busy.
    int rcvbuf = 16 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      fail = {errno, "bind(AF_PACKET)"};
      return false;
    }
    if (count > 1) {
      // The first socket gets a group id from the kernel; the others join it.
      int arg = i == 0 ? ((PACKET_FANOUT_CPU | PACKET_FANOUT_FLAG_UNIQUEID) << 16) : (group | (PACKET_FANOUT_CPU << 16));
      if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
        fail = {errno, "setsockopt(PACKET_FANOUT)"};
        return false;
      }
      if (i == 0) {
        int got = 0;
        socklen_t len = sizeof got;
        if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) {
          fail = {errno, "getsockopt(PACKET_FANOUT)"};
          return false;
        }
        group = got & 0xffff;
      }
    }
  }
  return true;
}

Napi::Value CaptureOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) return BadArgument(env, "captureOpen(netnsPath: string, sockets: number, kind?: 0 | 1)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int count = info[1].As<Napi::Number>().Int32Value();
  int kind = info.Length() >= 3 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  if (count < 1 || count > 4096) return BadArgument(env, "captureOpen: sockets must be 1..4096");
  std::vector<int> fds;
  Failure fail;
  bool ok = false;
  std::thread t([&] {
    if (!JoinNetns(path, fail)) return;
    ok = OpenCaptureSockets(count, kind, fds, fail);
  });
  t.join();
  if (!ok) {
    for (int fd : fds) close(fd);
    return ThrowErrno(env, fail);
  }
  Napi::Int32Array out = Napi::Int32Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) out[i] = fds[i];
  return out;
}

int64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Napi::Value CaptureRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsNumber()) {
    return BadArgument(env, "captureRead(fds: Int32Array, maxPackets: number, snap?: number)");
  }
  Napi::Int32Array a = info[0].As<Napi::Int32Array>();
  int max = info[1].As<Napi::Number>().Int32Value();
  constexpr int kBatch = 64;
  constexpr int kMaxSnap = 2048;
  const int kSnap = std::clamp(info.Length() >= 3 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 128, 64, kMaxSnap);
  // REALTIME - MONOTONIC, read between two MONOTONIC reads: steps of the wall clock are followed at every read.
  int64_t m0 = ClockNs(CLOCK_MONOTONIC);
  int64_t rt = ClockNs(CLOCK_REALTIME);
  int64_t m1 = ClockNs(CLOCK_MONOTONIC);
  int64_t offset = rt - (m0 + (m1 - m0) / 2);
  std::vector<uint8_t> out;
  static thread_local uint8_t bufs[kBatch][kMaxSnap];
  static thread_local uint8_t ctrl[kBatch][64];
  sockaddr_ll from[kBatch];
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  int total = 0;
  for (size_t s = 0; s < a.ElementLength() && total < max; s++) {
    int fd = a[s];
    while (total < max) {
      int want = std::min(kBatch, max - total);
      for (int i = 0; i < want; i++) {
        iov[i] = {bufs[i], static_cast<size_t>(kSnap)};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        msgs[i].msg_hdr.msg_control = ctrl[i];
        msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
      }
      // MSG_TRUNC: msg_len is the packet's length, not what was kept.
      int n = recvmmsg(fd, msgs, want, MSG_DONTWAIT | MSG_TRUNC, nullptr);
      if (n <= 0) break;
      for (int i = 0; i < n; i++) {
        int64_t stamp = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            timespec ts;
            std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
            stamp = static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
          }
        }
        double mono = stamp != 0 ? static_cast<double>(stamp - offset) : static_cast<double>(ClockNs(CLOCK_MONOTONIC));
        uint32_t len = msgs[i].msg_len;
        uint16_t cap = static_cast<uint16_t>(std::min<uint32_t>(len, static_cast<uint32_t>(kSnap)));
        size_t at = out.size();
        size_t padded = (cap + 7u) & ~7u;
        out.resize(at + 32 + padded, 0);
        uint8_t* r = out.data() + at;
        uint32_t index = static_cast<uint32_t>(s);
        int32_t ifindex = from[i].sll_ifindex;
        uint16_t proto = ntohs(from[i].sll_protocol);
        std::memcpy(r, &mono, 8);
        std::memcpy(r + 8, &index, 4);
        std::memcpy(r + 12, &ifindex, 4);
        std::memcpy(r + 16, &proto, 2);
        r[18] = from[i].sll_pkttype;
        std::memcpy(r + 20, &cap, 2);
        std::memcpy(r + 24, &len, 4);
        std::memcpy(r + 32, bufs[i], cap);
      }
      total += n;
      if (n < want) break;
    }
  }
  if (out.empty()) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

Napi::Value PollReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || info[1].As<Napi::Uint8Array>().ElementLength() < info[0].As<Napi::Int32Array>().ElementLength()) {
    return BadArgument(env, "pollReadable(fds: Int32Array, ready: Uint8Array of at least fds.length)");
  }
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  Napi::Uint8Array ready = info[1].As<Napi::Uint8Array>();
  std::vector<pollfd> p(fds.ElementLength());
  for (size_t i = 0; i < p.size(); i++) p[i] = {fds[i], POLLIN, 0};
  int n = 0;
  if (!p.empty()) {
    do n = poll(p.data(), p.size(), 0);
    while (n < 0 && errno == EINTR);  // a signal (a profiler's SIGPROF) is no answer: ask again
  }
  if (n < 0) return ThrowErrno(env, {errno, "poll"});
  for (size_t i = 0; i < p.size(); i++) ready[i] = (p[i].revents & POLLIN) != 0 ? 1 : 0;
  return Napi::Number::New(env, n);
}

// A UDP socket with SO_TIMESTAMPNS, held open so the kernel keeps stamping
// packets: the first capture socket then opens without the ~1 ms it takes
// to switch stamping on (a static key). Returns its fd (the caller closes it).
Napi::Value HoldTimestamps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, {errno, "socket(AF_INET, SOCK_DGRAM)"});
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, {err, "setsockopt(SO_TIMESTAMPNS)"});
  }
  return Napi::Number::New(env, fd);
}

// Socket drops of a capture socket since the last call (PACKET_STATISTICS resets on read).
Napi::Value CaptureDrops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) return BadArgument(env, "captureDrops(fds: Int32Array)");
  Napi::Int32Array a = info[0].As<Napi::Int32Array>();
  double drops = 0;
  for (size_t s = 0; s < a.ElementLength(); s++) {
    tpacket_stats st{};
    socklen_t len = sizeof st;
    if (getsockopt(a[s], SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) drops += st.tp_drops;
  }
  return Napi::Number::New(env, drops);
}

// ---- NFQUEUE (watch --enforce) ----

// Append one netlink attribute (payload `len` bytes) to `msg`, 4-byte aligned.
void PutAttr(std::vector<uint8_t>& msg, uint16_t type, const void* data, uint16_t len) {
  size_t at = msg.size();
  nlattr a{static_cast<uint16_t>(NLA_HDRLEN + len), type};
  msg.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
  std::memcpy(msg.data() + at, &a, sizeof a);
  std::memcpy(msg.data() + at + NLA_HDRLEN, data, len);
}

// A nfnetlink message header for the queue subsystem.
std::vector<uint8_t> NfqHeader(uint16_t msgType, uint16_t flags, uint16_t queue, uint32_t seq) {
  std::vector<uint8_t> msg(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)), 0);
  nlmsghdr h{};
  h.nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_QUEUE << 8) | msgType);
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  std::memcpy(msg.data(), &h, sizeof h);
  nfgenmsg g{};
  g.nfgen_family = AF_UNSPEC;
  g.version = NFNETLINK_V0;
  g.res_id = htons(queue);
  std::memcpy(msg.data() + NLMSG_HDRLEN, &g, sizeof g);
  return msg;
}

// Send one config message and wait for its acknowledgement.
bool NfqConfig(int fd, std::vector<uint8_t> msg, const char* what, Failure& fail) {
  uint32_t len = static_cast<uint32_t>(msg.size());
  std::memcpy(msg.data(), &len, 4);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    fail = {errno, std::string("send(") + what + ")"};
    return false;
  }
  uint8_t buf[4096];
  for (int tries = 0; tries < 100; tries++) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) {
      fail = {ETIMEDOUT, std::string("no answer to ") + what};
      return false;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      fail = {errno, std::string("recv(") + what + ")"};
      return false;
    }
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<uint32_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0) return true;
        fail = {-e->error, what};
        return false;
      }
    }
  }
  fail = {EIO, std::string("no acknowledgement of ") + what};
  return false;
}

bool NfqBind(int fd, uint16_t queue, uint32_t maxLen, Failure& fail) {
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
    fail = {errno, "bind(NETLINK_NETFILTER)"};
    return false;
  }
  auto bindMsg = NfqHeader(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue, 1);
  nfqnl_msg_config_cmd cmd{};
  cmd.command = NFQNL_CFG_CMD_BIND;
  PutAttr(bindMsg, NFQA_CFG_CMD, &cmd, sizeof cmd);
  if (!NfqConfig(fd, bindMsg, "bind the queue", fail)) return false;
  auto params = NfqHeader(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue, 2);
  nfqnl_msg_config_params pr{};
  pr.copy_range = htonl(128);
  pr.copy_mode = NFQNL_COPY_PACKET;
  PutAttr(params, NFQA_CFG_PARAMS, &pr, sizeof pr);
  uint32_t ml = htonl(maxLen);
  PutAttr(params, NFQA_CFG_QUEUE_MAXLEN, &ml, 4);
  uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_UID_GID);
  PutAttr(params, NFQA_CFG_FLAGS, &flags, 4);
  PutAttr(params, NFQA_CFG_MASK, &flags, 4);
  return NfqConfig(fd, params, "configure the queue", fail);
}

Napi::Value NfqOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) return BadArgument(env, "nfqOpen(netnsPath: string, queueNum: number, maxLen: number)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int queue = info[1].As<Napi::Number>().Int32Value();
  int maxLen = info[2].As<Napi::Number>().Int32Value();
  if (queue < 0 || queue > 65535 || maxLen < 1) return BadArgument(env, "nfqOpen: queueNum 0..65535, maxLen >= 1");
  int fd = -1;
  Failure fail;
  bool ok = false;
  std::thread t([&] {
    if (!JoinNetns(path, fail)) return;
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
      fail = {errno, "socket(NETLINK_NETFILTER)"};
      return;
    }
    ok = NfqBind(fd, static_cast<uint16_t>(queue), static_cast<uint32_t>(maxLen), fail);
  });
  t.join();
  if (!ok) {
    if (fd >= 0) close(fd);
    return ThrowErrno(env, fail);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return Napi::Number::New(env, fd);
}

Napi::Value NfqVerdict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsTypedArray() || !info[3].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return BadArgument(env, "nfqVerdict(fd: number, queueNum: number, ids: Uint32Array, verdicts: Uint8Array)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint16_t queue = static_cast<uint16_t>(info[1].As<Napi::Number>().Int32Value());
  Napi::Uint32Array ids = info[2].As<Napi::Uint32Array>();
  Napi::Uint8Array verdicts = info[3].As<Napi::Uint8Array>();
  size_t count = std::min(ids.ElementLength(), verdicts.ElementLength());
  std::vector<uint8_t> batch;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  size_t sent = 0;
  auto flush = [&]() -> bool {
    if (batch.empty()) return true;
    for (;;) {
      if (sendto(fd, batch.data(), batch.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) >= 0) break;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == ENOBUFS) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 100);
        continue;
      }
      return false;
    }
    batch.clear();
    return true;
  };
  for (size_t i = 0; i < count; i++) {
    auto msg = NfqHeader(NFQNL_MSG_VERDICT, NLM_F_REQUEST, queue, 0);
    nfqnl_msg_verdict_hdr v{};
    v.verdict = htonl(verdicts[i] ? NF_ACCEPT : NF_DROP);
    v.id = htonl(ids[i]);
    PutAttr(msg, NFQA_VERDICT_HDR, &v, sizeof v);
    uint32_t len = static_cast<uint32_t>(msg.size());
    std::memcpy(msg.data(), &len, 4);
    batch.insert(batch.end(), msg.begin(), msg.end());
    if (batch.size() >= 32768 && !flush()) return ThrowErrno(env, {errno, "send(verdict)"});
    sent++;
  }
  if (!flush()) return ThrowErrno(env, {errno, "send(verdict)"});
  return Napi::Number::New(env, static_cast<double>(sent));
}

// The NFQUEUE pump of `watch --enforce` (nfqPump): a thread that reads the
// queue as packets come and, while JavaScript has granted it room (slots
// free and nothing held: `grant(total)`), accepts them at once itself, so a
// connect below the limit never waits for the JavaScript thread. Every
// packet, accepted here or not, is handed to JavaScript (take()) for its
// accounting and for the verdict of those not accepted. `granted` and `used`
// only grow: JS sets granted = (fast accepts it has seen) + (free slots), so
// the accepts it has not seen yet are within the slots it saw free.
class NfqPump {
 public:
  NfqPump(int fd, uint16_t queue, int wakeFd, Napi::ThreadSafeFunction tsfn) : fd_(fd), queue_(queue), wake_(wakeFd), tsfn_(std::move(tsfn)) {
    thread_ = std::thread([this] { Run(); });
  }
  void Grant(double total) { granted_.store(static_cast<uint64_t>(total), std::memory_order_release); }
  uint64_t Used() const { return used_.load(std::memory_order_acquire); }
  void Take(std::vector<uint8_t>& messages, std::vector<uint32_t>& accepted, int& overflows, double& readAtMs) {
    std::lock_guard<std::mutex> lock(mu_);
    messages.swap(pending_);
    accepted.swap(accepted_);
    overflows = overflows_;
    overflows_ = 0;
    readAtMs = readAtMs_;
    signaled_ = false;
  }
  void Stop() {
    if (stopped_.exchange(true)) return;
    uint64_t one = 1;
    ssize_t ignored = write(wake_, &one, sizeof one);
    (void)ignored;
    if (thread_.joinable()) thread_.join();
    close(wake_);
    tsfn_.Release();
  }

 private:
  void Run() {
    // A connect below the limit waits for this thread alone: let it run before ordinary work
    // (real-time priority 1, the lowest; its work per wake is a few syscalls), else at nice -10.
    sched_param sp{};
    sp.sched_priority = 1;
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), -10);
    static thread_local uint8_t buf[1 << 16];
    std::vector<uint8_t> verdicts;
    std::vector<uint8_t> got;
    std::vector<uint32_t> fast;
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    while (!stopped_.load()) {
      p[0].revents = p[1].revents = 0;
      int n = poll(p, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || p[1].revents != 0) break;
      int overflows = 0;
      got.clear();
      fast.clear();
      verdicts.clear();
      // Everything queued before this moment has been read (CLOCK_MONOTONIC, the tracefs events' clock).
      double readAt = static_cast<double>(ClockNs(CLOCK_MONOTONIC)) / 1e6;
      for (int round = 0; round < 64; round++) {
        ssize_t r = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0) {
          if (errno == ENOBUFS) {
            overflows++;
            continue;
          }
          if (errno == EINTR) continue;
          break;
        }
        if (r == 0) break;
        got.insert(got.end(), buf, buf + r);
        // Fast accepts: the id of each packet message, in order, while the grant lasts.
        for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<uint32_t>(r)); h = NLMSG_NEXT(h, r)) {
          if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
          uint64_t used = used_.load(std::memory_order_relaxed);
          if (used >= granted_.load(std::memory_order_acquire)) continue;
          const uint8_t* a = reinterpret_cast<const uint8_t*>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(nfgenmsg));
          const uint8_t* end = reinterpret_cast<const uint8_t*>(h) + h->nlmsg_len;
          while (a + NLA_HDRLEN <= end) {
            const nlattr* at = reinterpret_cast<const nlattr*>(a);
            if (at->nla_len < NLA_HDRLEN || a + at->nla_len > end) break;
            if ((at->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR && at->nla_len >= NLA_HDRLEN + 4) {
              uint32_t id;
              std::memcpy(&id, a + NLA_HDRLEN, 4);
              id = ntohl(id);
              used_.store(used + 1, std::memory_order_release);
              fast.push_back(id);
              auto msg = NfqHeader(NFQNL_MSG_VERDICT, NLM_F_REQUEST, queue_, 0);
              nfqnl_msg_verdict_hdr v{htonl(NF_ACCEPT), htonl(id)};
              PutAttr(msg, NFQA_VERDICT_HDR, &v, sizeof v);
              uint32_t len = static_cast<uint32_t>(msg.size());
              std::memcpy(msg.data(), &len, 4);
              verdicts.insert(verdicts.end(), msg.begin(), msg.end());
              break;
            }
            a += NLA_ALIGN(at->nla_len);
          }
        }
        if (r < static_cast<ssize_t>(sizeof buf) / 2) break;
      }
      if (!verdicts.empty()) {
        while (sendto(fd_, verdicts.data(), verdicts.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)) {
          pollfd w{fd_, POLLOUT, 0};
          poll(&w, 1, 10);
        }
      }
      if (got.empty() && overflows == 0) continue;
      bool signal = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        pending_.insert(pending_.end(), got.begin(), got.end());
        accepted_.insert(accepted_.end(), fast.begin(), fast.end());
        overflows_ += overflows;
        readAtMs_ = readAt;
        if (!signaled_) signaled_ = signal = true;
      }
      if (signal) tsfn_.NonBlockingCall();
    }
  }

  int fd_;
  uint16_t queue_;
  int wake_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<uint8_t> pending_;
  std::vector<uint32_t> accepted_;
  int overflows_ = 0;
  double readAtMs_ = 0;
  bool signaled_ = false;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> granted_{0};
  std::atomic<uint64_t> used_{0};
};

Napi::Value NfqPumpStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction()) return BadArgument(env, "nfqPump(fd: number, queueNum: number, onData: () => void)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint16_t queue = static_cast<uint16_t>(info[1].As<Napi::Number>().Int32Value());
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return ThrowErrno(env, {errno, "eventfd"});
  Napi::ThreadSafeFunction tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "halfopen.nfqPump", 0, 1);
  auto* pump = new NfqPump(fd, queue, wake, tsfn);
  auto stopped = std::make_shared<bool>(false);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("take", Napi::Function::New(env, [pump, stopped](const Napi::CallbackInfo& ci) -> Napi::Value {
    Napi::Env e = ci.Env();
    Napi::Object r = Napi::Object::New(e);
    std::vector<uint8_t> messages;
    std::vector<uint32_t> accepted;
    int overflows = 0;
    double readAtMs = 0;
    if (!*stopped) pump->Take(messages, accepted, overflows, readAtMs);
    r.Set("messages", Napi::Buffer<uint8_t>::Copy(e, messages.data(), messages.size()));
    Napi::Uint32Array ids = Napi::Uint32Array::New(e, accepted.size());
    for (size_t i = 0; i < accepted.size(); i++) ids[i] = accepted[i];
    r.Set("accepted", ids);
    r.Set("overflows", Napi::Number::New(e, overflows));
    r.Set("readAtMs", Napi::Number::New(e, readAtMs));
    return r;
  }));
  handle.Set("grant", Napi::Function::New(env, [pump, stopped](const Napi::CallbackInfo& ci) {
    if (!*stopped && ci.Length() >= 1 && ci[0].IsNumber()) pump->Grant(ci[0].As<Napi::Number>().DoubleValue());
  }));
  handle.Set("used", Napi::Function::New(env, [pump, stopped](const Napi::CallbackInfo& ci) -> Napi::Value {
    return Napi::Number::New(ci.Env(), *stopped ? 0 : static_cast<double>(pump->Used()));
  }));
  handle.Set("stop", Napi::Function::New(env, [pump, stopped](const Napi::CallbackInfo&) {
    if (*stopped) return;
    *stopped = true;
    pump->Stop();
    delete pump;
  }));
  return handle;
}

Napi::Value Discover(const Napi::CallbackInfo& info) { return DiscoverFamily(info, AF_INET); }
Napi::Value Discover6(const Napi::CallbackInfo& info) { return DiscoverFamily(info, AF_INET6); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
  exports.Set("raiseNofileLimit", Napi::Function::New(env, RaiseNofileLimit));
  exports.Set("createStateDecoder", Napi::Function::New(env, CreateStateDecoder));
  exports.Set("sockDiag", Napi::Function::New(env, SockDiag));
  exports.Set("socketOwners", Napi::Function::New(env, SocketOwners));
  exports.Set("scanSockets", Napi::Function::New(env, ScanSockets));
  exports.Set("sockDiagAsync", Napi::Function::New(env, SockDiagAsync));
  exports.Set("discover", Napi::Function::New(env, Discover));
  exports.Set("discover6", Napi::Function::New(env, Discover6));
  exports.Set("captureOpen", Napi::Function::New(env, CaptureOpen));
  exports.Set("captureRead", Napi::Function::New(env, CaptureRead));
  exports.Set("pollReadable", Napi::Function::New(env, PollReadable));
  exports.Set("holdTimestamps", Napi::Function::New(env, HoldTimestamps));
  exports.Set("captureDrops", Napi::Function::New(env, CaptureDrops));
  exports.Set("nfqOpen", Napi::Function::New(env, NfqOpen));
  exports.Set("nfqVerdict", Napi::Function::New(env, NfqVerdict));
  exports.Set("nfqPump", Napi::Function::New(env, NfqPumpStart));
  exports.Set("abi", Napi::Number::New(env, 9));
  return exports;
}

}  // namespace

NODE_API_MODULE(halfopen_native, Init)
