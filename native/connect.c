// lvs_packet, part two: the plain TCP connect of a health check (keepalived's TCP_CHECK), done the way keepalived
// does it, and on a cadence of its own so that JavaScript runs once per batch of results, not once per probe.
// An engine holds targets; each target is probed every interval: a non-blocking socket, connect(), a wait for
// writability in the engine's own epoll set (one uv_poll_t on Node's loop watches that set), SO_ERROR on an error,
// close() (with a reset once connected: no TIME_WAIT).
// One uv_timer_t per target carries both its cadence and the deadline of the probe in flight, firing on multiples of
// a slack (1% of the interval, at most 10 ms) so that targets due together start together. Results gather in a
// buffer that one call into JavaScript takes in the loop's next idle phase (a uv_idle_t, active only then).
//   tcpOpen(fn, maxInFlight) -> engine      fn(Float64Array [id, errno, micros, ...]) gets every batch;
//                                           errno 0: connected, -1: no answer within the timeout
//   tcpAdd(engine, family, address, port, intervalMs, timeoutMs, firstMs) -> id
//                                           probes first after firstMs, then every intervalMs on a fixed cadence
//                                           (intervalMs 0: once, then the target is gone); timeoutMs 0: none
//   tcpRemove(engine, id) -> bool           stops a target (its probe in flight closed, no result); false if gone
//   tcpStats(engine) -> [started, completed, timeouts, late, inFlight, queued, targets]
//   tcpClose(engine)                        removes every target and lets go of the loop's handles
// Past maxInFlight probes at once, a due target waits in a FIFO queue. A slot whose probe (or wait) ran past it
// makes the next start at once and the cadence go on from there ("late"), as the scheduler does for other checks.
// Ids are slot + generation (lvs.h), so a late remove never reaches a reused slot. The engine's handles are unref'd
// (a daemon has others), but while one-off targets remain they keep the loop alive, as a net.Socket would.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include "lvs.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

typedef struct engine engine_t;

#define SLACK_MS 10

typedef struct target {
  engine_t *engine;
  uv_timer_t timer; // the next slot while idle or queued, the deadline while a probe is in flight
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } addr; // not a sockaddr_storage: 100 bytes less a target, 4 MB at 40,000
  socklen_t addrlen;
  uint64_t interval, timeout; // ms; interval 0: once
  uint64_t slack;             // ms: its timers fire on multiples of this (see arm)
  uint64_t due;               // loop time (ms) of the current slot
  uint64_t started;           // uv_hrtime() of the probe in flight
  int fd;                     // -1 when no probe is in flight
  int queued;
  struct target *next; // in the queue
  uint32_t slot;
} target_t;

struct engine {
  uv_loop_t *loop;
  napi_env env;
  napi_ref fn;
  int epfd;
  uv_poll_t poll;
  uv_idle_t flush; // active (and ref'd) only while results wait: the loop then neither blocks in its poll nor ends
  int handles; // open uv handles of the engine itself (poll, flush)
  int closed, finalized;
  lvs_slots_t targets;
  uint32_t count;
  uint32_t once; // one-off targets: while there are any, they hold the loop open, as a socket of Node's would
  uint32_t max_in_flight, in_flight, queued;
  int pumping; // pump() is running: a probe it starts that ends at once does not start another pump beneath it
  target_t *head, *tail;
  double *results;
  size_t n, cap; // doubles in results
  double started, completed, timeouts, late;
};

static void free_engine(engine_t *e) {
  free(e->targets.slots);
  free(e->results);
  free(e);
}

static void on_flush(uv_idle_t *h);

static void on_engine_handle_closed(uv_handle_t *h) {
  engine_t *e = h->data;
  if (--e->handles == 0 && e->finalized) free_engine(e);
}

static void on_target_closed(uv_handle_t *h) { free(h->data); }

static void push_result(engine_t *e, double id, int err, double micros) {
  if (e->n + 3 > e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 3 * 256;
    double *more = realloc(e->results, cap * sizeof *more);
    if (!more) return; // out of memory: this result is lost, the next probe reports again
    e->results = more;
    e->cap = cap;
  }
  e->results[e->n++] = id;
  e->results[e->n++] = err;
  e->results[e->n++] = micros;
  if (e->n == 3) uv_idle_start(&e->flush, on_flush);
}

static void drop_target(target_t *t) {
  engine_t *e = t->engine;
  if (t->fd >= 0) {
    close(t->fd); // leaves the epoll set with it
    t->fd = -1;
    e->in_flight--;
  }
  if (t->queued) {
    target_t **p = &e->head, *prev = NULL;
    while (*p != t) prev = *p, p = &(*p)->next;
    *p = t->next;
    if (e->tail == t) e->tail = prev;
    t->queued = 0;
    e->queued--;
  }
  lvs_slot_free(&e->targets, t->slot);
  e->count--;
  if (t->interval == 0 && --e->once == 0) uv_unref((uv_handle_t *)&e->poll);
  uv_close((uv_handle_t *)&t->timer, on_target_closed);
}

static void on_timer(uv_timer_t *h);
static void start_probe(target_t *t);

// Arms a target's timer `delay` ms from the loop's now, rounded up to a multiple of its slack in loop time (as the
// kernel's timer slack does): the targets due in the same few milliseconds then start in one pass of the loop and
// their answers come back in one wake-up and one batch, instead of a wake-up each.
static void arm(target_t *t, uint64_t delay) {
  uint64_t now = uv_now(t->engine->loop), at = now + delay;
  if (t->slack > 1) at = (at + t->slack - 1) / t->slack * t->slack;
  uv_timer_start(&t->timer, on_timer, at - now, 0);
}

// Starts queued targets while there is room. Not re-entered: a probe that fails at once (ENETUNREACH, EMFILE) ends
// in finish(), which pumps again; the loop here goes on instead, so a long queue of such failures never nests deep.
static void pump(engine_t *e) {
  if (e->pumping) return;
  e->pumping = 1;
  while (e->head && e->in_flight < e->max_in_flight) {
    target_t *t = e->head;
    e->head = t->next;
    if (!e->head) e->tail = NULL;
    t->queued = 0;
    e->queued--;
    start_probe(t);
  }
  e->pumping = 0;
}

// A probe ended (err 0: connected, -1: timed out): report it, then arm the next slot or drop a one-off target.
static void finish(target_t *t, int err) {
  engine_t *e = t->engine;
  if (t->fd >= 0) {
    if (err == 0) {
      // Connected: close with a reset, as HAProxy closes its checks, rather than a FIN handshake that leaves this
      // side's socket in TIME_WAIT for a minute (10,000 checks a second would keep 600,000 of them).
      struct linger reset = { 1, 0 };
      setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    close(t->fd);
    t->fd = -1;
    e->in_flight--;
  }
  e->completed++;
  if (err < 0) e->timeouts++;
  push_result(e, lvs_slot_id(&e->targets, t->slot), err, (double)(uv_hrtime() - t->started) / 1e3);
  if (t->interval == 0) {
    drop_target(t);
  } else {
    uint64_t now = uv_now(e->loop), next = t->due + t->interval;
    if (next < now) {
      e->late++;
      next = now;
    }
    t->due = next;
    arm(t, next - now);
  }
  pump(e);
}

static void start_probe(target_t *t) {
  engine_t *e = t->engine;
  e->started++;
  t->started = uv_hrtime();
  int fd = socket(t->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    finish(t, errno);
    return;
  }
  int err = connect(fd, &t->addr.sa, t->addrlen) < 0 ? errno : 0;
  if (err == EINPROGRESS) {
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)lvs_slot_id(&e->targets, t->slot) };
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
      t->fd = fd;
      e->in_flight++;
      if (t->timeout) arm(t, t->timeout);
      return;
    }
    err = errno;
  }
  close(fd);
  finish(t, err);
}

static void on_timer(uv_timer_t *h) {
  target_t *t = h->data;
  engine_t *e = t->engine;
  if (t->fd >= 0) {
    finish(t, -1); // the deadline of the probe in flight
  } else if (e->in_flight < e->max_in_flight) {
    start_probe(t);
  } else {
    t->queued = 1;
    t->next = NULL;
    if (e->tail) e->tail->next = t;
    else e->head = t;
    e->tail = t;
    e->queued++;
  }
}

static void on_ready(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  engine_t *e = h->data;
  struct epoll_event evs[256];
  int n;
  do {
    n = epoll_wait(e->epfd, evs, 256, 0);
    for (int i = 0; i < n; i++) {
      target_t *t = lvs_slot_get(&e->targets, (double)evs[i].data.u64);
      if (!t || t->fd < 0) continue; // removed (or ended by its deadline) in this same batch
      int err = 0;
      socklen_t len = sizeof err;
      // Writable without an error or a hang-up is connected; else the socket's own error says why.
      if ((evs[i].events & (EPOLLERR | EPOLLHUP)) && getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if ((evs[i].events & (EPOLLERR | EPOLLHUP)) && err == 0) err = ECONNRESET;
      finish(t, err);
    }
  } while (n == 256);
}

// One call into JavaScript with every result gathered since the last (the loop's idle phase, before it polls).
static void on_flush(uv_idle_t *h) {
  engine_t *e = h->data;
  uv_idle_stop(h);
  size_t n = e->n;
  if (n == 0 || !e->fn) return;
  e->n = 0;
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  void *data;
  napi_value buffer, array, fn, recv;
  if (napi_create_arraybuffer(env, n * sizeof(double), &data, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_float64_array, n, buffer, 0, &array) == napi_ok) {
    memcpy(data, e->results, n * sizeof(double));
    napi_get_reference_value(env, e->fn, &fn);
    napi_get_global(env, &recv);
    napi_make_callback(env, NULL, recv, fn, 1, &array, NULL);
  }
  napi_close_handle_scope(env, scope);
}

static void close_engine(engine_t *e) {
  if (e->closed) return;
  e->closed = 1;
  for (uint32_t s = 0; s < e->targets.capacity; s++) {
    if (e->targets.slots[s].item) drop_target(e->targets.slots[s].item);
  }
  uv_close((uv_handle_t *)&e->poll, on_engine_handle_closed);
  uv_close((uv_handle_t *)&e->flush, on_engine_handle_closed);
  close(e->epfd);
  if (e->fn) napi_delete_reference(e->env, e->fn);
  e->fn = NULL;
}

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  engine_t *e = data;
  e->finalized = 1;
  if (!e->closed) close_engine(e);
  if (e->handles == 0) free_engine(e);
}

static engine_t *engine_arg(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data || ((engine_t *)data)->closed) return NULL;
  return data;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_valuetype type;
  uint32_t max = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function ||
      napi_get_value_uint32(env, argv[1], &max) != napi_ok || max < 1) {
    napi_throw_type_error(env, "EINVAL", "tcpOpen(fn, maxInFlight): a function and an integer >= 1");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return lvs_fail(env, EINVAL, "event loop");
  engine_t *e = calloc(1, sizeof *e);
  if (!e) return lvs_fail(env, ENOMEM, "engine");
  e->loop = loop;
  e->env = env;
  e->max_in_flight = max;
  e->targets.free_head = UINT32_MAX;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) {
    int err = errno;
    free(e);
    return lvs_fail(env, err, "epoll_create1");
  }
  int rc = uv_poll_init(loop, &e->poll, e->epfd);
  if (rc < 0) {
    close(e->epfd);
    free(e);
    return lvs_fail(env, -rc, "uv_poll_init");
  }
  uv_idle_init(loop, &e->flush);
  e->poll.data = e->flush.data = e;
  e->handles = 2;
  uv_poll_start(&e->poll, UV_READABLE, on_ready);
  uv_unref((uv_handle_t *)&e->poll);
  napi_create_reference(env, argv[0], 1, &e->fn);
  napi_value out;
  if (napi_create_external(env, e, finalize_engine, NULL, &out) != napi_ok) {
    close_engine(e);
    e->finalized = 1;
    return lvs_fail(env, ENOMEM, "engine");
  }
  return out;
}

static napi_value js_add(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  int32_t family = 0, port = -1;
  int64_t interval = -1, timeout = -1, first = -1;
  char address[INET6_ADDRSTRLEN + 1];
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = argc == 7 ? engine_arg(env, argv[0]) : NULL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sslen = 0;
  int ok = e && napi_get_value_int32(env, argv[1], &family) == napi_ok &&
           napi_get_value_string_utf8(env, argv[2], address, sizeof address, &len) == napi_ok && len < sizeof address - 1 &&
           napi_get_value_int32(env, argv[3], &port) == napi_ok && port >= 0 && port <= 65535 &&
           napi_get_value_int64(env, argv[4], &interval) == napi_ok && interval >= 0 &&
           napi_get_value_int64(env, argv[5], &timeout) == napi_ok && timeout >= 0 &&
           napi_get_value_int64(env, argv[6], &first) == napi_ok && first >= 0;
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
  if (!ok) {
    napi_throw_type_error(env, "EINVAL",
                          "tcpAdd(engine, family, address, port, intervalMs, timeoutMs, firstMs): an open engine, 4 or 6, "
                          "a numeric address, a port, times >= 0 in ms");
    return NULL;
  }
  target_t *t = calloc(1, sizeof *t);
  if (!t || lvs_slot_alloc(&e->targets, t, &t->slot) < 0) {
    free(t);
    return lvs_fail(env, ENOMEM, "target");
  }
  t->engine = e;
  memcpy(&t->addr, &ss, sslen);
  t->addrlen = sslen;
  t->interval = (uint64_t)interval;
  t->timeout = (uint64_t)timeout;
  t->slack = t->interval / 100 < SLACK_MS ? t->interval / 100 : SLACK_MS; // 1% of the interval, at most SLACK_MS
  t->fd = -1;
  uv_timer_init(e->loop, &t->timer);
  if (t->interval > 0) uv_unref((uv_handle_t *)&t->timer);
  else if (e->once++ == 0) uv_ref((uv_handle_t *)&e->poll);
  t->timer.data = t;
  t->due = uv_now(e->loop) + (uint64_t)first;
  arm(t, (uint64_t)first);
  e->count++;
  napi_value out;
  napi_create_double(env, lvs_slot_id(&e->targets, t->slot), &out);
  return out;
}

static napi_value js_remove(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  double id = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = argc == 2 ? engine_arg(env, argv[0]) : NULL;
  if (!e || napi_get_value_double(env, argv[1], &id) != napi_ok || id < 0) {
    napi_throw_type_error(env, "EINVAL", "tcpRemove(engine, id): an open engine and a target's id");
    return NULL;
  }
  target_t *t = lvs_slot_get(&e->targets, id);
  if (t) {
    drop_target(t);
    pump(e);
  }
  napi_value out;
  napi_get_boolean(env, t != NULL, &out);
  return out;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = argc == 1 ? engine_arg(env, argv[0]) : NULL;
  if (!e) {
    napi_throw_type_error(env, "EINVAL", "tcpStats(engine): an open engine");
    return NULL;
  }
  double values[] = { e->started, e->completed, e->timeouts, e->late, e->in_flight, e->queued, e->count };
  napi_value out, v;
  napi_create_array_with_length(env, 7, &out);
  for (uint32_t i = 0; i < 7; i++) {
    napi_create_double(env, values[i], &v);
    napi_set_element(env, out, i, v);
  }
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = argc == 1 ? engine_arg(env, argv[0]) : NULL;
  if (e) close_engine(e); // a closed engine: nothing to do
  return NULL;
}

void connect_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "tcpOpen", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tcpAdd", NULL, js_add, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tcpRemove", NULL, js_remove, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tcpStats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tcpClose", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
