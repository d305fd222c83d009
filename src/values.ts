// Small checks on untyped values (parsed YAML/JSON, API bodies), shared by every room that reads them.

/** True for a plain mapping: an object that is neither null nor an array. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
