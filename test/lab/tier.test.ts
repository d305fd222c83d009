// The lab tier's run/skip/fail decision: a host that cannot run the lab skips it, except in CI, where it fails.
import t from 'tap'
import { decideTier } from './tier.js'
import type { LabParts } from './host/parts.js'

const cannot = { ok: false, reason: 'the lab needs root', broken: false } as const
const broken = { ok: false, reason: 'apt-get install qemu failed', broken: true } as const
const ready = { ok: true, parts: {} as LabParts } as const

t.test('outside CI a host that cannot run the lab skips it, with the reason', async (t) => {
  t.same(decideTier({}, cannot), { action: 'skip', reason: 'the lab needs root' })
  t.same(decideTier({ CI: 'false' }, cannot), { action: 'skip', reason: 'the lab needs root' }, 'CI=false is not CI')
})

t.test('in CI a host that cannot run the lab fails the tier', async (t) => {
  t.same(decideTier({ CI: 'true' }, cannot), { action: 'fail', reason: 'the lab cannot run in CI: the lab needs root' })
  t.equal(decideTier({ CI: '1' }, cannot).action, 'fail')
})

t.test('LVS_LAB_SKIP skips on purpose, in CI too', async (t) => {
  t.same(decideTier({ LVS_LAB_SKIP: '1', CI: 'true' }, undefined), { action: 'skip', reason: 'LVS_LAB_SKIP is set' })
})

t.test('broken preparation fails everywhere, and ready parts run', async (t) => {
  t.equal(decideTier({}, broken).action, 'fail')
  t.match(decideTier({}, broken), { reason: /could not be prepared: apt-get install qemu failed/ })
  t.same(decideTier({ CI: 'true' }, ready), { action: 'run', parts: ready.parts })
  t.same(decideTier({}, ready), { action: 'run', parts: ready.parts })
})
