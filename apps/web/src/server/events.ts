import { EventEmitter, on } from 'node:events';

export type RunEvent =
  | { type: 'metrics'; runId: string; keys: string[] }
  | { type: 'status'; runId: string; status: string }
  | { type: 'logs'; runId: string }
  | { type: 'artifacts'; runId: string };

/**
 * In-process fan-out of run changes to live subscriptions. One server process owns the
 * browsers it serves; the writes themselves are already in PostgreSQL, so a subscriber
 * only needs a nudge to refetch.
 */
export class RunEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  emit(event: RunEvent): void {
    this.#emitter.emit(event.runId, event);
  }

  async *watch(runId: string, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    try {
      for await (const [event] of on(this.#emitter, runId, { signal })) yield event as RunEvent;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}
