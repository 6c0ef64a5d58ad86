import { z } from 'zod';
import { type Command, parseFlags } from '../command.ts';
import { openMigratedDatabase } from '../database.ts';

export const migrate: Command = {
  name: 'migrate',
  summary: 'apply the committed database migrations',
  usage: `Usage: anneal-server migrate

Applies every committed migration not yet applied to DATABASE_URL, or to the embedded
PostgreSQL under ANNEAL_HOME (started for the occasion when no server is running).`,
  async run(argv, io) {
    parseFlags(argv, {}, z.object({}));
    const database = await openMigratedDatabase();
    await database.stop();
    io.out('anneal-server: migrations applied');
    return 0;
  },
};
