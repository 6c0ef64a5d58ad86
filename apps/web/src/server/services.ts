import type { Db } from '@anneal/db/client';
import type { KnownDevices } from './auth/known-devices.ts';
import type { ServerConfig } from './config.ts';
import type { SignInThrottle } from './domain/accounts/sign-in-throttle.ts';
import type { BlobStore } from './domain/artifacts/blob-store.ts';
import type { RunEvents } from './events.ts';
import type { AgentGateway } from './gateway/agent-gateway.ts';
import type { MlflowMirror } from './mlflow/mirror.ts';
import type { PipelineRunner } from './pipelines/runner.ts';
import type { ServingRouter } from './serving/router.ts';

/** Long-lived dependencies every request handler gets; tests build their own. */
export interface Services {
  db: Db;
  store: BlobStore;
  config: ServerConfig;
  events: RunEvents;
  /** The agents' WebSocket gateway; null where a test attaches its own. */
  agents: AgentGateway | null;
  /** Routes generation requests to deployment replicas; null without a gateway. */
  serving: ServingRouter | null;
  /** Advances pipeline runs; null without a gateway. */
  pipelines: PipelineRunner | null;
  /** Failed password checks per account and address (sign-in, token exchange). */
  signIns: SignInThrottle;
  /** Signs and reads known-device cookies, which lift the account-wide sign-in limit. */
  devices: KnownDevices;
  /** Pushes projects to their MLflow servers (docs/interop.md); absent where a test has none. */
  mirror?: MlflowMirror;
}
