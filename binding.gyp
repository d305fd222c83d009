{
  "targets": [
    {
      "target_name": "lvs_packet",
      "sources": ["native/packet.c", "native/connect.c", "native/ipvs.c", "native/feed.c", "native/memory.c", "native/spawn.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
