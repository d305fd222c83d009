// YAML (or JSON) text to a value, keeping a way back from a field's JSON pointer to its line, so every
// config and table error can name the file, the line and the field.
import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument, isNode, type Document } from 'yaml'
import { ERR_FILE_READ } from '../errors.js'

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
  // JSON is YAML too; a generated config of 10,000 services read as YAML costs seconds and ~120 MB of parse
  // nodes, as JSON a fraction of both. A file that merely starts like JSON but is YAML falls through.
  if (!name.endsWith('.json') && text.trimStart().startsWith('{')) {
    try {
      return { value: JSON.parse(text), lineOf: () => undefined }
    } catch {
      // YAML after all (a flow mapping, comments): parsed below, with lines.
    }
  }
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
  try {
    JSON.stringify(value) // an alias inside its own anchor (`&a [*a]`) makes a cycle no validator survives
  } catch {
    throw new SourceSyntaxError(undefined, 'an alias refers to the node that contains it (a circular structure)')
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

/** A coded error class taking (where, what), such as ERR_INVALID_CONFIG. */
type CodedError = new (where: string, what: string, options?: { cause?: unknown }) => Error

/**
 * Parse and validate source text; a syntax error, or a validation error carrying a JSON pointer (`path`, `detail`),
 * becomes `Err` naming `source`, the line when known, and the field.
 */
export function parseValidated<T>(text: string, source: string, validate: (value: unknown) => T, Err: CodedError): T {
  let doc: SourceDocument
  try {
    doc = parseSource(text, source)
  } catch (err) {
    if (err instanceof SourceSyntaxError) throw new Err(where(source, err.line), err.message)
    throw err
  }
  try {
    return validate(doc.value)
  } catch (err) {
    const { path, detail } = err as { path?: string; detail?: string }
    if (path === undefined) throw err
    throw new Err(where(source, doc.lineOf(path)), `${path || '/'}: ${detail}`, { cause: err })
  }
}

/** A file's text; LVS_ERR_FILE_READ when it cannot be read. */
export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new ERR_FILE_READ(path, (err as Error).message, { cause: err })
  }
}
