// The pieces every bench/RESULTS.md section is written with: the results file's shape, number
// formats, a markdown table and the line that says what machine and load a result ran under.
import type { MachineRecord } from './machine.ts';

/** One bench/results/<name>.json: the machine and load it ran under, its options and result. */
export interface ResultFile<T = unknown> {
  name: string;
  machine: MachineRecord;
  load_avg_end: number[];
  seconds: number;
  options: Record<string, unknown>;
  /** Set while a long benchmark is still running (or was stopped): only part of the result. */
  partial?: boolean;
  result: T;
}

export const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
/** FD, with its bootstrap standard deviation when the run measured one (`--spread`). */
export const fdCell = (m: { fd: number; fd_std?: number | null }) =>
  m.fd_std === undefined || m.fd_std === null
    ? fmt(m.fd, 3)
    : `${fmt(m.fd, 3)} ± ${fmt(m.fd_std, 3)}`;

export const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

export function table(head: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function header(f: ResultFile): string {
  const m = f.machine;
  return `_${m.date}, ${f.seconds.toFixed(0)} s; load average ${m.load_avg.join(' / ')} at start, ${f.load_avg_end.join(' / ')} at end; ${m.threads} thread(s) per contender._`;
}
