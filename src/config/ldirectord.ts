// An ldirectord.cf read as it is and turned into the director's config: the raw config object (which
// parseConfig validates), the warnings for what does not carry over, and a map back to the lines, so that a
// converted value the director refuses is reported at the ldirectord.cf line that wrote it.
import { readText } from './yaml.js'
import { ERR_INVALID_LDIRECTORD } from '../errors.js'
import { parseConfig, type LoadedConfig } from './load.js'
import { convertBlock, type ServiceSource } from './ldirectord-service.js'
import { failer, readSyntax, type Entry, type Warning } from './ldirectord-syntax.js'

export type { Warning } from './ldirectord-syntax.js'
export type { ServiceSource } from './ldirectord-service.js'
export { renderLdirectordYaml } from './ldirectord-yaml.js'

/** A converted ldirectord.cf: a raw config for parseConfig, warnings in line order, and each service's lines. */
export interface LdirectordConversion {
  config: { services: Record<string, unknown>[] }
  warnings: Warning[]
  /** sources[i] is where config.services[i] came from. */
  sources: ServiceSource[]
}

/**
 * Convert ldirectord.cf text; `source` names the file in errors. Throws LVS_ERR_INVALID_LDIRECTORD
 * (`file:line`) for what ldirectord would refuse too: unknown directives, bad numbers and addresses,
 * duplicate virtuals. The result is not yet validated by the director's schema: see parseLdirectordText.
 */
export function parseLdirectord(text: string, source: string): LdirectordConversion {
  const fail = failer(source)
  const { globals, blocks, warnings } = readSyntax(text, fail)
  const warn = (w: Warning): void => void warnings.push(w)
  const fork = globals.get('fork')
  if (fork) fork.used = true
  const services: Record<string, unknown>[] = []
  const sources: ServiceSource[] = []
  const seen = new Map<string, number>()
  const names = new Map<string, number>()
  for (const block of blocks) {
    const { service, source: src } = convertBlock(block, globals, fork?.value === 'yes', fail, warn)
    const key = service.protocol === 'fwmark' ? `fwmark${service.family === 'inet6' ? '6' : ''}/${service.fwmark}` : `${service.protocol}/${service.address}:${service.port}`
    const first = seen.get(key)
    if (first !== undefined) fail(block.line, `duplicate virtual service ${key} (first on line ${first})`)
    seen.set(key, block.line)
    if (typeof service.name === 'string') {
      const other = names.get(service.name)
      if (other !== undefined) {
        warn({ line: src.fieldLines.name ?? block.line, directive: 'servicename', message: `servicename ${service.name} is already used on line ${other}; this service keeps its default name` })
        delete service.name
      } else names.set(service.name, src.fieldLines.name ?? block.line)
    }
    for (const [name, e] of block.settings) if (!e.used) warn(unused(name, e, 'is not used by this virtual\'s check'))
    services.push(service)
    sources.push(src)
  }
  for (const [name, e] of globals) if (!e.used) warn(unused(name, e, blocks.length ? 'is not used by any virtual' : 'is not used: the file has no virtual'))
  // The manual says quiescent defaults to yes, but ldirectord's code sets no; the converted file says which.
  const quiescentSet = globals.has('quiescent') || blocks.some((b) => b.settings.has('quiescent'))
  if (blocks.length && !quiescentSet) warn({ line: 0, directive: 'quiescent', message: 'quiescent is not set: ldirectord removes a failed real (its code defaults to no, its manual says yes); converted as quiescent: false' })
  warnings.sort((a, b) => a.line - b.line)
  return { config: { services }, warnings, sources }
}

const unused = (name: string, e: Entry, why: string): Warning => ({ line: e.line, directive: name, message: `${name} ${why}; ignored` })

/** Convert and validate: the director's LoadedConfig, or LVS_ERR_INVALID_LDIRECTORD naming the ldirectord.cf line. */
export function parseLdirectordText(text: string, source: string): { config: LoadedConfig; warnings: Warning[]; conversion: LdirectordConversion } {
  const conversion = parseLdirectord(text, source)
  try {
    return { config: parseConfig(conversion.config), warnings: conversion.warnings, conversion }
  } catch (err) {
    const { path, detail } = err as { path?: string; detail?: string }
    if (path === undefined) throw err
    const line = lineOf(path, conversion.sources)
    throw new ERR_INVALID_LDIRECTORD(line ? `${source}:${line}` : source, `${path}: ${detail}`, { cause: err })
  }
}

/** Read and convert an ldirectord.cf: LVS_ERR_FILE_READ when unreadable, LVS_ERR_INVALID_LDIRECTORD when wrong. */
export async function loadLdirectord(path: string): Promise<{ config: LoadedConfig; warnings: Warning[]; conversion: LdirectordConversion }> {
  return parseLdirectordText(await readText(path), path)
}

/** The ldirectord.cf line behind a JSON pointer into the converted config (0 when unknown). */
export function lineOf(path: string, sources: readonly ServiceSource[]): number {
  const m = /^\/services\/(\d+)(\/.*)?$/.exec(path)
  const s = m ? sources[Number(m[1])] : undefined
  if (!s) return 0
  const rest = (m![2] ?? '').slice(1)
  const d = /^destinations\/(\d+)/.exec(rest)
  if (d) return s.realLines[Number(d[1])] ?? s.line
  // The most specific field a directive wrote: check/path before check.
  let best = s.line
  let length = -1
  for (const [field, line] of Object.entries(s.fieldLines)) {
    if ((rest === field || rest.startsWith(`${field}/`)) && field.length > length) [best, length] = [line, field.length]
  }
  return best
}
