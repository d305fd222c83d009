// A child process's stdin written while Node's event loop does other work (through Node's stream pipe, what the pipe
// does not hold waits for the loop's next turn): what the pipe takes is written at once, from the loop; once it is
// full, the rest by a thread of its own.
//   feedOpen(done) -> [readFd, feeder]   a new pipe; the read end (close-on-exec: spawn dup2s it onto the child's
//                                        stdin; close it here after the spawn) and the writer of its write end
//   feedWrite(feeder, text)              write `text` (UTF-8) now as far as the pipe takes it; the rest (and all
//                                        that follows) is queued for the thread, written in order
//   feedEnd(feeder)                      no more: the write end is closed once the queue is written, then done()
//                                        is called on the loop. Writing stops early (the rest dropped) when the
//                                        reader is gone (EPIPE: the child exited or was killed).
// Until done() the feeder holds the loop open; its thread, if one was needed, is joined and freed after that.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include "lvs.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct chunk {
  struct chunk *next;
  size_t length;
  size_t written; // bytes of data already in the pipe
  char data[];
} chunk_t;

typedef struct {
  uv_thread_t thread;
  uv_mutex_t lock;
  uv_cond_t more;
  chunk_t *head, *tail; // queued, not yet written (under lock)
  int ended;            // feedEnd was called (under lock)
  int fd;               // the write end: the loop's until the thread starts, then the thread's alone
  int started;          // the thread runs (the finalizer joins it)
  int broken;           // a write found no reader (EPIPE): the rest is dropped (the fd's owner's, as fd)
  napi_threadsafe_function done;
} feeder_t;

// The handle JavaScript holds: cleared by feedEnd, so a later call throws instead of touching a freed feeder.
typedef struct {
  feeder_t *feeder;
} handle_t;

// Writes what it can of `c`: 0 once all of it is in the pipe, EAGAIN when the pipe is full (a non-blocking write end),
// EPIPE when no reader is left.
static int write_chunk(int fd, chunk_t *c) {
  while (c->written < c->length) {
    ssize_t n = write(fd, c->data + c->written, c->length - c->written);
    if (n > 0) c->written += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else return n < 0 && errno == EAGAIN ? EAGAIN : EPIPE;
  }
  return 0;
}

// The write end closed (the reader sees the end of its input), then done() on the loop; from either thread.
static void feeder_done(feeder_t *f) {
  close(f->fd);
  napi_call_threadsafe_function(f->done, NULL, napi_tsfn_blocking);
  napi_release_threadsafe_function(f->done, napi_tsfn_release);
}

static void feeder_run(void *arg) {
  feeder_t *f = arg;
  for (;;) {
    uv_mutex_lock(&f->lock);
    while (!f->head && !f->ended) uv_cond_wait(&f->more, &f->lock);
    chunk_t *c = f->head;
    if (c) {
      f->head = c->next;
      if (!f->head) f->tail = NULL;
    }
    uv_mutex_unlock(&f->lock);
    if (!c) break; // ended and drained
    if (!f->broken && write_chunk(f->fd, c) != 0) f->broken = 1; // EPIPE: nobody reads any more
    free(c);
  }
  feeder_done(f);
}

// On the loop, after done() was called and released: the thread has finished.
static void feeder_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  feeder_t *f = data;
  if (f->started) uv_thread_join(&f->thread);
  uv_cond_destroy(&f->more);
  uv_mutex_destroy(&f->lock);
  free(f);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static handle_t *handle_arg(napi_env env, napi_value v) {
  handle_t *h = NULL;
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external) return NULL;
  napi_get_value_external(env, v, (void **)&h);
  return h && h->feeder ? h : NULL;
}

static napi_value js_feed_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name, pair, fd, external;
  napi_valuetype type = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_function) {
    napi_throw_type_error(env, "EINVAL", "feedOpen(done): a function");
    return NULL;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return lvs_fail(env, errno, "pipe2");
  feeder_t *f = calloc(1, sizeof *f);
  handle_t *h = calloc(1, sizeof *h);
  if (!f || !h) {
    free(f);
    free(h);
    close(fds[0]);
    close(fds[1]);
    return lvs_fail(env, ENOMEM, "feedOpen");
  }
  // A pipe of up to 1 MiB (the unprivileged maximum): a reader that takes a page from a full pipe wakes the writer
  // for the next one, a round trip per page that a bigger pipe spares until it is full.
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  // Written from the loop while the pipe takes it (no thread for an input the pipe holds), by the thread after.
  fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
  f->fd = fds[1];
  uv_mutex_init(&f->lock);
  uv_cond_init(&f->more);
  napi_create_string_utf8(env, "lvs_feed", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, f, feeder_finalize, NULL, NULL, &f->done) != napi_ok) {
    uv_cond_destroy(&f->more);
    uv_mutex_destroy(&f->lock);
    free(f);
    free(h);
    close(fds[0]);
    close(fds[1]);
    napi_throw_error(env, "EIO", "feedOpen: no threadsafe function");
    return NULL;
  }
  h->feeder = f;
  napi_create_array_with_length(env, 2, &pair);
  napi_create_int32(env, fds[0], &fd);
  napi_create_external(env, h, handle_finalize, NULL, &external);
  napi_set_element(env, pair, 0, fd);
  napi_set_element(env, pair, 1, external);
  return pair;
}

// Queues chunk `c` for the thread, or with NULL marks the end.
static void feeder_push(feeder_t *f, chunk_t *c) {
  uv_mutex_lock(&f->lock);
  if (!c) f->ended = 1;
  else if (f->tail) f->tail->next = c;
  else f->head = c;
  if (c) f->tail = c;
  uv_cond_signal(&f->more);
  uv_mutex_unlock(&f->lock);
}

static napi_value js_feed_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  handle_t *h = argc >= 2 ? handle_arg(env, argv[0]) : NULL;
  size_t length = 0;
  if (!h || napi_get_value_string_utf8(env, argv[1], NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "feedWrite(feeder, text): an open feeder and a string");
    return NULL;
  }
  chunk_t *c = malloc(sizeof *c + length + 1);
  if (!c) return lvs_fail(env, ENOMEM, "feedWrite");
  napi_get_value_string_utf8(env, argv[1], c->data, length + 1, &c->length);
  c->next = NULL;
  c->written = 0;
  feeder_t *f = h->feeder;
  if (!f->started) {
    // What the pipe takes now, from here; the rest (the pipe full) to a thread of its own, with blocking writes.
    int r = f->broken ? EPIPE : write_chunk(f->fd, c);
    if (r != EAGAIN) {
      f->broken = r == EPIPE; // nobody reads any more
      free(c);
      return NULL;
    }
    fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) & ~O_NONBLOCK);
    if (uv_thread_create(&f->thread, feeder_run, f) != 0) {
      // No thread: this and what follows written here, blocking (never a reader left with a cut line).
      f->broken = write_chunk(f->fd, c) != 0;
      free(c);
      return NULL;
    }
    f->started = 1;
  }
  feeder_push(f, c);
  return NULL;
}

static napi_value js_feed_end(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  handle_t *h = argc >= 1 ? handle_arg(env, argv[0]) : NULL;
  if (!h) {
    napi_throw_type_error(env, "EINVAL", "feedEnd(feeder): an open feeder");
    return NULL;
  }
  feeder_t *f = h->feeder;
  h->feeder = NULL;
  if (f->started) feeder_push(f, NULL);
  else feeder_done(f); // all written from the loop: no thread
  return NULL;
}

void feed_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "feedOpen", NULL, js_feed_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "feedWrite", NULL, js_feed_write, NULL, NULL, NULL, napi_enumerable, NULL },
    { "feedEnd", NULL, js_feed_end, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
