// A converted ldirectord.cf as the director's YAML config, commented: where each service came from, its
// servicename/comment, and every warning next to the service it concerns.
import { Document, isMap, isSeq } from 'yaml'
import type { LdirectordConversion } from './ldirectord.js'

/** The YAML text of a conversion (what `lvs-director import-ldirectord FILE` prints). */
export function renderLdirectordYaml(conversion: LdirectordConversion, source: string): string {
  const { config, warnings, sources } = conversion
  const inBlock = (line: number) => sources.findIndex((s) => line >= s.line && line <= s.end)
  const say = (w: { line: number; directive: string; message: string }) => ` warning: ${w.line ? `line ${w.line}: ` : ''}${w.directive}: ${w.message}`
  const doc = new Document(config)
  const header = [
    ` lvs-director config converted from ${source} (lvs-director import-ldirectord).`,
    ' ldirectord\'s defaults are written out where the director\'s differ (scheduler wrr, check timing,',
    ' fall 1 / rise 1, quiescent), so the services behave as they did under ldirectord.',
    ...warnings.filter((w) => inBlock(w.line) < 0).map(say),
  ]
  doc.commentBefore = header.join('\n')
  const seq = doc.get('services', true)
  if (isSeq(seq)) {
    seq.items.forEach((node, i) => {
      const s = sources[i]
      if (!s || !isMap(node)) return
      const lines = [` from ${source}:${s.line}`, ...s.notes.map((n) => ` ${n}`), ...warnings.filter((w) => inBlock(w.line) === i).map(say)]
      node.commentBefore = lines.join('\n')
    })
  }
  return doc.toString({ lineWidth: 0 })
}
