// lvs_packet: link-layer frames sent from the director's own process (a gratuitous ARP needs an AF_PACKET socket,
// which neither Node nor raw-socket opens). Three calls, all synchronous (a send of one small frame does not block):
//   open(ifname) -> fd      a packet socket bound to the interface, protocol 0: it receives nothing
//   send(fd, frame)         one whole Ethernet frame, sent as it is (destination MAC = its first 6 bytes)
//   close(fd)
// Errors are thrown with the errno's name as `code` (EPERM, ENODEV, ...). Needs CAP_NET_RAW.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static napi_value fail(napi_env env, int err, const char *what) {
  char msg[128];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EIO", msg);
  return NULL;
}

static int fd_arg(napi_env env, napi_value v, int *fd) {
  return napi_get_value_int32(env, v, fd) == napi_ok && *fd >= 0;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IF_NAMESIZE + 1];
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 || len >= IF_NAMESIZE) {
    napi_throw_type_error(env, "EINVAL", "open(ifname): an interface name of 1 to 15 characters");
    return NULL;
  }
  unsigned index = if_nametoindex(name);
  if (index == 0) return fail(env, errno, name);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket(AF_PACKET)");
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = (int)index };
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int err = errno;
    close(fd);
    return fail(env, err, "bind");
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  void *data;
  size_t len;
  bool is_buffer = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !fd_arg(env, argv[0], &fd) || napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len < 14) {
    napi_throw_type_error(env, "EINVAL", "send(fd, frame): a socket and a Buffer of one Ethernet frame");
    return NULL;
  }
  ssize_t n = send(fd, data, len, 0);
  if (n < 0) return fail(env, errno, "send");
  if ((size_t)n != len) return fail(env, EMSGSIZE, "send");
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !fd_arg(env, argv[0], &fd)) {
    napi_throw_type_error(env, "EINVAL", "close(fd): a socket");
    return NULL;
  }
  if (close(fd) < 0) return fail(env, errno, "close");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
