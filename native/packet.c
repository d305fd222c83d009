// lvs_packet: what a takeover does to the host, done from the director's own process, as keepalived does it: no
// process to start on the critical path. All calls are synchronous (the kernel answers them at once).
// A gratuitous ARP needs an AF_PACKET socket, which neither Node nor raw-socket opens:
//   open(ifname) -> fd      a packet socket bound to the interface, protocol 0: it receives nothing
//   send(fd, frame)         one whole Ethernet frame, sent as it is (destination MAC = its first 6 bytes)
//   close(fd)
// The VIPs, over rtnetlink (what `ip addr` sends):
//   addresses() -> [{ interface, family: 4|6, address, prefix }]     every address of the network namespace
//   changeAddress(add, ifname, family, address, prefix, label, ipv6Quiet)
//                           RTM_NEWADDR (create, exclusive) or RTM_DELADDR; label '' for none; ipv6Quiet: no DAD,
//                           preferred lifetime 0 (never a source address)
// A child's long stdin written by a thread of its own while the event loop does other work: native/feed.c.
// And the plain TCP connect of a health check: native/connect.c; the IPVS table read over generic netlink: native/ipvs.c.
// Errors are thrown with the errno's name as `code` (EPERM, ENODEV, EEXIST, EADDRNOTAVAIL...). Needs CAP_NET_RAW
// and CAP_NET_ADMIN.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <node_api.h>
#include "lvs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

napi_value lvs_fail(napi_env env, int err, const char *what) {
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
  if (index == 0) return lvs_fail(env, errno, name);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return lvs_fail(env, errno, "socket(AF_PACKET)");
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = (int)index };
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int err = errno;
    close(fd);
    return lvs_fail(env, err, "bind");
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
  if (n < 0) return lvs_fail(env, errno, "send");
  if ((size_t)n != len) return lvs_fail(env, EMSGSIZE, "send");
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
  if (close(fd) < 0) return lvs_fail(env, errno, "close");
  return NULL;
}

// --- rtnetlink: the addresses

static int nl_open(napi_env env) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) lvs_fail(env, errno, "socket(AF_NETLINK)");
  return fd;
}

static void set_prop(napi_env env, napi_value obj, const char *key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
}

static napi_value js_addresses(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = nl_open(env);
  if (fd < 0) return NULL;
  struct { struct nlmsghdr nh; struct ifaddrmsg ifa; } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
  req.nh.nlmsg_type = RTM_GETADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = AF_UNSPEC;
  if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
    int err = errno;
    close(fd);
    return lvs_fail(env, err, "RTM_GETADDR");
  }
  napi_value list;
  napi_create_array(env, &list);
  uint32_t count = 0;
  size_t size = 65536;
  char *buf = malloc(size);
  if (!buf) {
    close(fd);
    return lvs_fail(env, ENOMEM, "addresses");
  }
  int done = 0, err = 0;
  while (!done && !err) {
    ssize_t n = recv(fd, buf, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != 1) continue;
      if (nh->nlmsg_type == NLMSG_DONE) { done = 1; break; }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(nh);
        err = e->error ? -e->error : EIO;
        break;
      }
      if (nh->nlmsg_type != RTM_NEWADDR) continue;
      struct ifaddrmsg *ifa = NLMSG_DATA(nh);
      if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) continue;
      void *local = NULL, *address = NULL;
      int len = IFA_PAYLOAD(nh);
      for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == IFA_LOCAL) local = RTA_DATA(rta);
        else if (rta->rta_type == IFA_ADDRESS) address = RTA_DATA(rta);
      }
      void *a = local ? local : address;
      char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
      if (!a || !inet_ntop(ifa->ifa_family, a, text, sizeof text) || !if_indextoname(ifa->ifa_index, name)) continue;
      napi_value o, v;
      napi_create_object(env, &o);
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
      set_prop(env, o, "interface", v);
      napi_create_int32(env, ifa->ifa_family == AF_INET ? 4 : 6, &v);
      set_prop(env, o, "family", v);
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
      set_prop(env, o, "address", v);
      napi_create_int32(env, ifa->ifa_prefixlen, &v);
      set_prop(env, o, "prefix", v);
      napi_set_element(env, list, count++, o);
    }
  }
  free(buf);
  close(fd);
  if (err) return lvs_fail(env, err, "RTM_GETADDR");
  return list;
}

static void add_attr(struct nlmsghdr *nh, unsigned short type, const void *data, size_t len) {
  struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

static napi_value js_change_address(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  bool add = false, quiet = false;
  char name[IF_NAMESIZE + 1], text[INET6_ADDRSTRLEN + 1], label[IF_NAMESIZE + 1];
  size_t name_len = 0, text_len = 0, label_len = 0;
  int32_t family = 0, prefix = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7 || napi_get_value_bool(env, argv[0], &add) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &name_len) != napi_ok || name_len == 0 || name_len >= IF_NAMESIZE ||
      napi_get_value_int32(env, argv[2], &family) != napi_ok || (family != 4 && family != 6) ||
      napi_get_value_string_utf8(env, argv[3], text, sizeof text, &text_len) != napi_ok ||
      napi_get_value_int32(env, argv[4], &prefix) != napi_ok || prefix < 0 || prefix > (family == 4 ? 32 : 128) ||
      napi_get_value_string_utf8(env, argv[5], label, sizeof label, &label_len) != napi_ok || label_len >= IF_NAMESIZE ||
      napi_get_value_bool(env, argv[6], &quiet) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "changeAddress(add, ifname, family, address, prefix, label, ipv6Quiet)");
    return NULL;
  }
  int af = family == 4 ? AF_INET : AF_INET6;
  unsigned char bytes[16];
  if (inet_pton(af, text, bytes) != 1) {
    napi_throw_type_error(env, "EINVAL", "changeAddress: not an address of that family");
    return NULL;
  }
  unsigned index = if_nametoindex(name);
  if (index == 0) return lvs_fail(env, errno, name);
  union { struct nlmsghdr nh; char bytes[NLMSG_SPACE(sizeof(struct ifaddrmsg)) + 256]; } req;
  memset(&req, 0, sizeof req);
  struct nlmsghdr *nh = &req.nh;
  struct ifaddrmsg *ifa = NLMSG_DATA(nh);
  nh->nlmsg_len = NLMSG_LENGTH(sizeof *ifa);
  nh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  nh->nlmsg_seq = 2;
  ifa->ifa_family = af;
  ifa->ifa_prefixlen = prefix;
  ifa->ifa_index = index;
  size_t alen = family == 4 ? 4 : 16;
  add_attr(nh, IFA_LOCAL, bytes, alen);
  add_attr(nh, IFA_ADDRESS, bytes, alen);
  if (label_len) add_attr(nh, IFA_LABEL, label, label_len + 1);
  if (add && quiet && family == 6) {
    uint32_t flags = IFA_F_NODAD;
    ifa->ifa_flags = IFA_F_NODAD;
    add_attr(nh, IFA_FLAGS, &flags, sizeof flags);
    struct ifa_cacheinfo ci = { .ifa_prefered = 0, .ifa_valid = 0xFFFFFFFFu };
    add_attr(nh, IFA_CACHEINFO, &ci, sizeof ci);
  }
  int fd = nl_open(env);
  if (fd < 0) return NULL;
  int err = 0;
  if (send(fd, nh, nh->nlmsg_len, 0) < 0) err = errno;
  while (!err) {
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    struct nlmsghdr *ack = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(ack, (size_t)n) || ack->nlmsg_seq != 2 || ack->nlmsg_type != NLMSG_ERROR) continue;
    err = -((struct nlmsgerr *)NLMSG_DATA(ack))->error;
    break;
  }
  close(fd);
  if (err) return lvs_fail(env, err, add ? "RTM_NEWADDR" : "RTM_DELADDR");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "addresses", NULL, js_addresses, NULL, NULL, NULL, napi_enumerable, NULL },
    { "changeAddress", NULL, js_change_address, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  connect_init(env, exports);
  feed_init(env, exports);
  ipvs_init(env, exports);
  memory_init(env, exports);
  spawn_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
