// Where the project lives, found from this file whether it runs from source (tap) or from dist/.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project's root folder: the nearest folder above this module that holds package.json. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the project root (no package.json above the lab harness)')
    dir = up
  }
  return dir
}

/** The compiled path (relative to the project) of a scenario file given as its .ts source or its .js output. */
export function compiledScenarioPath(arg: string): string {
  const root = projectRoot()
  let rel = relative(root, resolve(arg))
  if (rel.startsWith('..')) throw new Error(`${arg} is outside the project`)
  if (!rel.startsWith(`dist${sep}`)) rel = join('dist', rel)
  rel = rel.replace(/\.ts$/, '.js')
  if (!existsSync(join(root, rel))) throw new Error(`${rel} does not exist: run "npm run build" first`)
  return rel
}

/** Sources the guest may run (the lab and the project code scenarios import) whose .js in dist/ is missing or older. */
export function staleCompiled(): string[] {
  const root = projectRoot()
  const stale: string[] = []
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name)
      if (e.isDirectory()) walk(rel)
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts')) {
        const js = join(root, 'dist', rel.replace(/\.ts$/, '.js'))
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(root, rel)).mtimeMs) stale.push(rel)
      }
    }
  }
  for (const dir of ['src', 'healthchecks', 'directors', join('test', 'lab')]) if (existsSync(join(root, dir))) walk(dir)
  return stale
}
