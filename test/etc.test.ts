// Every example table in etc/ is valid, so what the README points users at works.
import t from 'tap'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadTableFile } from '../src/table-file.js'

const etc = fileURLToPath(new URL('../etc/', import.meta.url))

t.test('every etc/*.yaml table loads', async (t) => {
  const files = readdirSync(etc).filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 5, 'the examples are there')
  for (const f of files) {
    const table = await loadTableFile(etc + f)
    t.ok(table.services.length > 0, `${f} has services`)
  }
})

t.test('the PBS example gets TCP 15001 and fo from its profile', async (t) => {
  const table = await loadTableFile(etc + 'pbs.yaml')
  t.match(table.services[0], { protocol: 'tcp', port: 15001, scheduler: 'fo' })
})
