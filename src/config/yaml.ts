// YAML (or JSON) text to a value, keeping a way back from a field's JSON pointer to its line, so every
// config and table error can name the file, the line and the field.
import { LineCounter, parseDocument, isNode, type Document } from 'yaml'

/** A parsed document and the line (1-based) of the node at a JSON pointer, if known. */
export interface SourceDocument {
  value: unknown
  lineOf(pointer: string): number | undefined
}

/** A syntax error: the line it is on and the parser's first line of message. */
export class SourceSyntaxError extends Error {
  constructor(readonly line: number | undefined, message: string) {
    super(message)
  }
}

/**
 * Parse `text`; a name ending in `.json` skips the YAML parser (JSON.parse is ~100x faster on a 10,000-service
 * table a generator wrote) and has no line numbers. Throws SourceSyntaxError.
 */
export function parseSource(text: string, name: string): SourceDocument {
  if (name.endsWith('.json')) {
    try {
      return { value: JSON.parse(text), lineOf: () => undefined }
    } catch (err) {
      throw new SourceSyntaxError(undefined, (err as Error).message)
    }
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const syntax = doc.errors[0]
  if (syntax) throw new SourceSyntaxError(lineCounter.linePos(syntax.pos[0]).line, syntax.message.split('\n')[0]!)
  let value: unknown
  try {
    // An alias to nothing, or an alias bomb (past maxAliasCount), throws here, not in the parser.
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new SourceSyntaxError(undefined, (err as Error).message)
  }
  return { value, lineOf: (pointer) => lineOf(doc, lineCounter, pointer) }
}

// The line of the deepest YAML node on the path (a missing field points at its parent).
function lineOf(doc: Document, lineCounter: LineCounter, pointer: string): number | undefined {
  const segments = pointer.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s))
  for (let n = segments.length; n >= 0; n--) {
    const node = doc.getIn(segments.slice(0, n), true)
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line
  }
  return undefined
}

/** `file:line` when the line is known, else `file`. */
export const where = (name: string, line: number | undefined): string => (line ? `${name}:${line}` : name)
