// Reads a desired IPVS table (services only, no director settings) from a YAML or JSON file, the fast path for
// generated tables of thousands of services; every error names the file, the path of the field and, for YAML, the line.
import { ERR_INVALID_TABLE } from './errors.js'
import { parseTable, type Table } from './ipvs/model.js'
import { applyProfiles } from '../directors/index.js'
import { parseValidated, readText } from './config/yaml.js'

/** Parse table text into a validated, canonical table (profiles applied); `source` names the file in errors. */
export function parseTableText(text: string, source: string): Table {
  return parseValidated(text, source, (value) => parseTable(applyProfiles(value)), ERR_INVALID_TABLE)
}

/** Read and validate a table file; LVS_ERR_FILE_READ when unreadable, LVS_ERR_INVALID_TABLE when wrong. */
export async function loadTableFile(path: string): Promise<Table> {
  return parseTableText(await readText(path), path)
}
