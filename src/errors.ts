// Every error code the project raises, in one registry. Codes are stable: never reuse or rename one.
// Each code is documented in docs/errors.md; test/errors.test.ts checks the two agree.
import createError from '@fastify/error'

// --- input validation (config files, table files, API bodies)
export const ERR_INVALID_TABLE = createError('LVS_ERR_INVALID_TABLE', 'invalid table %s: %s', 400)
export const ERR_INVALID_VALUE = createError('LVS_ERR_INVALID_VALUE', 'invalid %s: %s', 400)
export const ERR_INVALID_CONFIG = createError('LVS_ERR_INVALID_CONFIG', 'invalid config %s: %s', 400)
export const ERR_FILE_READ = createError('LVS_ERR_FILE_READ', 'cannot read %s: %s', 400)
export const ERR_INVALID_ADDRESS = createError('LVS_ERR_INVALID_ADDRESS', 'invalid address %s: %s', 400)

// --- the kernel and ipvsadm
export const ERR_IPVSADM_MISSING = createError(
  'LVS_ERR_IPVSADM_MISSING',
  'ipvsadm not found (%s): install it with "apt-get install ipvsadm"',
  500,
)
export const ERR_IPVS_UNAVAILABLE = createError(
  'LVS_ERR_IPVS_UNAVAILABLE',
  'the kernel has no IPVS (%s): run "modprobe ip_vs" as root, or use a kernel built with CONFIG_IP_VS; to see lvs-director work here, run "npm run demo" (the real-IPVS lab)',
  500,
)
export const ERR_IPVSADM_FAILED = createError('LVS_ERR_IPVSADM_FAILED', 'ipvsadm %s failed: %s', 502)
export const ERR_IPVSADM_TIMEOUT = createError('LVS_ERR_IPVSADM_TIMEOUT', 'ipvsadm %s timed out after %d ms', 504)
export const ERR_IPVS_PARSE = createError('LVS_ERR_IPVS_PARSE', 'cannot parse ipvsadm output line %d: %s', 502)
export const ERR_NOT_OWNED = createError('LVS_ERR_NOT_OWNED', 'entry %s is not owned by this director', 409)
export const ERR_STATE_FILE = createError('LVS_ERR_STATE_FILE', 'state file %s: %s', 500)
export const ERR_APPLY_PARTIAL = createError('LVS_ERR_APPLY_PARTIAL', '%d of %d changes failed: %s', 502)

// --- health checks (checks report results as values; these are for bad check specs)
export const ERR_INVALID_CHECK = createError('LVS_ERR_INVALID_CHECK', 'invalid health check %s: %s', 400)
export const ERR_SCHEDULER_CLOSED = createError('LVS_ERR_SCHEDULER_CLOSED', 'the health-check scheduler is closed', 500)
export const ERR_IP_COMMAND_FAILED = createError('LVS_ERR_IP_COMMAND_FAILED', 'ip %s failed: %s', 502)

// --- the director daemon, its desired table and its REST API
export const ERR_INVALID_LDIRECTORD = createError('LVS_ERR_INVALID_LDIRECTORD', 'invalid ldirectord config %s: %s', 400)
export const ERR_NOT_FOUND = createError('LVS_ERR_NOT_FOUND', '%s not found', 404)
export const ERR_EXISTS = createError('LVS_ERR_EXISTS', '%s already exists', 409)
export const ERR_PRECONDITION = createError('LVS_ERR_PRECONDITION', '%s has changed (If-Match %s is not its ETag): GET it again', 412)
export const ERR_DRAIN_LIMIT = createError('LVS_ERR_DRAIN_LIMIT', '%s: %s real servers would be out of the pool, more than maxDrainShare %s allows', 409)
export const ERR_UNAUTHORIZED = createError('LVS_ERR_UNAUTHORIZED', 'a valid bearer token is required', 401)
export const ERR_FORBIDDEN = createError('LVS_ERR_FORBIDDEN', 'token %s has role %s; this needs admin', 403)
export const ERR_BAD_REQUEST = createError('LVS_ERR_BAD_REQUEST', 'bad request: %s', 400)
export const ERR_STATE_LOCKED = createError('LVS_ERR_STATE_LOCKED', 'state directory %s is in use by process %s (a running director): use its API', 409)
export const ERR_DAEMON_UNREACHABLE = createError('LVS_ERR_DAEMON_UNREACHABLE', 'cannot reach the director at %s: %s', 503)
export const ERR_NOT_READY = createError('LVS_ERR_NOT_READY', 'the director is not ready: %s', 503)
export const ERR_UNSUPPORTED_MEDIA_TYPE = createError('LVS_ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type %s: send application/json', 415)
export const ERR_BODY_TOO_LARGE = createError('LVS_ERR_BODY_TOO_LARGE', 'the request body is larger than %d bytes', 413)
export const ERR_STORE_UNAVAILABLE = createError('LVS_ERR_STORE_UNAVAILABLE', 'the table store (Redis %s) is unavailable: %s', 503)
export const ERR_STORE_CONFLICT = createError('LVS_ERR_STORE_CONFLICT', 'the table in Redis is at revision %d, not %d: the other director changed it first; retry', 409)
export const ERR_STORE_NOT_REPLICATED = createError('LVS_ERR_STORE_NOT_REPLICATED', 'revision %d is in Redis, not yet confirmed by its replicas (%s): read the table later to see whether it held', 503)
// --- high availability: the heartbeat transport (src/ha/heartbeat.ts)
export const ERR_HEARTBEAT_CONFIG = createError('LVS_ERR_HEARTBEAT_CONFIG', 'invalid heartbeat config %s: %s', 400)
export const ERR_HEARTBEAT_KEY = createError('LVS_ERR_HEARTBEAT_KEY', 'heartbeat key refused: %s', 400)
export const ERR_HEARTBEAT_STATE = createError('LVS_ERR_HEARTBEAT_STATE', 'invalid heartbeat state: %s', 400)
export const ERR_HEARTBEAT_START = createError('LVS_ERR_HEARTBEAT_START', 'the heartbeat cannot start on %s: %s', 500)
export const ERR_HEARTBEAT_CLOSED = createError('LVS_ERR_HEARTBEAT_CLOSED', 'the heartbeat is closed', 500)
export const ERR_INTERNAL = createError('LVS_ERR_INTERNAL', 'internal error: %s', 500)

// --- high availability: the VIPs, their announcements, the connection-sync daemon's role
export const ERR_VIP_FAILED = createError('LVS_ERR_VIP_FAILED', 'VIP %s: %s', 502)
export const ERR_ANNOUNCE_FAILED = createError('LVS_ERR_ANNOUNCE_FAILED', 'announcing %s on %s failed: %s', 502)
export const ERR_SWITCHOVER_REFUSED = createError('LVS_ERR_SWITCHOVER_REFUSED', 'switchover refused: %s', 409)
export const ERR_SYNC_DAEMON_CONFLICT = createError('LVS_ERR_SYNC_DAEMON_CONFLICT', 'a %s sync daemon not started by this director runs with other settings (%s): stop it, or configure the same interface and syncid', 409)
