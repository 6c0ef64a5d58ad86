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
