// Reads a desired IPVS table from a YAML (or JSON) file; every error names the file, the path of the field and,
// for YAML, the line.
import { readFile } from 'node:fs/promises'
import { ERR_FILE_READ, ERR_INVALID_TABLE } from './errors.js'
import { parseTable, type Table } from './ipvs/model.js'
import { applyProfiles } from '../directors/index.js'
import { parseSource, SourceSyntaxError, where } from './config/yaml.js'

/** Parse table text into a validated, canonical table (profiles applied); `source` names the file in errors. */
export function parseTableText(text: string, source: string): Table {
  let doc
  try {
    doc = parseSource(text, source)
  } catch (err) {
    if (err instanceof SourceSyntaxError) throw new ERR_INVALID_TABLE(where(source, err.line), err.message)
    throw err
  }
  try {
    return parseTable(applyProfiles(doc.value))
  } catch (err) {
    const { path, detail } = err as { path?: string; detail?: string }
    if (path === undefined) throw err
    throw new ERR_INVALID_TABLE(where(source, doc.lineOf(path)), `${path || '/'}: ${detail}`, { cause: err })
  }
}

/** Read and validate a table file; LVS_ERR_FILE_READ when unreadable, LVS_ERR_INVALID_TABLE when wrong. */
export async function loadTableFile(path: string): Promise<Table> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ERR_FILE_READ(path, (err as Error).message, { cause: err })
  }
  return parseTableText(text, path)
}
