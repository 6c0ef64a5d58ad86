import type { Db } from '@anneal/db/client';
import { type AdvanceHooks, advancePipelines, advanceRun } from '../domain/pipelines/advance.ts';

/**
 * Advances pipeline runs: a pass every `tickMs`, and one at once when asked (a run was
 * triggered, a job ended). One pass at a time; everything it knows is in PostgreSQL.
 */
export class PipelineRunner {
  readonly #timer: NodeJS.Timeout;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;

  constructor(
    private readonly db: Db,
    private readonly hooks: AdvanceHooks,
    tickMs: number,
  ) {
    this.#timer = setInterval(() => void this.advance(), tickMs);
    this.#timer.unref();
  }

  /** A pass now (or right after the one under way); resolves when it is done. */
  advance(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    // A pass cut short by close() (its pool ends) fails its runs' transactions: not worth a line.
    const log = (line: string) => {
      if (!this.#closed) this.hooks.log(line);
    };
    this.#running = advancePipelines(this.db, { ...this.hooks, log })
      .catch((err) => log(`pipelines: ${(err as Error).stack ?? err}`))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          void this.advance();
        }
      });
    return this.#running;
  }

  /**
   * Advances one run now, waiting for a pass that holds it: a trigger answers with its run
   * as this leaves it (the root nodes' jobs queued).
   */
  async advanceOne(runId: string): Promise<void> {
    if (this.#closed) return;
    await advanceRun(this.db, runId, this.hooks, { wait: true });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}
