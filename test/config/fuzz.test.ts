// Mangled config files (lines deleted, duplicated, cut, swapped for random text or bytes, values replaced by
// hostile ones) never crash the loader: each either loads or fails with one coded error naming the file.
import t from 'tap'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseConfigText } from '../../src/config/load.js'

const examples = ['director.yaml', 'web.yaml', 'sip.yaml', 'pbs.yaml', 'web-ipv6.yaml', 'fwmark.yaml']
  .map((f) => readFileSync(fileURLToPath(new URL(`../../etc/${f}`, import.meta.url)), 'utf8'))
const hostile = ['10.0.0.300', '"1.2.3.4; reboot"', '-1', '70000', '1e309', 'null', '[]', '{}', '"__proto__"', '{__proto__: {x: 1}}', '*a', '&a [*a, *a]', '!!js/function "f"', '"\\u0000"', 'NaN', 'true', '"x".repeat(9)']

const edit = fc.oneof(
  fc.record({ op: fc.constant('delete'), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate'), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate'), at: fc.nat(), len: fc.nat(80) }),
  fc.record({ op: fc.constant('insert'), at: fc.nat(), text: fc.string({ maxLength: 60 }) }),
  fc.record({ op: fc.constant('bytes'), at: fc.nat(), text: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')) }),
  fc.record({ op: fc.constant('value'), at: fc.nat(), text: fc.constantFrom(...hostile) }),
)

t.test('mangled configs load or fail with one coded error', async (t) => {
  let loaded = 0
  let refused = 0
  fc.assert(
    fc.property(fc.nat(examples.length - 1), fc.array(edit, { maxLength: 6 }), (which, edits) => {
      const lines = examples[which]!.split('\n')
      for (const e of edits) {
        const i = e.at % Math.max(1, lines.length)
        if (e.op === 'delete') lines.splice(i, 1)
        else if (e.op === 'duplicate') lines.splice(i, 0, lines[i] ?? '')
        else if (e.op === 'truncate') lines[i] = (lines[i] ?? '').slice(0, e.len)
        else if (e.op === 'value') lines[i] = (lines[i] ?? '').replace(/:\s*[^#\s{][^#]*$/, `: ${e.text}`)
        else lines.splice(i, 0, e.text)
      }
      try {
        parseConfigText(lines.join('\n'), 'mangled.yaml')
        loaded++
      } catch (err) {
        const e = err as { code?: string; message: string }
        if (e.code !== 'LVS_ERR_INVALID_CONFIG' || !e.message.startsWith('invalid config mangled.yaml')) throw err
        refused++
      }
    }),
    { numRuns: 500, seed: Number(process.env.FUZZ_SEED ?? 20261201) || Date.now() },
  )
  t.ok(refused > 50, `most mangled files are refused with LVS_ERR_INVALID_CONFIG (${refused})`)
  t.ok(loaded > 5, `and harmless edits still load (${loaded})`)
  t.equal(({} as Record<string, unknown>).x, undefined, 'no prototype pollution')
})
