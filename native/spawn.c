// A child process started with posix_spawn, its exit watched on Node's loop through a pidfd. Node's spawn forks
// (libuv 1.46 on Linux): the kernel copies the page tables of the whole node process, and the parent waits for the
// child's exec, milliseconds natively for a large heap and tens of them on an emulated machine. glibc's posix_spawn
// clones with CLONE_VM | CLONE_VFORK: nothing is copied, and the parent waits only for the exec.
//   spawn(file, argv, env, cwd, stdinFd, newSession, onExit) -> [pid, stdoutFd, stderrFd]
//     file       a path, or a name looked up in this process's PATH
//     env        an array of "NAME=value", or null for this process's environment
//     cwd        a folder, or null
//     stdinFd    the child's stdin (dup2'd; the caller closes its own copy)
//     newSession the child calls setsid (its own process group, as Node's `detached`)
//     onExit(code, signal) once, on the loop, after the child was waited for: code (-1 when killed), signal (0 when
//                it exited)
//   stdout and stderr: the read ends of new pipes (close-on-exec), for the caller to read and close.
//   The child gets every signal's default action and an empty signal mask (Node ignores SIGPIPE; an exec keeps that).
//   (glibc's two reserved real-time signals, 32 and 33, which sigfillset leaves out, keep this process's handling.)
//   Throws an Error whose code is the errno's name (ENOENT, EACCES...) when the program cannot start.
// Until onExit the watch holds the loop open, as a Node child process does.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include "lvs.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

typedef struct {
  uv_poll_t poll;
  int pidfd;
  napi_env env;
  napi_ref fn;
} watch_t;

static void on_watch_closed(uv_handle_t *h) {
  watch_t *w = h->data;
  close(w->pidfd);
  free(w);
}

static void on_exit_ready(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  watch_t *w = h->data;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG);
  if ((r < 0 && errno == EINTR) || (r == 0 && si.si_pid == 0)) return; // not yet
  // r < 0 (waited for elsewhere): reported as killed by no signal, code -1.
  int lost = r < 0, exited = !lost && si.si_code == CLD_EXITED;
  uv_poll_stop(h);
  uv_close((uv_handle_t *)h, on_watch_closed);
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, args[2];
  napi_get_reference_value(env, w->fn, &fn);
  napi_delete_reference(env, w->fn);
  napi_get_global(env, &recv);
  napi_create_int32(env, exited ? si.si_status : -1, &args[0]);
  napi_create_int32(env, lost || exited ? 0 : si.si_status, &args[1]);
  napi_make_callback(env, NULL, recv, fn, 2, args, NULL);
  napi_close_handle_scope(env, scope);
}

// A JavaScript string, malloc'd; NULL (with *ok 0) when `v` is not one.
static char *string_arg(napi_env env, napi_value v, int *ok) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &length) != napi_ok) return *ok = 0, NULL;
  char *s = malloc(length + 1);
  if (!s) return *ok = 0, NULL;
  napi_get_value_string_utf8(env, v, s, length + 1, &length);
  return s;
}

// A NULL-ended copy of an array of strings; NULL when `v` is null; *ok 0 when it is neither.
static char **strings_arg(napi_env env, napi_value v, int *ok) {
  napi_valuetype type;
  bool is_array = false;
  if (napi_typeof(env, v, &type) == napi_ok && type == napi_null) return NULL;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok) return *ok = 0, NULL;
  char **out = calloc(n + 1, sizeof *out);
  if (!out) return *ok = 0, NULL;
  for (uint32_t i = 0; i < n && *ok; i++) {
    napi_value item;
    napi_get_element(env, v, i, &item);
    out[i] = string_arg(env, item, ok);
  }
  return out;
}

static void free_strings(char **s) {
  if (!s) return;
  for (char **p = s; *p; p++) free(*p);
  free(s);
}

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

// Starts the child; 0 or an errno. `out` and `err` are the pipes' write ends, dup2'd onto 1 and 2.
static int start(const char *file, char **argv, char **env, const char *cwd, int in, int out, int err, int session, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (session ? POSIX_SPAWN_SETSID : 0));
  int rc = posix_spawnp(pid, file, &fa, &attr, argv, env ? env : environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int ok = argc == 7, in = -1;
  bool session = false;
  napi_valuetype type = napi_undefined;
  char *file = ok ? string_arg(env, argv[0], &ok) : NULL;
  char **args = ok ? strings_arg(env, argv[1], &ok) : NULL;
  char **envp = ok ? strings_arg(env, argv[2], &ok) : NULL;
  char *cwd = NULL;
  if (ok && napi_typeof(env, argv[3], &type) == napi_ok && type != napi_null) cwd = string_arg(env, argv[3], &ok);
  ok = ok && args && napi_get_value_int32(env, argv[4], &in) == napi_ok && in >= 0 &&
       napi_get_value_bool(env, argv[5], &session) == napi_ok && napi_typeof(env, argv[6], &type) == napi_ok &&
       type == napi_function;
  napi_value result = NULL;
  int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, pidfd = -1;
  watch_t *w = NULL;
  uv_loop_t *loop;
  pid_t pid = 0;
  if (!ok) {
    napi_throw_type_error(env, "EINVAL", "spawn(file, argv, env, cwd, stdinFd, newSession, onExit)");
    goto out;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    lvs_fail(env, EINVAL, "event loop");
    goto out;
  }
  if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    lvs_fail(env, errno, "pipe2");
    goto out;
  }
  w = calloc(1, sizeof *w);
  if (!w) {
    lvs_fail(env, ENOMEM, "spawn");
    goto out;
  }
  int rc = start(file, args, envp, cwd, in, outp[1], errp[1], session, &pid);
  if (rc != 0) {
    char what[64];
    snprintf(what, sizeof what, "spawn %.50s", file);
    lvs_fail(env, rc, what);
    goto out;
  }
  pidfd = pidfd_open(pid);
  if (pidfd < 0 || uv_poll_init(loop, &w->poll, pidfd) != 0) {
    // Never: Linux has had pidfds since 5.3. The child is not left unwaited for.
    int e = pidfd < 0 ? errno : EIO;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (pidfd >= 0) close(pidfd);
    lvs_fail(env, e, "pidfd_open");
    goto out;
  }
  w->pidfd = pidfd;
  w->env = env;
  w->poll.data = w;
  napi_create_reference(env, argv[6], 1, &w->fn);
  uv_poll_start(&w->poll, UV_READABLE, on_exit_ready);
  w = NULL; // the watch's own now: freed once the child was waited for
  napi_value v;
  napi_create_array_with_length(env, 3, &result);
  napi_create_int32(env, pid, &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, outp[0], &v);
  napi_set_element(env, result, 1, v);
  napi_create_int32(env, errp[0], &v);
  napi_set_element(env, result, 2, v);
  outp[0] = errp[0] = -1;
out:
  for (int i = 0; i < 2; i++) {
    if (outp[i] >= 0) close(outp[i]);
    if (errp[i] >= 0) close(errp[i]);
  }
  free(w);
  free(file);
  free(cwd);
  free_strings(args);
  free_strings(envp);
  return result;
}

void spawn_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, js_spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
}
