// origin/s3/HttpClient.cc: libcurl stops here.
//
// Why a pool of easy handles rather than curl multi: our callers are blocking threads (FUSE
// workers, the prefetch pool), so a handle per in-flight request is the simplest correct
// design, and a handle kept between requests keeps its connection alive (curl_easy_reset()
// keeps live connections, the DNS cache and TLS sessions). A share handle lets the handles
// share DNS results and TLS sessions.
#include "origin/s3/HttpClient.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/Strings.h"

namespace epochfs::origin::s3 {
namespace {

constexpr size_t kMaxKeptBody = 4 << 20;

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A header's name or value without its blanks; curl hands over whole lines, so a value also
// ends in the line's CRLF.
std::string_view trimHeaderPart(std::string_view s) { return trimRight(trimLeft(s), " \t\r\n"); }

struct Transfer {
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  uint64_t skipLeft = 0;
};

bool is2xx(int status) { return status >= 200 && status < 300; }

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 100 Continue, say): forget the previous one's headers.
    t->resp->headers.clear();
    size_t sp = line.find(' ');
    t->resp->status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->resp->headers.emplace_back(lower(trimHeaderPart(line.substr(0, colon))),
                                  std::string(trimHeaderPart(line.substr(colon + 1))));
  }
  return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t total = size * n;
  HttpResponse& resp = *t->resp;
  if (!t->req->out || !is2xx(resp.status)) {
    size_t keep = std::min(total, kMaxKeptBody - std::min(kMaxKeptBody, resp.body.size()));
    resp.body.append(data, keep);
    return total;
  }
  std::span<std::byte> out = *t->req->out;
  size_t pos = 0;
  if (t->skipLeft > 0 && resp.status == 200) {
    size_t drop = static_cast<size_t>(std::min<uint64_t>(t->skipLeft, total));
    t->skipLeft -= drop;
    pos = drop;
  }
  size_t room = out.size() - resp.outBytes;
  size_t copy = std::min(room, total - pos);
  if (copy > 0) std::memcpy(out.data() + resp.outBytes, data + pos, copy);
  resp.outBytes += copy;
  if (pos + copy < total) {
    // More than asked for (a server that ignored our Range): stop the transfer here.
    resp.outFull = true;
    return 0;
  }
  return total;
}

TransportError classify(CURLcode rc) {
  switch (rc) {
    case CURLE_OK: return TransportError::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::kResolve;
    case CURLE_COULDNT_CONNECT: return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::kTimeout;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_AGAIN: return TransportError::kReset;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM: return TransportError::kTls;
    default: return TransportError::kOther;
  }
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return std::nullopt;
}

bool HttpResult::retryable() const {
  switch (error) {
    case TransportError::kResolve:
    case TransportError::kConnect:
    case TransportError::kTimeout:
    case TransportError::kReset: return true;
    // A TLS handshake can fail transiently (a reset mid-handshake), but a verification failure
    // will fail the same way every time; both land here and are not retried.
    case TransportError::kNone:
    case TransportError::kTls:
    case TransportError::kOther: return false;
  }
  return false;
}

// DNS cache and TLS sessions shared by all handles, with the locks libcurl asks for.
struct HttpClient::Share {
  CURLSH* sh = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  Share() {
    sh = curl_share_init();
    curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, &Share::lock);
    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, &Share::unlock);
    curl_share_setopt(sh, CURLSHOPT_USERDATA, this);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Share() { curl_share_cleanup(sh); }

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Share*>(user)->locks[static_cast<size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Share*>(user)->locks[static_cast<size_t>(data)].unlock();
  }
};

HttpClient::HttpClient(HttpOptions opts) : opts_(std::move(opts)) {
  globalInit();
  opts_.maxConnections = std::max(1, opts_.maxConnections);
  share_ = std::make_unique<Share>();
}

HttpClient::~HttpClient() {
  // Every perform() has returned its handle by now (callers must not destroy a client in use).
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::acquire() {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [&] { return !idle_.empty() || handles_ < opts_.maxConnections; });
  if (!idle_.empty()) {
    void* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  ++handles_;
  lock.unlock();
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    lock.lock();
    --handles_;
    freed_.notify_one();
  }
  return h;
}

void HttpClient::release(void* handle) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(handle);
  }
  freed_.notify_one();
}

HttpResult HttpClient::perform(const HttpRequest& req) {
  HttpResult result;
  CURL* h = static_cast<CURL*>(acquire());
  if (h == nullptr) {
    result.error = TransportError::kOther;
    result.errorMessage = "cannot create a libcurl handle";
    return result;
  }
  curl_easy_reset(h);

  Transfer t{&req, &result.response, req.skipIf200};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : req.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // libcurl adds these unless told not to; neither is signed nor wanted.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Accept:");
  if (!req.body.empty() || req.method == "PUT" || req.method == "POST") {
    headers = curl_slist_append(headers, "Content-Type:");
  }

  curl_easy_setopt(h, CURLOPT_SHARE, share_->sh);
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connectTimeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(opts_.lowSpeedLimit));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts_.lowSpeedTime.count()));
  if (req.timeout.count() > 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, req.timeout.count())));
  }
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts_.verifyTls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts_.verifyTls ? 2L : 0L);
  if (!opts_.caBundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opts_.caBundle.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  // Ask for bytes as stored: a Content-Encoding would make ranges refer to other bytes.
  curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);

  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty() || req.method == "PUT" || req.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }

  CURLcode rc = curl_easy_perform(h);
  long opened = 0;
  if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened) == CURLE_OK && opened > 0) {
    connectionsOpened_.fetch_add(static_cast<uint64_t>(opened), std::memory_order_relaxed);
  }
  if (rc == CURLE_WRITE_ERROR && result.response.outFull) rc = CURLE_OK;  // we cut it short
  curl_slist_free_all(headers);
  // Clear the pointers into this call's stack before the handle goes back to the pool.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  release(h);

  result.error = classify(rc);
  if (!result.ok()) {
    result.errorMessage = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  }
  return result;
}

}  // namespace epochfs::origin::s3
