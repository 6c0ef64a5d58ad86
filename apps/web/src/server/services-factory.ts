import { createDb, type DbHandle } from '@anneal/db/client';
import type { ServerConfig } from './config.ts';
import { BlobStore } from './domain/artifacts/blob-store.ts';
import { RunEvents } from './events.ts';
import type { Services } from './services.ts';

export function createServices(
  config: ServerConfig,
  databaseUrl: string,
): Services & { handle: DbHandle } {
  const handle = createDb(databaseUrl);
  return {
    handle,
    db: handle.db,
    store: new BlobStore(config.artifactsDir),
    config,
    events: new RunEvents(),
  };
}
