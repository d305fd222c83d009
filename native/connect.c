// lvs_packet, part two: the plain TCP connect of a health check (keepalived's TCP_CHECK), done the way keepalived
// does it: a non-blocking socket, connect(), a wait for writability on Node's own event loop (a uv_poll_t), then
// SO_ERROR and close(). A Node net.Socket costs a stream, its events and several allocations per probe; this costs
// one small struct and one call into JavaScript when the probe ends.
//   onConnected(fn)               fn(id, errno) is called for every probe that ends (errno 0: connected)
//   connect(family, address, port) -> id     starts a probe; throws (code = errno name) when it cannot start
//   cancel(id)                     ends a probe without calling fn (its timeout); unknown ids are ignored
// Probes live in a table of slots; an id is slot + generation, so a late cancel never reaches a reused slot.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include "lvs.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

typedef struct probe {
  uv_poll_t poll;
  int fd;
  uint32_t slot;
} probe_t;

typedef struct {
  probe_t *probe; // NULL when free
  uint32_t generation;
  uint32_t next_free;
} slot_t;

static slot_t *slots;
static uint32_t capacity;
static uint32_t free_head = UINT32_MAX;
static napi_ref on_done;
static napi_env done_env;

// 20 bits of generation above 32 of slot: an id stays an exact integer in a double.
#define GENERATIONS 0xfffffu
static double id_of(uint32_t slot) { return (double)slots[slot].generation * 4294967296.0 + slot; }

static int slot_alloc(probe_t *p) {
  if (free_head == UINT32_MAX) {
    uint32_t grown = capacity ? capacity * 2 : 1024;
    slot_t *more = realloc(slots, grown * sizeof *slots);
    if (!more) return -1;
    slots = more;
    for (uint32_t i = grown; i-- > capacity;) slots[i] = (slot_t){ NULL, 0, free_head }, free_head = i;
    capacity = grown;
  }
  uint32_t s = free_head;
  free_head = slots[s].next_free;
  slots[s].probe = p;
  p->slot = s;
  return 0;
}

static void slot_free(uint32_t s) {
  slots[s].probe = NULL;
  slots[s].generation = (slots[s].generation + 1) & GENERATIONS;
  slots[s].next_free = free_head;
  free_head = s;
}

static void on_closed(uv_handle_t *h) { free(h->data); }

// Stop watching, close the socket, free the slot (the struct goes once libuv has let go of the handle).
static void end_probe(probe_t *p) {
  slot_free(p->slot);
  uv_close((uv_handle_t *)&p->poll, on_closed);
  close(p->fd);
}

static void on_writable(uv_poll_t *h, int status, int events) {
  (void)events;
  probe_t *p = h->data;
  int err = 0;
  socklen_t len = sizeof err;
  // libuv reports POLLERR as UV_EBADF: the socket's own error says what happened (ECONNREFUSED...).
  if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0 && status < 0) err = -status;
  double id = id_of(p->slot);
  end_probe(p);
  napi_env env = done_env;
  napi_handle_scope scope;
  if (!on_done || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[2];
  napi_get_reference_value(env, on_done, &fn);
  napi_get_global(env, &recv);
  napi_create_double(env, id, &argv[0]);
  napi_create_int32(env, err, &argv[1]);
  // make_callback: the microtasks the callback queues (a promise settled) run before this returns to libuv.
  napi_make_callback(env, NULL, recv, fn, 2, argv, NULL);
  napi_close_handle_scope(env, scope);
}

static napi_value js_on_connected(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "EINVAL", "onConnected(fn): a function");
    return NULL;
  }
  if (on_done) napi_delete_reference(env, on_done);
  napi_create_reference(env, argv[0], 1, &on_done);
  done_env = env;
  return NULL;
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t family = 0, port = -1;
  char address[INET6_ADDRSTRLEN + 1];
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sslen = 0;
  int ok = argc == 3 && napi_get_value_int32(env, argv[0], &family) == napi_ok &&
           napi_get_value_string_utf8(env, argv[1], address, sizeof address, &len) == napi_ok && len < sizeof address - 1 &&
           napi_get_value_int32(env, argv[2], &port) == napi_ok && port >= 0 && port <= 65535;
  if (ok && family == 4) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    ok = inet_pton(AF_INET, address, &in->sin_addr) == 1;
    sslen = sizeof *in;
  } else if (ok && family == 6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    ok = inet_pton(AF_INET6, address, &in6->sin6_addr) == 1;
    sslen = sizeof *in6;
  } else ok = 0;
  if (!ok || !on_done) {
    napi_throw_type_error(env, "EINVAL", "connect(family, address, port): 4 or 6, a numeric address, a port; onConnected first");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return lvs_fail(env, EINVAL, "event loop");
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return lvs_fail(env, errno, "socket");
  if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return lvs_fail(env, err, "connect");
  }
  probe_t *p = calloc(1, sizeof *p);
  if (!p || slot_alloc(p) < 0) {
    free(p);
    close(fd);
    return lvs_fail(env, ENOMEM, "probe");
  }
  p->fd = fd;
  p->poll.data = p;
  int rc = uv_poll_init_socket(loop, &p->poll, fd);
  if (rc < 0) {
    slot_free(p->slot);
    free(p);
    close(fd);
    return lvs_fail(env, -rc, "uv_poll_init");
  }
  rc = uv_poll_start(&p->poll, UV_WRITABLE, on_writable);
  if (rc < 0) {
    end_probe(p);
    return lvs_fail(env, -rc, "uv_poll_start");
  }
  napi_value out;
  napi_create_double(env, id_of(p->slot), &out);
  return out;
}

static napi_value js_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double id = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok || id < 0) {
    napi_throw_type_error(env, "EINVAL", "cancel(id): a probe's id");
    return NULL;
  }
  uint64_t v = (uint64_t)id;
  uint32_t s = (uint32_t)(v & 0xffffffffu);
  uint32_t generation = (uint32_t)(v >> 32);
  if (s < capacity && slots[s].probe && slots[s].generation == generation) end_probe(slots[s].probe);
  return NULL;
}

void connect_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "onConnected", NULL, js_on_connected, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "cancel", NULL, js_cancel, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
