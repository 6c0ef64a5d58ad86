/** A one-line progress bar for TTYs; on anything else it stays silent (logs carry progress). */
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #total: number;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #started = Date.now();
  #startValue = 0;
  #lastDraw = 0;

  constructor(
    total: number,
    label: string,
    stream: NodeJS.WriteStream = process.stderr,
    enabled = stream.isTTY === true,
  ) {
    this.#total = Math.max(1, total);
    this.#label = label;
    this.#stream = stream;
    this.#enabled = enabled;
  }

  /** Where the bar starts (a resumed run), so the ETA counts only this run's pace. */
  start(value: number): void {
    this.#startValue = value;
  }

  update(value: number, detail = ''): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && value < this.#total) return;
    this.#lastDraw = now;
    const width = 28;
    const frac = Math.min(1, value / this.#total);
    const filled = Math.round(frac * width);
    const done = value - this.#startValue;
    const elapsed = (now - this.#started) / 1000;
    const eta = done > 0 ? ((this.#total - value) * elapsed) / done : Number.NaN;
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const line = `${this.#label} ${bar} ${value}/${this.#total} ${detail} ${formatDuration(elapsed)}<${formatDuration(eta)}`;
    const columns = this.#stream.columns ?? 120;
    this.#stream.write(`\r${line.slice(0, columns - 1)}\x1b[K`);
  }

  done(): void {
    if (this.#enabled) this.#stream.write('\n');
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** How often a phase's progress goes out as a JSON line at most (the last one always does). */
export const PROGRESS_EVENT_MS = 500;

/** How often a phase's progress goes out as a log line at most (its first and last always do). */
export const PROGRESS_LOG_MS = 60_000;

export interface PhaseLog {
  /** Where the lines go: stderr when it is not a TTY, where no bar is drawn. */
  line: (line: string) => void;
  everyMs?: number;
  now?: () => number;
}

/**
 * Progress through named phases, for people (one bar per phase on a TTY, or with `log` a line
 * per phase at its start, at most one per `everyMs` and at its end, for a log file) and for
 * the agent (`{"event":"progress","phase","step","total"}` lines on stdout when `events`, at
 * most one per PROGRESS_EVENT_MS per phase change and the last of each always).
 */
export function phaseProgress(out: (line: string) => void, events: boolean, log?: PhaseLog) {
  const now = log?.now ?? Date.now;
  const logEvery = log?.everyMs ?? PROGRESS_LOG_MS;
  let bar: ProgressBar | undefined;
  let phase = '';
  let last = 0;
  // The phase's start (its step and time) and when it was last logged.
  let from = { done: 0, at: 0 };
  let logged = Number.NEGATIVE_INFINITY;
  return {
    update(p: string, done: number, total: number) {
      const t = now();
      if (p !== phase) {
        bar?.done();
        bar = new ProgressBar(total, p);
        phase = p;
        from = { done, at: t };
        logged = Number.NEGATIVE_INFINITY;
      }
      bar?.update(done);
      if (log && (done >= total || t - logged >= logEvery)) {
        logged = t;
        const elapsed = (t - from.at) / 1000;
        const rate = (done - from.done) / elapsed;
        const eta = done >= total ? 0 : rate > 0 ? (total - done) / rate : Number.NaN;
        log.line(`${p}: ${done}/${total} ${formatDuration(elapsed)}<${formatDuration(eta)}`);
      }
      if (events && total >= 1 && (done === total || t - last >= PROGRESS_EVENT_MS)) {
        last = t;
        out(JSON.stringify({ event: 'progress', phase: p, step: done, total }));
      }
    },
    /** Ends the current bar (before a line of its own, or at the end). */
    done() {
      bar?.done();
      bar = undefined;
      phase = '';
    },
  };
}
