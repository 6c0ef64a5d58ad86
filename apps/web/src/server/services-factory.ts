import { createDb, type DbHandle } from '@anneal/db/client';
import { KnownDevices } from './auth/known-devices.ts';
import { loadServerKey } from './auth/secrets.ts';
import type { ServerConfig } from './config.ts';
import { SignInThrottle, type SignInThrottleOptions } from './domain/accounts/sign-in-throttle.ts';
import { BlobStore } from './domain/artifacts/blob-store.ts';
import { RunEvents } from './events.ts';
import { AgentGateway } from './gateway/agent-gateway.ts';
import { MlflowMirror } from './mlflow/mirror.ts';
import { PipelineRunner } from './pipelines/runner.ts';
import type { Services } from './services.ts';
import { ServingRouter } from './serving/router.ts';

export function createServices(
  config: ServerConfig,
  databaseUrl: string,
  options: { gateway?: boolean; signIns?: SignInThrottleOptions } = {},
): Services & { handle: DbHandle } {
  const handle = createDb(databaseUrl);
  const events = new RunEvents();
  const agents =
    options.gateway === false
      ? null
      : new AgentGateway(handle.db, events, {
          leaseMs: config.leaseMs,
          tickMs: Math.max(100, Math.min(1000, Math.floor(config.leaseMs / 4))),
          malformedPerMinute: 200,
          groupStartMs: config.groupStartMs,
        });
  const serving = agents
    ? new ServingRouter(handle.db, {
        tickMs: Math.max(100, Math.min(1000, Math.floor(config.leaseMs / 4))),
        generateTimeoutMs: config.generateTimeoutMs,
        adoptGraceMs: config.leaseMs,
        webhookBackoffMs: config.webhookBackoffMs,
      })
    : null;
  if (agents && serving) {
    agents.serving = serving;
    serving.attach(agents);
  }
  // Pipelines run their nodes as jobs, so they advance where agents can connect.
  const pipelines = agents
    ? new PipelineRunner(
        handle.db,
        {
          log: (line) => console.error(`[anneal-server] ${line}`),
          jobQueued: (projectId, jobId) => events.emitJob({ projectId, jobId, status: 'queued' }),
          deploymentCreated: () => void serving?.reconcile(),
        },
        Math.max(100, Math.min(1000, Math.floor(config.leaseMs / 4))),
      )
    : null;
  const store = new BlobStore(config.artifactsDir);
  const mirror = new MlflowMirror(handle.db, store);
  mirror.start(config.mlflowMirrorMs);
  return {
    handle,
    db: handle.db,
    store,
    mirror,
    config,
    events,
    agents,
    serving,
    pipelines,
    signIns: new SignInThrottle(options.signIns),
    devices: new KnownDevices(loadServerKey(config.annealHome)),
  };
}
