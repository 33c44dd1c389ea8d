/*
 * The per-blob cryptography of the repository format (docs/repository-format.md §2-§5) in
 * one native call each, through the OpenSSL that Node itself carries (its symbols are
 * exported to addons; the headers ship in <prefix>/include/node/openssl). node:crypto
 * runs the same primitives, but every blob paid for five JavaScript objects (two HMACs, a
 * cipher, random bytes, buffers) and for AES-GCM in 64 KiB slices copied into the output:
 * for 8 KiB blobs that overhead was most of a worker's time, for 1 MiB blobs half of it.
 * Nothing here defines the format: the golden tests pin the bytes, whichever side writes them.
 */
#include "ferry_crypto.h"

#include <math.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#define SALT_BYTES 16
#define TAG_BYTES 16
#define KEY_BYTES 32

typedef struct {
  uint8_t *data;
  size_t len;
} bytes_t;

static napi_value fail(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return NULL;
}

/* OpenSSL itself failed (not the caller's arguments): a plain Error, not a TypeError. */
static napi_value openssl_failed(napi_env env, const char *what) {
  napi_throw_error(env, "ERR_FERRY_OPENSSL", what);
  return NULL;
}

/* Any Uint8Array (a Buffer included) as pointer and length. */
static bool get_bytes(napi_env env, napi_value v, bytes_t *out) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  void *data;
  size_t len;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return false;
  out->data = data;
  out->len = len;
  return true;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want;
}

/*
 * The algorithms, fetched once for the process: EVP_sha256() and EVP_aes_256_gcm() make
 * OpenSSL 3 look the algorithm up again (under a lock shared by every thread) on each init,
 * which for 10 kB blobs cost more than the cipher itself.
 */
static EVP_MD *fetched_sha256;
static EVP_CIPHER *fetched_gcm;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void) {
  fetched_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
  fetched_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_MD *sha256(void) {
  pthread_once(&fetch_once, fetch_algorithms);
  return fetched_sha256 ? fetched_sha256 : EVP_sha256();
}

static const EVP_CIPHER *aes_256_gcm(void) {
  pthread_once(&fetch_once, fetch_algorithms);
  return fetched_gcm ? fetched_gcm : EVP_aes_256_gcm();
}

/*
 * HMAC-SHA-256 fed in pieces (RFC 2104 over EVP_Digest, which OpenSSL 3 does not deprecate),
 * so openBox can hash each slice of plaintext while it is still in cache.
 */
typedef struct {
  EVP_MD_CTX *md;
  uint8_t opad[64];
} hmac_stream_t;

static bool hmac_begin(hmac_stream_t *h, const bytes_t *key) {
  uint8_t k[64] = {0}, ipad[64];
  unsigned int n = 0;
  h->md = EVP_MD_CTX_new();
  if (!h->md) return false;
  if (key->len > sizeof k) {
    if (EVP_Digest(key->data, key->len, k, &n, sha256(), NULL) != 1) return false;
  } else if (key->len > 0) {
    memcpy(k, key->data, key->len);
  }
  for (size_t i = 0; i < sizeof k; i++) {
    ipad[i] = k[i] ^ 0x36;
    h->opad[i] = k[i] ^ 0x5c;
  }
  OPENSSL_cleanse(k, sizeof k);
  bool ok = EVP_DigestInit_ex(h->md, sha256(), NULL) == 1 && EVP_DigestUpdate(h->md, ipad, sizeof ipad) == 1;
  OPENSSL_cleanse(ipad, sizeof ipad);
  return ok;
}

static bool hmac_finish(hmac_stream_t *h, uint8_t out[32]) {
  uint8_t inner[32];
  unsigned int n = 0;
  bool ok = EVP_DigestFinal_ex(h->md, inner, &n) == 1 && EVP_DigestInit_ex(h->md, sha256(), NULL) == 1 &&
            EVP_DigestUpdate(h->md, h->opad, sizeof h->opad) == 1 && EVP_DigestUpdate(h->md, inner, sizeof inner) == 1 &&
            EVP_DigestFinal_ex(h->md, out, &n) == 1;
  return ok;
}

static void hmac_free(hmac_stream_t *h) {
  EVP_MD_CTX_free(h->md);
  OPENSSL_cleanse(h->opad, sizeof h->opad);
}

static bool hmac_sha256(const bytes_t *key, const uint8_t *data, size_t len, uint8_t out[32]) {
  hmac_stream_t h = {0};
  bool ok = hmac_begin(&h, key) && (len == 0 || EVP_DigestUpdate(h.md, data, len) == 1) && hmac_finish(&h, out);
  hmac_free(&h);
  return ok;
}

/* hmacSha256(key, data, out Uint8Array(32)) */
napi_value ferry_js_hmac_sha256(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bytes_t key, data, out;
  if (!get_args(env, info, 3, argv) || !get_bytes(env, argv[0], &key) || !get_bytes(env, argv[1], &data) || !get_bytes(env, argv[2], &out) || out.len != 32)
    return fail(env, "hmacSha256(key: Uint8Array, data: Uint8Array, out: Uint8Array(32))");
  if (!hmac_sha256(&key, data.data, data.len, out.data)) return openssl_failed(env, "hmacSha256: OpenSSL failed");
  return NULL;
}

/* randomFill(buf): cryptographically strong bytes (RAND_bytes). */
napi_value ferry_js_random_fill(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bytes_t buf;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], &buf)) return fail(env, "randomFill(buf: Uint8Array)");
  if (buf.len > 0 && RAND_bytes(buf.data, (int)buf.len) != 1) return openssl_failed(env, "randomFill: OpenSSL RAND_bytes failed");
  return NULL;
}

/* One AES-256-GCM pass with the box key HMAC(key, salt) and the all-zero nonce. */
static EVP_CIPHER_CTX *box_cipher(const bytes_t *key, const uint8_t *salt, const bytes_t *aad, int encrypt) {
  uint8_t box_key[32];
  static const uint8_t zero_nonce[12] = {0};
  if (!hmac_sha256(key, salt, SALT_BYTES, box_key)) return NULL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  bool ok = ctx != NULL && EVP_CipherInit_ex(ctx, aes_256_gcm(), NULL, box_key, zero_nonce, encrypt) == 1 &&
            (aad->len == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad->data, (int)aad->len) == 1);
  OPENSSL_cleanse(box_key, sizeof box_key);
  if (!ok) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* GCM is a stream mode: update() writes exactly as many bytes as it reads. */
static bool cipher_all(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len) {
  const size_t step = 1u << 30;
  for (size_t at = 0; at < len; at += step) {
    int want = (int)(len - at < step ? len - at : step), n = 0;
    if (EVP_CipherUpdate(ctx, out + at, &n, in + at, want) != 1 || n != want) return false;
  }
  return true;
}

/*
 * sealBox(key, salt(16), aad, head, body, out): out = salt || AES-GCM(head || body) || tag,
 * out.length must be 32 + head.length + body.length.
 */
napi_value ferry_js_seal_box(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  bytes_t key, salt, aad, head, body, out;
  if (!get_args(env, info, 6, argv) || !get_bytes(env, argv[0], &key) || !get_bytes(env, argv[1], &salt) || !get_bytes(env, argv[2], &aad) ||
      !get_bytes(env, argv[3], &head) || !get_bytes(env, argv[4], &body) || !get_bytes(env, argv[5], &out) || salt.len != SALT_BYTES)
    return fail(env, "sealBox(key, salt: Uint8Array(16), aad, head, body, out: Uint8Array)");
  if (out.len != SALT_BYTES + head.len + body.len + TAG_BYTES) return fail(env, "sealBox: out must be 32 bytes longer than head and body");
  EVP_CIPHER_CTX *ctx = box_cipher(&key, salt.data, &aad, 1);
  if (!ctx) return openssl_failed(env, "sealBox: OpenSSL failed to set up AES-256-GCM");
  memmove(out.data, salt.data, SALT_BYTES);
  uint8_t *at = out.data + SALT_BYTES;
  int n = 0;
  bool ok = cipher_all(ctx, at, head.data, head.len) && cipher_all(ctx, at + head.len, body.data, body.len) &&
            EVP_CipherFinal_ex(ctx, at + head.len + body.len, &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, at + head.len + body.len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return openssl_failed(env, "sealBox: OpenSSL AES-256-GCM failed");
  return NULL;
}

/* Decrypts in slices small enough to stay in cache; each slice is hashed right after (when h is set). */
#define OPEN_SLICE (64u * 1024u)
static bool open_body(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len, hmac_stream_t *h) {
  if (!h) return cipher_all(ctx, out, in, len);
  for (size_t at = 0; at < len; at += OPEN_SLICE) {
    size_t step = len - at < OPEN_SLICE ? len - at : OPEN_SLICE;
    if (!cipher_all(ctx, out + at, in + at, step) || EVP_DigestUpdate(h->md, out + at, step) != 1) return false;
  }
  return true;
}

/*
 * openBox(key, aad, sealed, head, body[, idKey, idOut(32), hashIfHead]): decrypts sealed =
 * salt || ct || tag into head (its first head.length bytes) and body (the rest; head.length +
 * body.length must be sealed.length - 32). With idKey, when the first plaintext byte is
 * hashIfHead, also writes HMAC-SHA-256(idKey, body) to idOut in the same pass: a blob's id is
 * then checked while its bytes are in cache (a second pass read them back from memory, at half
 * the speed). Returns 0 when authentication fails (head and body zeroed, idOut untouched),
 * 1 when opened, 2 when opened and hashed.
 */
napi_value ferry_js_open_box(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t argc = 8;
  bytes_t key, aad, sealed, head, body, id_key = {0}, id_out = {0};
  int32_t hash_if_head = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || (argc != 5 && argc != 8) || !get_bytes(env, argv[0], &key) ||
      !get_bytes(env, argv[1], &aad) || !get_bytes(env, argv[2], &sealed) || !get_bytes(env, argv[3], &head) || !get_bytes(env, argv[4], &body) ||
      (argc == 8 && (!get_bytes(env, argv[5], &id_key) || !get_bytes(env, argv[6], &id_out) || id_out.len != 32 ||
                     napi_get_value_int32(env, argv[7], &hash_if_head) != napi_ok)))
    return fail(env, "openBox(key, aad, sealed, head: Uint8Array, body: Uint8Array[, idKey: Uint8Array, idOut: Uint8Array(32), hashIfHead: number])");
  if (sealed.len < SALT_BYTES + TAG_BYTES || head.len + body.len != sealed.len - SALT_BYTES - TAG_BYTES)
    return fail(env, "openBox: head and body must together be 32 bytes shorter than sealed");
  EVP_CIPHER_CTX *ctx = box_cipher(&key, sealed.data, &aad, 0);
  if (!ctx) return openssl_failed(env, "openBox: OpenSSL failed to set up AES-256-GCM");
  const uint8_t *ct = sealed.data + SALT_BYTES;
  uint8_t tag[TAG_BYTES];
  memcpy(tag, sealed.data + sealed.len - TAG_BYTES, TAG_BYTES);
  int n = 0;
  hmac_stream_t h = {0};
  bool ok = cipher_all(ctx, head.data, ct, head.len);
  bool hashing = ok && argc == 8 && head.len > 0 && head.data[0] == hash_if_head;
  bool setup = !hashing || hmac_begin(&h, &id_key);
  ok = ok && setup && open_body(ctx, body.data, ct + head.len, body.len, hashing ? &h : NULL) &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1 && EVP_CipherFinal_ex(ctx, tag, &n) == 1;
  EVP_CIPHER_CTX_free(ctx);
  uint8_t id[32];
  bool hashed = ok && hashing && hmac_finish(&h, id);
  if (hashing) hmac_free(&h);
  bool hash_failed = !setup || (ok && hashing && !hashed);
  if (!ok || hash_failed) {
    /* Unauthenticated (or unchecked) plaintext must not be used by mistake. */
    memset(head.data, 0, head.len);
    memset(body.data, 0, body.len);
  }
  if (hash_failed) return openssl_failed(env, "openBox: OpenSSL failed to compute HMAC-SHA-256");
  if (hashed) memcpy(id_out.data, id, 32);
  napi_value rc;
  napi_create_int32(env, !ok ? 0 : hashed ? 2 : 1, &rc);
  return rc;
}

/* entropyBits(buf, n): order-0 entropy in bits per byte of the first n bytes (n clamped). */
napi_value ferry_js_entropy_bits(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  bytes_t buf;
  int32_t limit;
  if (!get_args(env, info, 2, argv) || !get_bytes(env, argv[0], &buf) || napi_get_value_int32(env, argv[1], &limit) != napi_ok || limit < 0)
    return fail(env, "entropyBits(buf: Uint8Array, n: number)");
  size_t n = buf.len < (size_t)limit ? buf.len : (size_t)limit;
  uint32_t counts[256] = {0};
  for (size_t i = 0; i < n; i++) counts[buf.data[i]]++;
  double bits = 0;
  for (int b = 0; b < 256; b++) {
    if (counts[b] == 0) continue;
    double p = (double)counts[b] / (double)n;
    bits -= p * log2(p);
  }
  napi_create_double(env, n == 0 ? 0 : bits, &out);
  return out;
}
