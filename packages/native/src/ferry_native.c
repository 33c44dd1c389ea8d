/*
 * The few filesystem calls a bit-exact backup needs and Node's fs does not offer.
 * Every function is synchronous and thin: it converts arguments, makes one syscall and
 * turns a failure into an Error whose `code` is the errno name (ENOTSUP, EPERM, ...), so
 * callers can decide per file whether a missing feature is a warning or a failure.
 * The contract each function keeps is written on its TypeScript wrapper (src/index.ts).
 */
#include <node_api.h>
#include "ferry_crypto.h"
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CHECK(call)                         \
  do {                                      \
    if ((call) != napi_ok) return NULL;     \
  } while (0)

static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(err);
  if (name) return name;
#endif
  static __thread char buf[16];
  snprintf(buf, sizeof buf, "E%d", err);
  return buf;
}

/* Throws an Error shaped like Node's fs errors: code, errno, syscall, path. */
static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  char msg[512];
  const char *code = errno_name(err);
  if (path) snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(err), syscall, path);
  else snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(err), syscall);
  napi_value js_msg, js_code, error, v;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok) return NULL;
  if (napi_create_error(env, js_code, js_msg, &error) != napi_ok) return NULL;
  napi_set_named_property(env, error, "code", js_code);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "path", v);
  }
  napi_throw(env, error);
  return NULL;
}

static napi_value type_error(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return NULL;
}

/* A path argument: a string (UTF-8) or a Buffer of raw bytes; returns a malloc'd C string. */
static char *get_path(napi_env env, napi_value v) {
  napi_valuetype t;
  bool is_buffer = false;
  if (napi_typeof(env, v, &t) != napi_ok) return NULL;
  if (t == napi_string) {
    size_t len;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
    char *s = malloc(len + 1);
    if (!s) return NULL;
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    if (strlen(s) != len) {
      free(s);
      type_error(env, "path must not contain NUL bytes");
      return NULL;
    }
    return s;
  }
  napi_is_buffer(env, v, &is_buffer);
  if (!is_buffer) {
    type_error(env, "path must be a string or a Buffer");
    return NULL;
  }
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return NULL;
  if (memchr(data, 0, len)) {
    type_error(env, "path must not contain NUL bytes");
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) return NULL;
  memcpy(s, data, len);
  s[len] = 0;
  return s;
}

static bool get_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok && lossless;
  }
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok;
  return false;
}

static bool get_int(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_number && napi_get_value_int32(env, v, out) == napi_ok;
}

/* Nanoseconds since the epoch (negative before 1970) to a timespec with 0 <= tv_nsec < 1e9. */
static struct timespec to_timespec(int64_t ns) {
  int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
  if (rem < 0) {
    rem += 1000000000LL;
    sec -= 1;
  }
  struct timespec ts = {.tv_sec = (time_t)sec, .tv_nsec = (long)rem};
  return ts;
}

static napi_value args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < want) return type_error(env, "missing arguments");
  napi_value ok;
  napi_get_boolean(env, true, &ok);
  return ok;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* utimensat(path, atimeNs, mtimeNs, nofollow) */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return NULL;
  int64_t a, m;
  bool nofollow;
  if (!get_i64(env, argv[1], &a) || !get_i64(env, argv[2], &m)) return type_error(env, "times must be bigint nanoseconds");
  CHECK(napi_get_value_bool(env, argv[3], &nofollow));
  char *path = get_path(env, argv[0]);
  if (!path) return NULL;
  struct timespec ts[2] = {to_timespec(a), to_timespec(m)};
  napi_value r = undefined(env);
  if (utimensat(AT_FDCWD, path, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0) != 0) r = throw_errno(env, errno, "utimensat", path);
  free(path);
  return r;
}

/* futimens(fd, atimeNs, mtimeNs) */
static napi_value js_futimens(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  int32_t fd;
  int64_t a, m;
  if (!get_int(env, argv[0], &fd)) return type_error(env, "fd must be a number");
  if (!get_i64(env, argv[1], &a) || !get_i64(env, argv[2], &m)) return type_error(env, "times must be bigint nanoseconds");
  struct timespec ts[2] = {to_timespec(a), to_timespec(m)};
  if (futimens(fd, ts) != 0) return throw_errno(env, errno, "futimens", NULL);
  return undefined(env);
}

/* mknodat(AT_FDCWD, path, mode | type, makedev(major, minor)); type: 0 fifo, 1 chr, 2 blk */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return NULL;
  int32_t kind, mode, major_, minor_;
  if (!get_int(env, argv[1], &kind) || !get_int(env, argv[2], &mode) || !get_int(env, argv[3], &major_) || !get_int(env, argv[4], &minor_))
    return type_error(env, "kind, mode, major and minor must be numbers");
  mode_t type = kind == 0 ? S_IFIFO : kind == 1 ? S_IFCHR : kind == 2 ? S_IFBLK : 0;
  if (!type) return type_error(env, "kind must be 0 (fifo), 1 (char) or 2 (block)");
  char *path = get_path(env, argv[0]);
  if (!path) return NULL;
  napi_value r = undefined(env);
  dev_t dev = type == S_IFIFO ? 0 : makedev((unsigned)major_, (unsigned)minor_);
  if (mknodat(AT_FDCWD, path, type | (mode_t)(mode & 07777), dev) != 0) r = throw_errno(env, errno, "mknodat", path);
  free(path);
  return r;
}

/* lseek(fd, offset, SEEK_DATA or SEEK_HOLE); -1 where there is no more data (ENXIO). */
static napi_value seek(napi_env env, napi_callback_info info, int whence, const char *name) {
  napi_value argv[2], out;
  if (!args(env, info, 2, argv)) return NULL;
  int32_t fd;
  int64_t off;
  if (!get_int(env, argv[0], &fd) || !get_i64(env, argv[1], &off)) return type_error(env, "fd and offset must be numbers");
  off_t r = lseek(fd, (off_t)off, whence);
  if (r < 0 && errno == ENXIO) r = -1;
  else if (r < 0) return throw_errno(env, errno, name, NULL);
  CHECK(napi_create_int64(env, (int64_t)r, &out));
  return out;
}
static napi_value js_seek_data(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_DATA, "lseek(SEEK_DATA)"); }
static napi_value js_seek_hole(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_HOLE, "lseek(SEEK_HOLE)"); }

/* fallocate(fd, PUNCH_HOLE | KEEP_SIZE, offset, length) */
static napi_value js_punch_hole(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  int32_t fd;
  int64_t off, len;
  if (!get_int(env, argv[0], &fd) || !get_i64(env, argv[1], &off) || !get_i64(env, argv[2], &len)) return type_error(env, "fd, offset and length must be numbers");
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) != 0) return throw_errno(env, errno, "fallocate(PUNCH_HOLE)", NULL);
  return undefined(env);
}

/* llistxattr(path) -> string[]; retried if the list grows between the size probe and the read. */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  if (!args(env, info, 1, argv)) return NULL;
  char *path = get_path(env, argv[0]);
  if (!path) return NULL;
  char *buf = NULL;
  ssize_t n;
  for (;;) {
    n = llistxattr(path, NULL, 0);
    if (n <= 0) break;
    char *grown = realloc(buf, (size_t)n);
    if (!grown) break;
    buf = grown;
    n = llistxattr(path, buf, (size_t)n);
    if (n >= 0 || errno != ERANGE) break;
  }
  if (n < 0) {
    napi_value r = throw_errno(env, errno, "llistxattr", path);
    free(buf);
    free(path);
    return r;
  }
  free(path);
  if (napi_create_array(env, &out) != napi_ok) {
    free(buf);
    return NULL;
  }
  uint32_t i = 0;
  for (ssize_t at = 0; at < n;) {
    size_t len = strnlen(buf + at, (size_t)(n - at));
    napi_value name;
    if (len > 0 && napi_create_string_utf8(env, buf + at, len, &name) == napi_ok) napi_set_element(env, out, i++, name);
    at += (ssize_t)len + 1;
  }
  free(buf);
  return out;
}

/* lgetxattr(path, name) -> Buffer */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  if (!args(env, info, 2, argv)) return NULL;
  char name[XATTR_NAME_MAX + 1];
  size_t name_len;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &name_len) != napi_ok) return type_error(env, "name must be a string");
  char *path = get_path(env, argv[0]);
  if (!path) return NULL;
  void *buf = NULL;
  ssize_t n;
  for (;;) {
    n = lgetxattr(path, name, NULL, 0);
    if (n < 0) break;
    void *grown = realloc(buf, n > 0 ? (size_t)n : 1);
    if (!grown) break;
    buf = grown;
    n = lgetxattr(path, name, buf, (size_t)n);
    if (n >= 0 || errno != ERANGE) break;
  }
  napi_value r;
  if (n < 0) r = throw_errno(env, errno, "lgetxattr", path);
  else if (napi_create_buffer_copy(env, (size_t)n, buf, NULL, &out) == napi_ok) r = out;
  else r = NULL;
  free(buf);
  free(path);
  return r;
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  char name[XATTR_NAME_MAX + 1];
  size_t name_len;
  void *value;
  size_t value_len;
  bool is_buffer = false;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &name_len) != napi_ok) return type_error(env, "name must be a string");
  napi_is_buffer(env, argv[2], &is_buffer);
  if (!is_buffer) return type_error(env, "value must be a Buffer");
  CHECK(napi_get_buffer_info(env, argv[2], &value, &value_len));
  char *path = get_path(env, argv[0]);
  if (!path) return NULL;
  napi_value r = undefined(env);
  if (lsetxattr(path, name, value, value_len, 0) != 0) r = throw_errno(env, errno, "lsetxattr", path);
  free(path);
  return r;
}

/*
 * gearScan(gear Int32Array(256), buf Uint8Array, from, to, mask, state Int32Array(1)):
 * the chunker's hot loop (packages/repository chunker.ts). Rolls h = (h << 1) + gear[b]
 * in uint32 arithmetic over buf[from..to) and returns the index of the first byte after
 * which (h & mask) == 0, or -1; state[0] holds h after the last byte hashed either way.
 * Native because the JS loop tops out near 1.2 GB/s per core and this one runs at 2-3x that.
 */
static bool typed(napi_env env, napi_value v, napi_typedarray_type want, size_t min_len, void **data, size_t *len) {
  bool is;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok) return false;
  return type == want && *len >= min_len;
}

static napi_value js_gear_scan(napi_env env, napi_callback_info info) {
  napi_value argv[6], out;
  if (!args(env, info, 6, argv)) return NULL;
  void *gear_p, *buf_p, *state_p;
  size_t gear_len, buf_len, state_len;
  int32_t from, to, mask;
  if (!typed(env, argv[0], napi_int32_array, 256, &gear_p, &gear_len) ||
      !(typed(env, argv[1], napi_uint8_array, 0, &buf_p, &buf_len) || typed(env, argv[1], napi_uint8_clamped_array, 0, &buf_p, &buf_len)) ||
      !get_int(env, argv[2], &from) || !get_int(env, argv[3], &to) || !get_int(env, argv[4], &mask) ||
      !typed(env, argv[5], napi_int32_array, 1, &state_p, &state_len))
    return type_error(env, "gearScan(gear: Int32Array(256), buf: Uint8Array, from, to, mask, state: Int32Array(1))");
  if (from < 0 || to < from || (size_t)to > buf_len) return type_error(env, "gearScan: from/to outside the buffer");
  const uint32_t *gear = gear_p;
  const uint8_t *buf = buf_p;
  uint32_t h = (uint32_t)((int32_t *)state_p)[0], m = (uint32_t)mask;
  int64_t hit = -1;
  for (int32_t i = from; i < to; i++) {
    h = (h << 1) + gear[buf[i]];
    if ((h & m) == 0) {
      hit = i;
      break;
    }
  }
  ((int32_t *)state_p)[0] = (int32_t)h;
  CHECK(napi_create_int64(env, hit, &out));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"utimensat", NULL, js_utimensat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futimens", NULL, js_futimens, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, js_seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, js_seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"punchHole", NULL, js_punch_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gearScan", NULL, js_gear_scan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacSha256", NULL, ferry_js_hmac_sha256, NULL, NULL, NULL, napi_enumerable, NULL},
      {"randomFill", NULL, ferry_js_random_fill, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealBox", NULL, ferry_js_seal_box, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openBox", NULL, ferry_js_open_box, NULL, NULL, NULL, napi_enumerable, NULL},
      {"entropyBits", NULL, ferry_js_entropy_bits, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
