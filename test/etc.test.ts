// Every example config in etc/ is valid, so what the README points users at works.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../src/config/load.js'
import { unitNodeFlags } from '../bench/unit-flags.js'

const etc = fileURLToPath(new URL('../etc/', import.meta.url))

t.test('every etc/*.yaml config loads', async (t) => {
  const files = readdirSync(etc).filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 6, 'the examples are there')
  for (const f of files) {
    const config = await loadConfig(etc + f)
    t.ok(config.services.length > 0, `${f} has services`)
  }
})

t.test('the PBS example gets TCP 15001 and fo from its profile, and its own check timing', async (t) => {
  const config = await loadConfig(etc + 'pbs.yaml')
  t.match(config.services[0], { protocol: 'tcp', port: 15001, scheduler: 'fo', check: { kind: 'pbs', rise: 3 } })
})

t.test('the default config npm start runs is a web service on loopback with a fallback', async (t) => {
  const config = await loadConfig(etc + 'director.yaml')
  t.equal(config.director.api.listen, '127.0.0.1:9410')
  t.match(config.services[0], { name: 'web', port: 80, check: { kind: 'http' }, fallback: { address: '127.0.0.1' } })
})

t.test('the systemd unit and npm start run the daemon with the same heap limits', async (t) => {
  const flags = unitNodeFlags()
  t.ok(flags.some((f) => f.startsWith('--max-old-space-size=')), 'the unit caps the heap')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }
  t.match(pkg.scripts.start, `node ${flags.join(' ')} bin/lvs-director.js run`)
})
