// Small checks on untyped values (parsed YAML/JSON, API bodies), shared by every room that reads them.
import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Value, type ValueError } from '@sinclair/typebox/value'

/** True for a plain mapping: an object that is neither null nor an array. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>()

/**
 * `input` with the schema's defaults filled in (a copy), and the first schema error, if any. The check is compiled
 * once per schema (TypeCompiler), so a valid value, the common case of every API write, costs little.
 */
export function withDefaults<T>(schema: TSchema, input: unknown): { value: T; error?: ValueError } {
  const value = Value.Default(schema, structuredClone(input)) as T
  let check = compiled.get(schema)
  if (!check) compiled.set(schema, (check = TypeCompiler.Compile(schema)))
  return check.Check(value) ? { value } : { value, error: check.Errors(value).First() }
}
