// The deployment replicas an agent hosts: one `anneal serve` child per replica keeps the model
// version loaded; generation requests from the server go to its stdin one per line, its
// answers come back on stdout, and the images go to the deployment's image store by HTTP.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AgentMessageInput, ServerMessage } from '@anneal/protocol';
import type { ServeLine } from '../commands/serve.ts';
import { fetchModel, getJson } from './fetch-model.ts';
import type { ServerApi } from './http.ts';

const ANNEAL_BIN = fileURLToPath(new URL('../../bin/anneal.js', import.meta.url));

/** Starts `anneal serve` with piped stdio; injected so tests can script a child. */
export type SpawnServe = (args: string[], env: NodeJS.ProcessEnv) => ChildProcess;

const spawnServe: SpawnServe = (args, env) =>
  spawn(process.execPath, [ANNEAL_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });

/** The longest reason a message carries (the protocol refuses longer ones). */
const REASON_MAX = 4000;

/** How many of a replica child's last stderr lines travel with its failure. */
const TAIL_LINES = 20;

type StartMessage = Extract<ServerMessage, { type: 'replica_start' }>;
type GenerateMessage = Extract<ServerMessage, { type: 'generate' }>;

interface Replica {
  start: StartMessage;
  dir: string;
  child: ChildProcess | null;
  ready: boolean;
  stopping: string | null;
  /** Requests sent to the child and not answered yet, in order. */
  pending: Set<string>;
  tail: string[];
  /** Uploads and answers in flight, so an answer never overtakes the one before it. */
  chain: Promise<void>;
}

export class ReplicaHost {
  readonly #replicas = new Map<string, Replica>();
  /** Replicas that ended while the socket was down: told in the next hello, then forgotten. */
  readonly #ended = new Map<
    string,
    { deploymentId: string; state: 'failed' | 'stopped'; detail?: string }
  >();

  constructor(
    private readonly api: ServerApi,
    private readonly root: string,
    /**
     * Sends a message now if the socket is up; false when it is not (nothing here is
     * journaled: see `generate`).
     */
    private readonly send: (message: AgentMessageInput) => boolean,
    private readonly log: (line: string) => void,
    private readonly spawnChild: SpawnServe = spawnServe,
  ) {}

  /** The replicas for hello, so a reconnect or a restarted server re-adopts them. */
  held() {
    const ended = [...this.#ended].map(([replicaId, e]) => ({
      replicaId,
      deploymentId: e.deploymentId,
      ready: false,
      ended: e.state,
      ...(e.detail ? { detail: e.detail } : {}),
    }));
    this.#ended.clear();
    return [
      ...[...this.#replicas.values()].map((r) => ({
        replicaId: r.start.replicaId,
        deploymentId: r.start.deploymentId,
        ready: r.ready,
      })),
      ...ended,
    ];
  }

  /** A replica's end, sent now or kept for the next hello. */
  #ended_(replica: Replica, state: 'failed' | 'stopped', detail?: string): void {
    const { replicaId, deploymentId } = replica.start;
    if (!this.send({ type: 'replica_status', replicaId, state, ...(detail ? { detail } : {}) }))
      this.#ended.set(replicaId, { deploymentId, state, ...(detail ? { detail } : {}) });
  }

  receive(message: ServerMessage): boolean {
    switch (message.type) {
      case 'replica_start':
        this.#start(message);
        return true;
      case 'replica_stop':
        this.stop(message.replicaId, message.reason);
        return true;
      case 'generate':
        this.#generate(message);
        return true;
      default:
        return false;
    }
  }

  #start(start: StartMessage): void {
    if (this.#replicas.has(start.replicaId)) return;
    const dir = join(this.root, start.replicaId);
    const replica: Replica = {
      start,
      dir,
      child: null,
      ready: false,
      stopping: null,
      pending: new Set(),
      tail: [],
      chain: Promise.resolve(),
    };
    this.#replicas.set(start.replicaId, replica);
    this.log(`replica ${start.replicaId}: loading model version ${start.modelVersionId}`);
    void this.#launch(replica).catch((err) => {
      // Stopped while it downloaded: already reported stopped; only the files go.
      if (replica.stopping) rmSync(dir, { recursive: true, force: true });
      else
        this.#failed(
          replica,
          `loading model version ${start.modelVersionId}: ${(err as Error).message}`,
        );
    });
  }

  async #launch(replica: Replica): Promise<void> {
    const model = join(replica.dir, 'model');
    const versionId = replica.start.modelVersionId;
    await fetchModel(this.api, { kind: 'modelVersion', id: versionId }, model);
    // The version's saved plans by hardware profile: the child serves its machine's one to
    // requests that ask for the plan.
    const version = await getJson<{ metadata?: { plans?: Record<string, unknown> } }>(
      this.api,
      `/model-versions/${versionId}`,
      `model version ${versionId}`,
    );
    const plans = join(replica.dir, 'plans.json');
    writeFileSync(plans, JSON.stringify(version.metadata?.plans ?? {}));
    if (replica.stopping) {
      rmSync(replica.dir, { recursive: true, force: true });
      return;
    }
    const child = this.spawnChild(
      ['serve', '--model', model, '--out', join(replica.dir, 'out'), '--plans', plans],
      process.env,
    );
    replica.child = child;
    child.stdin?.on('error', () => {});
    const started = Date.now();
    createInterface({ input: child.stdout! }).on('line', (line) =>
      this.#line(replica, line, started),
    );
    createInterface({ input: child.stderr! }).on('line', (line) => {
      replica.tail.push(line);
      if (replica.tail.length > TAIL_LINES) replica.tail.shift();
    });
    // A child that cannot even start (EAGAIN, EMFILE) fails its replica, not the agent.
    child.on('error', (err) => {
      if (!replica.stopping) this.#failed(replica, `anneal serve did not start: ${err.message}`);
    });
    // 'close', not 'exit': every line the child wrote has been read by then.
    child.on('close', (code, signal) => {
      replica.child = null;
      if (replica.stopping) return this.#stopped(replica);
      this.#failed(
        replica,
        `anneal serve exited (${signal ?? `code ${code}`})${replica.tail.length ? `: ${replica.tail.slice(-5).join(' | ')}` : ''}`,
      );
    });
  }

  #line(replica: Replica, raw: string, started: number): void {
    let line: ServeLine;
    try {
      line = JSON.parse(raw) as ServeLine;
    } catch {
      replica.tail.push(raw);
      return;
    }
    const replicaId = replica.start.replicaId;
    if (line.type === 'ready') {
      replica.ready = true;
      this.log(`replica ${replicaId}: ready in ${Date.now() - started} ms`);
      this.send({ type: 'replica_status', replicaId, state: 'ready', loadMs: line.load_ms });
      return;
    }
    if (!line.id || !replica.pending.delete(line.id)) return;
    const requestId = line.id;
    if (line.type === 'failed') {
      replica.chain = replica.chain.then(() => {
        this.send({
          type: 'generate_failed',
          requestId,
          replicaId,
          reason: line.error.slice(0, REASON_MAX),
        });
      });
      return;
    }
    replica.chain = replica.chain.then(async () => {
      try {
        // In parallel: a request's latency should not grow with its image count.
        const put = (file: string) =>
          this.api.putImage(replica.start.deploymentId, readFileSync(file));
        const [images, grid] = await Promise.all([
          Promise.all(line.files.map(put)),
          line.grid ? put(line.grid) : undefined,
        ]);
        this.send({
          type: 'generate_result',
          requestId,
          replicaId,
          images,
          ...(grid ? { grid } : {}),
          generateMs: line.ms,
          nfe: line.nfe,
          steps: line.steps,
          sampler: line.sampler,
        });
      } catch (err) {
        this.send({
          type: 'generate_failed',
          requestId,
          replicaId,
          reason: `uploading the images: ${(err as Error).message}`.slice(0, REASON_MAX),
        });
      } finally {
        for (const file of [...line.files, ...(line.grid ? [line.grid] : [])])
          rmSync(file, { force: true });
      }
    });
  }

  /**
   * A request for a replica. Not journaled: a request outlives no disconnect (the server fails
   * it when the socket drops), so an answer replayed later would have nobody to go to.
   */
  #generate(message: GenerateMessage): void {
    const { requestId, replicaId } = message;
    const replica = this.#replicas.get(replicaId);
    const refuse = (reason: string) =>
      this.send({ type: 'generate_failed', requestId, replicaId, reason });
    if (!replica) {
      refuse(`replica ${replicaId} is not hosted on this agent`);
      return;
    }
    if (!replica.ready || !replica.child?.stdin || replica.stopping) {
      refuse(`replica ${replicaId} is not ready`);
      return;
    }
    replica.pending.add(requestId);
    replica.child.stdin.write(`${JSON.stringify({ id: requestId, ...message.request })}\n`);
  }

  stop(replicaId: string, reason: string): void {
    const replica = this.#replicas.get(replicaId);
    if (!replica) {
      // Not here (an agent restarted since): nothing to stop, and the server should know.
      this.send({ type: 'replica_status', replicaId, state: 'stopped', detail: 'not hosted' });
      return;
    }
    if (replica.stopping) return;
    replica.stopping = reason;
    this.log(`replica ${replicaId}: stopping (${reason})`);
    const child = replica.child;
    if (!child) {
      this.#stopped(replica);
      return;
    }
    // Closing stdin ends `anneal serve` after its current request; SIGTERM if it lingers.
    child.stdin?.end();
    setTimeout(() => child.kill('SIGTERM'), 10_000).unref();
  }

  /** Stops every replica (the agent is stopping) and waits for the children to exit. */
  async stopAll(reason: string): Promise<void> {
    const exits = [...this.#replicas.values()].flatMap((r) =>
      r.child ? [new Promise((resolve) => r.child?.once('close', resolve))] : [],
    );
    for (const id of [...this.#replicas.keys()]) this.stop(id, reason);
    await Promise.all(exits);
  }

  #stopped(replica: Replica): void {
    const { replicaId } = replica.start;
    this.#replicas.delete(replicaId);
    // After the answers still uploading: they read their PNGs from the folder.
    void replica.chain.then(() => {
      rmSync(replica.dir, { recursive: true, force: true });
      this.#ended_(replica, 'stopped', replica.stopping ?? undefined);
    });
  }

  #failed(replica: Replica, detail: string): void {
    const { replicaId } = replica.start;
    // Once: a child that errors and then closes reports one failure.
    if (this.#replicas.get(replicaId) !== replica) return;
    this.log(`replica ${replicaId}: failed: ${detail}`);
    this.#replicas.delete(replicaId);
    replica.child?.kill('SIGKILL');
    void replica.chain.then(() => {
      for (const requestId of replica.pending)
        this.send({
          type: 'generate_failed',
          requestId,
          replicaId,
          reason: `replica failed: ${detail}`.slice(0, REASON_MAX),
        });
      rmSync(replica.dir, { recursive: true, force: true });
      this.#ended_(replica, 'failed', detail.slice(0, REASON_MAX));
    });
  }
}
