import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { AgentMessageInput } from '@anneal/protocol';

interface Entry {
  ref: number;
  message: AgentMessageInput;
}

/**
 * Messages that must reach the server (metrics, artifacts, outcomes), kept on disk until
 * the server acknowledges them, and replayed in order after a reconnect or a restart.
 * Every journaled write is idempotent on the server, so a replay of an entry that did
 * land changes nothing.
 */
export class Journal {
  readonly #entries = new Map<number, Entry>();
  #next = 1;
  #acked = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const record = JSON.parse(line) as { ack?: number } & Partial<Entry>;
        if (record.ack !== undefined) this.#entries.delete(record.ack);
        else if (record.ref !== undefined && record.message)
          this.#entries.set(record.ref, { ref: record.ref, message: record.message });
        this.#next = Math.max(this.#next, (record.ref ?? record.ack ?? 0) + 1);
      } catch {
        // A torn last line from a crash mid-write: what came before it is intact.
      }
    }
    this.#compact();
  }

  /** Records a message; returns it with its `ref`, ready to send. */
  append(message: AgentMessageInput): AgentMessageInput & { ref: number } {
    const ref = this.#next++;
    const stamped = { ...message, ref } as AgentMessageInput & { ref: number };
    this.#entries.set(ref, { ref, message: stamped });
    appendFileSync(this.path, `${JSON.stringify({ ref, message: stamped })}\n`);
    return stamped;
  }

  ack(ref: number): void {
    if (!this.#entries.delete(ref)) return;
    appendFileSync(this.path, `${JSON.stringify({ ack: ref })}\n`);
    if (++this.#acked >= 500) this.#compact();
  }

  /** Unacknowledged messages, oldest first. */
  pending(): AgentMessageInput[] {
    return [...this.#entries.values()].sort((a, b) => a.ref - b.ref).map((e) => e.message);
  }

  get size(): number {
    return this.#entries.size;
  }

  #compact(): void {
    this.#acked = 0;
    const tmp = `${this.path}.tmp`;
    writeFileSync(
      tmp,
      this.pending()
        .map((m) => `${JSON.stringify({ ref: (m as { ref: number }).ref, message: m })}\n`)
        .join(''),
    );
    renameSync(tmp, this.path);
  }
}
