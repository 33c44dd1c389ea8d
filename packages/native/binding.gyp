{
  "targets": [
    {
      "target_name": "ferry_native",
      "sources": ["src/ferry_native.c", "src/ferry_crypto.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
