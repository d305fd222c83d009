// What the parts of the lvs_packet module share (native/packet.c, connect.c, ipvs.c, feed.c, memory.c).
#ifndef LVS_H
#define LVS_H
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>

// Throws an Error whose code is the errno's name (ECONNREFUSED, EPERM...) and message "what: strerror"; returns NULL.
napi_value lvs_fail(napi_env env, int err, const char *what);

// Adds tcpOpen, tcpAdd, tcpRemove, tcpStats and tcpClose to the module's exports (connect.c).
void connect_init(napi_env env, napi_value exports);

// Adds ipvsRead to the module's exports (ipvs.c).
void ipvs_init(napi_env env, napi_value exports);
// native/feed.c: a child's stdin written by a thread of its own.
void feed_init(napi_env env, napi_value exports);
// Adds mallocTrim to the module's exports (memory.c).
void memory_init(napi_env env, napi_value exports);
// Adds spawn to the module's exports (spawn.c).
void spawn_init(napi_env env, napi_value exports);

// A table of slots whose ids JavaScript holds: an id is slot + generation (20 bits above 32 of slot, so it stays an
// exact integer in a double), and a slot's generation moves on when it is freed, so a stale id finds nothing.
typedef struct {
  void *item; // NULL when free
  uint32_t generation;
  uint32_t next_free;
} lvs_slot_t;

typedef struct {
  lvs_slot_t *slots;
  uint32_t capacity;
  uint32_t free_head; // UINT32_MAX: none free
} lvs_slots_t;

#define LVS_GENERATIONS 0xfffffu

static inline double lvs_slot_id(const lvs_slots_t *t, uint32_t s) { return (double)t->slots[s].generation * 4294967296.0 + s; }

// Puts `item` in a free slot (the table grows by doubling); -1 when out of memory.
static inline int lvs_slot_alloc(lvs_slots_t *t, void *item, uint32_t *slot) {
  if (t->free_head == UINT32_MAX) {
    uint32_t grown = t->capacity ? t->capacity * 2 : 1024;
    lvs_slot_t *more = realloc(t->slots, grown * sizeof *more);
    if (!more) return -1;
    t->slots = more;
    for (uint32_t i = grown; i-- > t->capacity;) t->slots[i] = (lvs_slot_t){ NULL, 0, t->free_head }, t->free_head = i;
    t->capacity = grown;
  }
  uint32_t s = t->free_head;
  t->free_head = t->slots[s].next_free;
  t->slots[s].item = item;
  *slot = s;
  return 0;
}

static inline void lvs_slot_free(lvs_slots_t *t, uint32_t s) {
  t->slots[s].item = NULL;
  t->slots[s].generation = (t->slots[s].generation + 1) & LVS_GENERATIONS;
  t->slots[s].next_free = t->free_head;
  t->free_head = s;
}

// The item an id names, or NULL when its slot was freed since.
static inline void *lvs_slot_get(const lvs_slots_t *t, double id) {
  if (!(id >= 0)) return NULL;
  uint64_t v = (uint64_t)id;
  uint32_t s = (uint32_t)(v & 0xffffffffu);
  return s < t->capacity && t->slots[s].generation == (uint32_t)(v >> 32) ? t->slots[s].item : NULL;
}

#endif
