import { z } from 'zod';
import { type Command, parseFlags } from '../command.ts';
import { ensureBuild } from '../next-build.ts';

export const build: Command = {
  name: 'build',
  summary: 'build the dashboard (next build) if it is missing or out of date',
  usage: `Usage: anneal-server build [--force]

Options:
  --force   rebuild even when the existing build is up to date`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      { force: { type: 'boolean' } },
      z.object({ force: z.boolean().optional() }),
    );
    const built = await ensureBuild(io.out, flags.force ?? false);
    if (!built) io.out('anneal-server: the dashboard build is up to date');
    return 0;
  },
};
