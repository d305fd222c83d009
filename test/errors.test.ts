// Every error code in src/errors.ts is documented in docs/errors.md, and every documented code exists.
import t from 'tap'
import { readFileSync } from 'node:fs'
import * as errors from '../src/errors.js'

t.test('error codes and docs/errors.md agree', async (t) => {
  const codes = new Set(Object.values(errors).map((E) => new (E as new () => { code: string })().code))
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
  const documented = new Set([...doc.matchAll(/^\| `(LVS_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!))
  t.same([...codes].sort(), [...documented].sort(), 'the same codes in both')
  t.ok(codes.size > 0)
})
