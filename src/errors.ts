// Every error code the project raises, in one registry. Codes are stable: never reuse or rename one.
// Each code is documented in docs/errors.md; test/errors.test.ts checks the two agree.
import createError from '@fastify/error'

// --- input validation (config files, table files, API bodies)
export const ERR_INVALID_TABLE = createError('LVS_ERR_INVALID_TABLE', 'invalid table %s: %s', 400)
export const ERR_INVALID_VALUE = createError('LVS_ERR_INVALID_VALUE', 'invalid %s: %s', 400)
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
  'the kernel has no IPVS (%s): run "modprobe ip_vs" as root, or use a kernel built with CONFIG_IP_VS (see the lab in the README)',
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
