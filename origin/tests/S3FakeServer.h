// origin/tests/S3FakeServer.h: a scriptable HTTP/1.1 server on 127.0.0.1 for S3 client tests.
//
// Not an S3 emulator to trust for semantics (the RGW tests are for that): it lets a test
// script what no real server does on demand: answer 503 SlowDown N times, drop connections,
// stall, count connections and requests. FakeBucket is a small in-memory bucket (ListObjectsV2
// with prefix, delimiter and tiny pages, HEAD, ranged GET with If-Match, PUT) to put behind it,
// so S3Origin's logic can be tested without Ceph. Signatures are not checked.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace epochfs::origin::s3 {

struct FakeRequest {
  std::string method;
  std::string path;   // decoded, without the query: "/bucket/a b.jpg"
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string rawTarget;  // as sent
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool drop = false;  // close the connection without answering
  std::chrono::milliseconds stall{0};  // wait this long before answering (or dropping)
};

FakeResponse s3ErrorResponse(int status, const std::string& code, const std::string& message);

class S3FakeServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit S3FakeServer(Handler handler);
  ~S3FakeServer();
  S3FakeServer(const S3FakeServer&) = delete;
  S3FakeServer& operator=(const S3FakeServer&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  int maxInFlight() const { return maxInFlight_.load(); }

 private:
  void acceptLoop();
  void serve(int fd);

  Handler handler_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> inFlight_{0};
  std::atomic<int> maxInFlight_{0};
  std::thread acceptThread_;
  std::mutex mu_;  // guards workers_
  std::vector<std::thread> workers_;
};

// An in-memory bucket speaking enough S3 for S3Origin. Thread-safe.
class FakeBucket {
 public:
  FakeBucket(std::string name, size_t pageSize = 2) : name_(std::move(name)), pageSize_(pageSize) {}
  void put(const std::string& key, const std::string& bytes);
  // With this ETag (quotes included) instead of a made-up "vN".
  void put(const std::string& key, const std::string& bytes, const std::string& etag);
  FakeResponse handle(const FakeRequest& req);
  // Requests seen, by "METHOD" or "LIST".
  int count(const std::string& what);

 private:
  FakeResponse list(const FakeRequest& req);

  std::string name_;
  size_t pageSize_;
  std::mutex mu_;  // guards objects_, counts_, version_
  std::map<std::string, std::pair<std::string, std::string>> objects_;  // key -> bytes, etag
  std::map<std::string, int> counts_;
  int version_ = 0;
};

}  // namespace epochfs::origin::s3
