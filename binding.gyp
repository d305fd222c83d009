{
  "targets": [
    {
      "target_name": "lvs_packet",
      "sources": ["native/packet.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
