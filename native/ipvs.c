// lvs_packet, part three: the kernel's IPVS table read over generic netlink, as ipvsadm reads it, from the
// director's own process: no `ipvsadm -Sn` and `-Ln --thresholds` to start and parse (two processes, whose cost
// under emulation is half a small `ipvsadm -R`).
//   ipvsRead() -> [{ af, protocol, address, port, fwmark, scheduler, flags, timeout, netmask, pe,
//                    destinations: [{ af, address, port, fwd, weight, upper, lower, tunType, tunPort, tunFlags }] }]
// Numbers are the kernel's own (include/uapi/linux/ip_vs.h: protocol numbers, IP_VS_SVC_F_* flags, the
// IP_VS_CONN_F_* forwarding method, netmask in host order); src/ipvs/netlink-read.ts maps them onto the model. Throws (code = errno name) when the kernel has no IPVS (ENOENT: no such generic netlink family).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <node_api.h>
#include "lvs.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

typedef struct {
  int fd;
  uint32_t seq;
  uint16_t family; // IPVS's generic netlink family id
  unsigned char *buf;
} nl_t;

// A request: nlmsghdr, genlmsghdr, then attributes appended with put_attr / nested.
typedef struct {
  unsigned char data[512];
  size_t len;
} req_t;

static void req_start(req_t *r, uint16_t type, uint16_t flags, uint8_t cmd, uint8_t version) {
  memset(r, 0, sizeof *r);
  struct nlmsghdr *h = (struct nlmsghdr *)r->data;
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
  struct genlmsghdr *g = (struct genlmsghdr *)NLMSG_DATA(h);
  g->cmd = cmd;
  g->version = version;
  r->len = NLMSG_LENGTH(GENL_HDRLEN);
}

static struct nlattr *put_attr(req_t *r, uint16_t type, const void *value, size_t len) {
  struct nlattr *a = (struct nlattr *)(r->data + r->len);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + len);
  if (len) memcpy((unsigned char *)a + NLA_HDRLEN, value, len);
  r->len += NLA_ALIGN(a->nla_len);
  return a;
}

static void end_nested(req_t *r, struct nlattr *a) { a->nla_len = (uint16_t)(r->data + r->len - (unsigned char *)a); }

// Attributes of a payload, by type (up to max); others ignored.
static void parse_attrs(const unsigned char *p, int len, const struct nlattr **tb, int max) {
  memset(tb, 0, sizeof *tb * (max + 1));
  while (len >= NLA_HDRLEN) {
    const struct nlattr *a = (const struct nlattr *)p;
    if (a->nla_len < NLA_HDRLEN || a->nla_len > len) break;
    int type = a->nla_type & NLA_TYPE_MASK;
    if (type <= max) tb[type] = a;
    int step = NLA_ALIGN(a->nla_len);
    p += step;
    len -= step;
  }
}

static const void *attr_data(const struct nlattr *a) { return (const unsigned char *)a + NLA_HDRLEN; }
static int attr_len(const struct nlattr *a) { return a->nla_len - NLA_HDRLEN; }
static uint32_t attr_u32(const struct nlattr *a) { uint32_t v = 0; if (a && attr_len(a) >= 4) memcpy(&v, attr_data(a), 4); return v; }
static uint16_t attr_u16(const struct nlattr *a) { uint16_t v = 0; if (a && attr_len(a) >= 2) memcpy(&v, attr_data(a), 2); return v; }
static uint8_t attr_u8(const struct nlattr *a) { return a && attr_len(a) >= 1 ? *(const uint8_t *)attr_data(a) : 0; }

// Sends a request and calls `each` on every message of the answer (a dump ends at NLMSG_DONE). 0 or an errno.
typedef int (*each_fn)(void *ctx, const unsigned char *payload, int len);

static int transact(nl_t *nl, req_t *r, each_fn each, void *ctx) {
  struct nlmsghdr *h = (struct nlmsghdr *)r->data;
  h->nlmsg_len = (uint32_t)r->len;
  h->nlmsg_seq = ++nl->seq;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  if (sendto(nl->fd, r->data, r->len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  int dump = h->nlmsg_flags & NLM_F_DUMP;
  for (;;) {
    ssize_t n = recv(nl->fd, nl->buf, BUF_SIZE, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (struct nlmsghdr *m = (struct nlmsghdr *)nl->buf; NLMSG_OK(m, n); m = NLMSG_NEXT(m, n)) {
      if (m->nlmsg_seq != nl->seq) continue;
      if (m->nlmsg_type == NLMSG_DONE) return 0;
      if (m->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(m);
        if (e->error != 0 || !dump) return -e->error;
        continue;
      }
      int err = each(ctx, (const unsigned char *)NLMSG_DATA(m) + GENL_HDRLEN, (int)NLMSG_PAYLOAD(m, GENL_HDRLEN));
      if (err) return err;
      if (!dump) return 0;
    }
  }
}

static int on_family(void *ctx, const unsigned char *p, int len) {
  const struct nlattr *tb[CTRL_ATTR_MAX + 1];
  parse_attrs(p, len, tb, CTRL_ATTR_MAX);
  if (!tb[CTRL_ATTR_FAMILY_ID]) return ENOENT;
  *(uint16_t *)ctx = attr_u16(tb[CTRL_ATTR_FAMILY_ID]);
  return 0;
}

typedef struct {
  napi_env env;
  napi_value list;
  uint32_t count;
  uint16_t af; // destinations: their service's family, for kernels that do not send each one's own
} out_t;

static void set_num(napi_env env, napi_value o, const char *name, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, name, x);
}

static void set_str(napi_env env, napi_value o, const char *name, const char *s, size_t len) {
  napi_value x;
  napi_create_string_utf8(env, s, len, &x);
  napi_set_named_property(env, o, name, x);
}

static void set_addr(napi_env env, napi_value o, uint16_t af, const struct nlattr *a) {
  char text[INET6_ADDRSTRLEN];
  if (!a || attr_len(a) < (af == AF_INET6 ? 16 : 4) || !inet_ntop(af, attr_data(a), text, sizeof text)) return;
  set_str(env, o, "address", text, NAPI_AUTO_LENGTH);
}

// A string attribute (NUL-terminated by the kernel), when present and not empty.
static void set_name(napi_env env, napi_value o, const char *name, const struct nlattr *a) {
  if (!a || attr_len(a) < 1) return;
  size_t len = strnlen(attr_data(a), (size_t)attr_len(a));
  if (len) set_str(env, o, name, attr_data(a), len);
}

static int on_dest(void *ctx, const unsigned char *p, int len) {
  out_t *out = ctx;
  napi_env env = out->env;
  const struct nlattr *cmd[IPVS_CMD_ATTR_MAX + 1], *tb[IPVS_DEST_ATTR_MAX + 1];
  parse_attrs(p, len, cmd, IPVS_CMD_ATTR_MAX);
  if (!cmd[IPVS_CMD_ATTR_DEST]) return 0;
  parse_attrs(attr_data(cmd[IPVS_CMD_ATTR_DEST]), attr_len(cmd[IPVS_CMD_ATTR_DEST]), tb, IPVS_DEST_ATTR_MAX);
  uint16_t af = tb[IPVS_DEST_ATTR_ADDR_FAMILY] ? attr_u16(tb[IPVS_DEST_ATTR_ADDR_FAMILY]) : 0;
  napi_value d;
  napi_create_object(env, &d);
  set_num(env, d, "af", af);
  set_addr(env, d, af ? af : out->af, tb[IPVS_DEST_ATTR_ADDR]);
  set_num(env, d, "port", ntohs(attr_u16(tb[IPVS_DEST_ATTR_PORT])));
  set_num(env, d, "fwd", attr_u32(tb[IPVS_DEST_ATTR_FWD_METHOD]) & IP_VS_CONN_F_FWD_MASK);
  set_num(env, d, "weight", attr_u32(tb[IPVS_DEST_ATTR_WEIGHT]));
  set_num(env, d, "upper", attr_u32(tb[IPVS_DEST_ATTR_U_THRESH]));
  set_num(env, d, "lower", attr_u32(tb[IPVS_DEST_ATTR_L_THRESH]));
  set_num(env, d, "tunType", attr_u8(tb[IPVS_DEST_ATTR_TUN_TYPE]));
  set_num(env, d, "tunPort", ntohs(attr_u16(tb[IPVS_DEST_ATTR_TUN_PORT])));
  set_num(env, d, "tunFlags", attr_u16(tb[IPVS_DEST_ATTR_TUN_FLAGS]));
  napi_set_element(env, out->list, out->count++, d);
  return 0;
}

typedef struct {
  out_t out;
  nl_t *nl;
} svc_ctx_t;

static int on_service(void *ctx, const unsigned char *p, int len) {
  svc_ctx_t *c = ctx;
  napi_env env = c->out.env;
  const struct nlattr *cmd[IPVS_CMD_ATTR_MAX + 1], *tb[IPVS_SVC_ATTR_MAX + 1];
  parse_attrs(p, len, cmd, IPVS_CMD_ATTR_MAX);
  if (!cmd[IPVS_CMD_ATTR_SERVICE]) return 0;
  parse_attrs(attr_data(cmd[IPVS_CMD_ATTR_SERVICE]), attr_len(cmd[IPVS_CMD_ATTR_SERVICE]), tb, IPVS_SVC_ATTR_MAX);
  uint16_t af = attr_u16(tb[IPVS_SVC_ATTR_AF]);
  napi_value s;
  napi_create_object(env, &s);
  set_num(env, s, "af", af);
  set_num(env, s, "protocol", attr_u16(tb[IPVS_SVC_ATTR_PROTOCOL]));
  uint32_t fwmark = attr_u32(tb[IPVS_SVC_ATTR_FWMARK]);
  set_num(env, s, "fwmark", fwmark);
  if (!fwmark) set_addr(env, s, af, tb[IPVS_SVC_ATTR_ADDR]);
  set_num(env, s, "port", ntohs(attr_u16(tb[IPVS_SVC_ATTR_PORT])));
  set_name(env, s, "scheduler", tb[IPVS_SVC_ATTR_SCHED_NAME]);
  set_name(env, s, "pe", tb[IPVS_SVC_ATTR_PE_NAME]);
  struct ip_vs_flags flags = { 0, 0 };
  if (tb[IPVS_SVC_ATTR_FLAGS] && attr_len(tb[IPVS_SVC_ATTR_FLAGS]) >= (int)sizeof flags) memcpy(&flags, attr_data(tb[IPVS_SVC_ATTR_FLAGS]), sizeof flags);
  set_num(env, s, "flags", flags.flags);
  set_num(env, s, "timeout", attr_u32(tb[IPVS_SVC_ATTR_TIMEOUT]));
  // IPv4: a mask in network order; IPv6: a prefix length, as the kernel holds it (host order), whatever the attribute's type says.
  uint32_t netmask = attr_u32(tb[IPVS_SVC_ATTR_NETMASK]);
  set_num(env, s, "netmask", af == AF_INET6 ? netmask : ntohl(netmask));
  // Its destinations: a dump of its own, naming the service as the kernel named it.
  req_t r;
  req_start(&r, c->nl->family, NLM_F_DUMP, IPVS_CMD_GET_DEST, IPVS_GENL_VERSION);
  struct nlattr *nest = put_attr(&r, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, NULL, 0);
  for (int t = IPVS_SVC_ATTR_AF; t <= IPVS_SVC_ATTR_FWMARK; t++) {
    if (tb[t]) put_attr(&r, (uint16_t)t, attr_data(tb[t]), (size_t)attr_len(tb[t]));
  }
  end_nested(&r, nest);
  out_t dests = { env, NULL, 0, af };
  napi_create_array(env, &dests.list);
  // The service dump is still being read: destinations go through a socket of their own (see js_read).
  nl_t *dn = c->nl + 1;
  int err = transact(dn, &r, on_dest, &dests);
  if (err) return err;
  napi_set_named_property(env, s, "destinations", dests.list);
  napi_set_element(env, c->out.list, c->out.count++, s);
  return 0;
}

static int nl_open(nl_t *nl, unsigned char *buf) {
  nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  nl->seq = 0;
  nl->buf = buf;
  if (nl->fd < 0) return errno;
  struct sockaddr_nl self = { .nl_family = AF_NETLINK };
  if (bind(nl->fd, (struct sockaddr *)&self, sizeof self) < 0) return errno;
  return 0;
}

static napi_value js_read(napi_env env, napi_callback_info info) {
  (void)info;
  nl_t nl[2] = { { -1, 0, 0, NULL }, { -1, 0, 0, NULL } };
  unsigned char *bufs = malloc(2 * BUF_SIZE);
  if (!bufs) return lvs_fail(env, ENOMEM, "ipvsRead");
  int err = nl_open(&nl[0], bufs);
  if (!err) err = nl_open(&nl[1], bufs + BUF_SIZE);
  if (!err) {
    req_t r;
    req_start(&r, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1);
    put_attr(&r, CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME, sizeof IPVS_GENL_NAME);
    err = transact(&nl[0], &r, on_family, &nl[0].family);
    nl[1].family = nl[0].family;
  }
  svc_ctx_t c = { { env, NULL, 0, 0 }, nl };
  napi_create_array(env, &c.out.list);
  if (!err) {
    req_t r;
    req_start(&r, nl[0].family, NLM_F_DUMP, IPVS_CMD_GET_SERVICE, IPVS_GENL_VERSION);
    err = transact(&nl[0], &r, on_service, &c);
  }
  for (int i = 0; i < 2; i++) {
    if (nl[i].fd >= 0) close(nl[i].fd);
  }
  free(bufs);
  if (err) return lvs_fail(env, err, "IPVS over generic netlink");
  return c.out.list;
}

void ipvs_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "ipvsRead", NULL, js_read, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
