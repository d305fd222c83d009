// The allocator's free memory handed back to the system: glibc keeps what a start-up peak or a burst freed in its
// heaps (free chunks between live ones are never returned by themselves); malloc_trim(0) gives their pages back.
#include "lvs.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

// mallocTrim(): true when memory went back to the system; false when none did, or on a C library without it.
static napi_value js_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released != 0, &result);
  return result;
}

void memory_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mallocTrim", NULL, js_malloc_trim, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
