// What the two halves of the lvs_packet module share (native/packet.c, native/connect.c).
#ifndef LVS_H
#define LVS_H
#include <node_api.h>

// Throws an Error whose code is the errno's name (ECONNREFUSED, EPERM...) and message "what: strerror"; returns NULL.
napi_value lvs_fail(napi_env env, int err, const char *what);

// Adds onConnected, connect and cancel to the module's exports (connect.c).
void connect_init(napi_env env, napi_value exports);

#endif
