// The command's entry point: runs the CLI (src/cli.ts runs nothing on import, so tests can import it).
import { main } from './cli.js'

await main()
