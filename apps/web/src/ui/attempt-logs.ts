// A failed run's logs, split by attempt: the server writes "attempt N failed: reason" before
// each failed attempt's last lines (finishJob in server/domain/jobs/leases.ts).

const ATTEMPT_HEADER = /^attempt (\d+) failed: (.*)$/s;

export interface LogLine {
  seq: number;
  line: string;
}

/** One attempt's lines; `attempt` null for lines before any header (logged otherwise). */
export interface AttemptLines {
  attempt: number | null;
  /** Why it failed, from its header. */
  reason: string | null;
  lines: LogLine[];
}

/**
 * The logs in groups, one per failed attempt, oldest first, each cut to its last `tail`
 * lines; the headers become each group's `reason`.
 */
export function attemptLines(logs: readonly LogLine[], tail: number): AttemptLines[] {
  const groups: AttemptLines[] = [];
  let current: AttemptLines | null = null;
  for (const l of [...logs].sort((a, b) => a.seq - b.seq)) {
    const header = ATTEMPT_HEADER.exec(l.line);
    if (header) {
      current = { attempt: Number(header[1]), reason: header[2] ?? null, lines: [] };
      groups.push(current);
    } else {
      if (!current) {
        current = { attempt: null, reason: null, lines: [] };
        groups.push(current);
      }
      current.lines.push(l);
    }
  }
  return groups
    .filter((g) => g.lines.length > 0)
    .map((g) => ({ ...g, lines: g.lines.slice(-tail) }));
}
