// `npm run bench`: the same runner as `anneal bench`, from the repository root.
import { main } from '../apps/agent/src/cli.ts';

process.exitCode = await main(['bench', ...process.argv.slice(2)]);
