// origin/s3/Integrity.cc: digests of S3 object bodies. MD5, SHA-1 and SHA-256 come from
// OpenSSL, CRC-32 from zlib; Debian 12 packages no CRC-32C or CRC-64/NVME library, so those
// two are here: slicing-by-8 tables (reflected polynomials 0x82F63B78 and 0x9A6C9329AC4BC9B5,
// as S3 defines them), and SSE 4.2's crc32 instruction for CRC-32C where the CPU has it.
// Test vectors in origin/tests/S3IntegrityTest.cc.
#include "origin/s3/Integrity.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "common/Strings.h"
#include "origin/s3/SigV4.h"

namespace epochfs::origin::s3 {
namespace {

// Slicing-by-8 tables of a reflected CRC: t[0] is the classic byte table, t[k][i] the CRC of
// byte i followed by k zero bytes, so that eight bytes are folded per step.
template <typename T, T kPoly>
constexpr std::array<std::array<T, 256>, 8> slicingTables() {
  std::array<std::array<T, 256>, 8> t{};
  for (unsigned i = 0; i < 256; ++i) {
    T c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (unsigned i = 0; i < 256; ++i) {
    for (size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}

constexpr auto kCrc32cTables = slicingTables<uint32_t, 0x82F63B78u>();
constexpr auto kCrc64NvmeTables = slicingTables<uint64_t, 0x9A6C9329AC4BC9B5ull>();

// The CRC register after `data`, from `c` (not inverted in or out). Little-endian loads.
template <typename T>
T reflectedCrc(const std::array<std::array<T, 256>, 8>& t, T c, std::span<const std::byte> data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  while (n >= 8) {
    uint64_t word = 0;
    std::memcpy(&word, p, 8);
    word ^= static_cast<uint64_t>(c);
    T next = 0;
    for (size_t k = 0; k < 8; ++k) next ^= t[7 - k][(word >> (8 * k)) & 0xff];
    c = next;
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// SSE 4.2 has a CRC-32C instruction: ~20x the table's speed where the CPU has it.
__attribute__((target("sse4.2"))) uint32_t crc32cSse42(uint32_t c, std::span<const std::byte> data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t word = 0;
    std::memcpy(&word, p, 8);
    c64 = __builtin_ia32_crc32di(c64, word);
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n-- > 0) c = __builtin_ia32_crc32qi(c, *p++);
  return c;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

template <typename T>
std::string bigEndian(T v) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[sizeof(T) - 1 - i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::string evpDigest(const EVP_MD* md, std::span<const std::byte> data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return "";
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::optional<std::string> base64Decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::optional<std::string> hexDecode(std::string_view in) {
  if (in.size() % 2 != 0) return std::nullopt;
  std::string out(in.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hexValue(in[2 * i]);
    int lo = hexValue(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

std::string base64Of(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

// The ETag of a single-part, unencrypted upload: 32 hex digits, optionally quoted.
std::optional<std::string> md5OfEtag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.size() != 32) return std::nullopt;  // "...-N" (multipart), W/"...", other stores
  return hexDecode(etag);
}

}  // namespace

std::string_view digestName(DigestKind kind) {
  switch (kind) {
    case DigestKind::kMd5Etag: return "md5 (etag)";
    case DigestKind::kCrc32: return "crc32";
    case DigestKind::kCrc32c: return "crc32c";
    case DigestKind::kCrc64Nvme: return "crc64nvme";
    case DigestKind::kSha1: return "sha1";
    case DigestKind::kSha256: return "sha256";
  }
  return "?";
}

uint32_t crc32c(std::span<const std::byte> data) {
#if defined(__x86_64__)
  if (kHaveSse42) return ~crc32cSse42(~0u, data);
#endif
  return ~reflectedCrc<uint32_t>(kCrc32cTables, ~0u, data);
}

uint32_t crc32cPortable(std::span<const std::byte> data) {
  return ~reflectedCrc<uint32_t>(kCrc32cTables, ~0u, data);
}

uint64_t crc64nvme(std::span<const std::byte> data) {
  return ~reflectedCrc<uint64_t>(kCrc64NvmeTables, ~0ull, data);
}

std::string computeDigest(DigestKind kind, std::span<const std::byte> data) {
  switch (kind) {
    case DigestKind::kMd5Etag: return evpDigest(EVP_md5(), data);
    case DigestKind::kSha1: return evpDigest(EVP_sha1(), data);
    case DigestKind::kSha256: return evpDigest(EVP_sha256(), data);
    case DigestKind::kCrc32: {
      // zlib takes a uInt length: feed it in pieces for bodies above 4 GiB.
      uLong c = ::crc32(0L, Z_NULL, 0);
      for (size_t off = 0; off < data.size();) {
        const size_t n = std::min<size_t>(data.size() - off, 1u << 30);
        c = ::crc32(c, reinterpret_cast<const Bytef*>(data.data() + off), static_cast<uInt>(n));
        off += n;
      }
      return bigEndian(static_cast<uint32_t>(c));
    }
    case DigestKind::kCrc32c: return bigEndian(crc32c(data));
    case DigestKind::kCrc64Nvme: return bigEndian(crc64nvme(data));
  }
  return "";
}

std::optional<ExpectedDigest> expectedDigest(const HttpResponse& r, std::string_view etag) {
  // Strongest first.
  static constexpr std::pair<const char*, DigestKind> kHeaders[] = {
      {"x-amz-checksum-sha256", DigestKind::kSha256},
      {"x-amz-checksum-sha1", DigestKind::kSha1},
      {"x-amz-checksum-crc64nvme", DigestKind::kCrc64Nvme},
      {"x-amz-checksum-crc32c", DigestKind::kCrc32c},
      {"x-amz-checksum-crc32", DigestKind::kCrc32},
  };
  std::optional<std::string> type = r.header("x-amz-checksum-type");
  const bool composite = type && (*type == "COMPOSITE" || *type == "composite");
  if (!composite) {
    for (const auto& [name, kind] : kHeaders) {
      std::optional<std::string> v = r.header(name);
      if (!v || v->find('-') != std::string::npos) continue;  // "...-N": of the parts
      std::optional<std::string> raw = base64Decode(*v);
      if (!raw || raw->size() != computeDigest(kind, {}).size()) continue;
      return ExpectedDigest{kind, std::move(*raw), *v};
    }
  }
  // SSE-KMS and SSE-C objects have ETags that are not the MD5 of their bytes.
  std::optional<std::string> sse = r.header("x-amz-server-side-encryption");
  if (sse && sse->starts_with("aws:kms")) return std::nullopt;
  if (r.header("x-amz-server-side-encryption-customer-algorithm")) return std::nullopt;
  std::optional<std::string> md5 = md5OfEtag(etag);
  if (!md5) return std::nullopt;
  return ExpectedDigest{DigestKind::kMd5Etag, std::move(*md5), std::string(etag)};
}

std::string checkDigest(const ExpectedDigest& d, std::span<const std::byte> data) {
  const std::string got = computeDigest(d.kind, data);
  if (got == d.bytes) return "";
  const bool hex = d.kind == DigestKind::kMd5Etag;
  return "the " + std::to_string(data.size()) + " bytes received have " +
         std::string(digestName(d.kind)) + " " + (hex ? hexEncode(got) : base64Of(got)) +
         ", the object's is " + d.shown;
}

}  // namespace epochfs::origin::s3
