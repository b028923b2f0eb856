// origin/tests/S3FakeServer.cc: plain sockets, one thread per connection.
#include "origin/tests/S3FakeServer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/Strings.h"
#include "origin/s3/SigV4.h"

namespace epochfs::origin::s3 {
namespace {

std::string xmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 412: return "Precondition Failed";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Slow Down";
    default: return "Status";
  }
}

bool sendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

FakeRequest parseHead(const std::string& head) {
  FakeRequest req;
  size_t lineEnd = head.find("\r\n");
  std::string first = head.substr(0, lineEnd);
  size_t sp1 = first.find(' ');
  size_t sp2 = first.find(' ', sp1 + 1);
  req.method = first.substr(0, sp1);
  req.rawTarget = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = req.rawTarget.find('?');
  req.path = uriDecode(req.rawTarget.substr(0, q));
  if (q != std::string::npos) {
    std::string query = req.rawTarget.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      size_t eq = part.find('=');
      if (!part.empty()) {
        req.query[uriDecode(part.substr(0, eq))] =
            eq == std::string::npos ? "" : uriDecode(part.substr(eq + 1));
      }
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
  }
  size_t pos = lineEnd + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(value.begin());
      req.headers[lower(line.substr(0, colon))] = value;
    }
    pos = end + 2;
  }
  return req;
}

}  // namespace

FakeResponse s3ErrorResponse(int status, const std::string& code, const std::string& message) {
  FakeResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/xml");
  r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
           "</Code><Message>" + xmlEscape(message) + "</Message><RequestId>tx1</RequestId></Error>";
  return r;
}

S3FakeServer::S3FakeServer(Handler handler) : handler_(std::move(handler)) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listenFd_, 64) != 0) {
    std::abort();
  }
  socklen_t len = sizeof addr;
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptThread_ = std::thread([this] { acceptLoop(); });
}

S3FakeServer::~S3FakeServer() {
  stop_ = true;
  acceptThread_.join();
  ::close(listenFd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
}

void S3FakeServer::acceptLoop() {
  while (!stop_) {
    pollfd p{listenFd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.fetch_add(1);
    std::lock_guard lock(mu_);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void S3FakeServer::serve(int fd) {
  std::string buf;
  char chunk[65536];
  while (!stop_) {
    size_t headEnd = buf.find("\r\n\r\n");
    if (headEnd == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      continue;
    }
    FakeRequest req = parseHead(buf.substr(0, headEnd));
    size_t bodyLen = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      bodyLen = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    bool closed = false;
    while (buf.size() < headEnd + 4 + bodyLen && !stop_) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    if (closed || stop_) break;
    req.body = buf.substr(headEnd + 4, bodyLen);
    buf.erase(0, headEnd + 4 + bodyLen);

    requests_.fetch_add(1);
    int now = inFlight_.fetch_add(1) + 1;
    int seen = maxInFlight_.load();
    while (now > seen && !maxInFlight_.compare_exchange_weak(seen, now)) {
    }
    FakeResponse resp = handler_(req);
    for (auto left = resp.stall; left.count() > 0 && !stop_;) {
      auto step = std::min(left, std::chrono::milliseconds(20));
      std::this_thread::sleep_for(step);
      left -= step;
    }
    inFlight_.fetch_sub(1);
    if (resp.drop) break;
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) + "\r\n";
    bool hasLength = false;
    for (const auto& [name, value] : resp.headers) {
      if (lower(name) == "content-length") hasLength = true;
      out += name + ": " + value + "\r\n";
    }
    if (!hasLength) out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
    out += "\r\n";
    if (req.method != "HEAD") out += resp.body;
    if (!sendAll(fd, out)) break;
  }
  ::close(fd);
}

void FakeBucket::put(const std::string& key, const std::string& bytes) {
  std::lock_guard lock(mu_);
  objects_[key] = {bytes, "\"v" + std::to_string(++version_) + "\""};
}

void FakeBucket::put(const std::string& key, const std::string& bytes, const std::string& etag) {
  std::lock_guard lock(mu_);
  objects_[key] = {bytes, etag};
}

int FakeBucket::count(const std::string& what) {
  std::lock_guard lock(mu_);
  return counts_[what];
}

FakeResponse FakeBucket::handle(const FakeRequest& req) {
  const std::string bucketPath = "/" + name_;
  if (req.path != bucketPath && !req.path.starts_with(bucketPath + "/")) {
    return s3ErrorResponse(404, "NoSuchBucket", "The specified bucket does not exist");
  }
  if (req.path == bucketPath || req.path == bucketPath + "/") {
    {
      std::lock_guard lock(mu_);
      ++counts_["LIST"];
    }
    return list(req);
  }
  const std::string key = req.path.substr(bucketPath.size() + 1);
  std::lock_guard lock(mu_);
  ++counts_[req.method];
  if (req.method == "PUT") {
    objects_[key] = {req.body, "\"v" + std::to_string(++version_) + "\""};
    FakeResponse r;
    r.headers.emplace_back("ETag", objects_[key].second);
    return r;
  }
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    if (req.method == "HEAD") return FakeResponse{404, {}, "", false, {}};
    return s3ErrorResponse(404, "NoSuchKey", "The specified key does not exist.");
  }
  const auto& [bytes, etag] = it->second;
  FakeResponse r;
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Last-Modified", "Wed, 12 Oct 2009 17:50:00 GMT");
  if (req.method == "HEAD") {
    r.headers.emplace_back("Content-Length", std::to_string(bytes.size()));
    return r;
  }
  if (auto im = req.headers.find("if-match"); im != req.headers.end() && im->second != etag) {
    return s3ErrorResponse(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
  }
  auto range = req.headers.find("range");
  if (range == req.headers.end()) {
    r.body = bytes;
    return r;
  }
  uint64_t a = 0, b = 0;
  if (std::sscanf(range->second.c_str(), "bytes=%lu-%lu", &a, &b) != 2 || a >= bytes.size()) {
    return s3ErrorResponse(416, "InvalidRange", "The requested range is not satisfiable");
  }
  b = std::min<uint64_t>(b, bytes.size() - 1);
  r.status = 206;
  r.body = bytes.substr(a, b - a + 1);
  r.headers.emplace_back("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) +
                                              "/" + std::to_string(bytes.size()));
  return r;
}

// ListObjectsV2 over the sorted keys, `pageSize_` entries a page (whatever max-keys asks, if
// smaller), so that tests see continuation tokens with few keys. The token is the hex of the
// last key or common prefix returned.
FakeResponse FakeBucket::list(const FakeRequest& req) {
  auto get = [&](const char* name) {
    auto it = req.query.find(name);
    return it == req.query.end() ? std::string() : it->second;
  };
  const std::string prefix = get("prefix");
  const std::string delimiter = get("delimiter");
  size_t maxKeys = get("max-keys").empty() ? 1000 : std::strtoull(get("max-keys").c_str(), nullptr, 10);
  maxKeys = std::min(maxKeys, pageSize_);
  std::string after;
  const std::string token = get("continuation-token");
  for (size_t i = 0; i + 1 < token.size(); i += 2) {
    after.push_back(static_cast<char>(std::strtol(token.substr(i, 2).c_str(), nullptr, 16)));
  }
  std::lock_guard lock(mu_);
  std::string contents, prefixes, last;
  size_t n = 0;
  bool truncated = false;
  for (auto it = objects_.upper_bound(after); it != objects_.end(); ++it) {
    const std::string& key = it->first;
    if (!key.starts_with(prefix)) continue;
    if (!after.empty() && !delimiter.empty() && after.ends_with(delimiter) && key.starts_with(after)) {
      continue;  // inside the common prefix returned last
    }
    std::string cp;
    if (!delimiter.empty()) {
      size_t d = key.find(delimiter, prefix.size());
      if (d != std::string::npos) cp = key.substr(0, d + delimiter.size());
    }
    if (!cp.empty() && cp == last) continue;
    if (n == maxKeys) {
      truncated = true;
      break;
    }
    if (!cp.empty()) {
      prefixes += "<CommonPrefixes><Prefix>" + xmlEscape(cp) + "</Prefix></CommonPrefixes>";
      last = cp;
      after = cp;
    } else {
      contents += "<Contents><Key>" + xmlEscape(key) + "</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>" +
                  xmlEscape(it->second.second) + "</ETag><Size>" + std::to_string(it->second.first.size()) +
                  "</Size><StorageClass>STANDARD</StorageClass></Contents>";
      last = key;
    }
    ++n;
  }
  std::string next;
  if (truncated) next = "<NextContinuationToken>" + hexEncode(last) + "</NextContinuationToken>";
  FakeResponse r;
  r.headers.emplace_back("Content-Type", "application/xml");
  r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>" +
           name_ + "</Name><Prefix>" + xmlEscape(prefix) + "</Prefix><KeyCount>" + std::to_string(n) +
           "</KeyCount><MaxKeys>" + std::to_string(maxKeys) + "</MaxKeys><IsTruncated>" +
           (truncated ? "true" : "false") + "</IsTruncated>" + next + contents + prefixes +
           "</ListBucketResult>";
  return r;
}

}  // namespace epochfs::origin::s3
