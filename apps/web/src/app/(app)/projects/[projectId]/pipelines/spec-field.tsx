'use client';

import { useId } from 'react';

/** A saved spec's node count; specs come back as stored, so this reads defensively. */
export function nodeCount(spec: Record<string, unknown>): number {
  return Array.isArray(spec.nodes) ? spec.nodes.length : 0;
}

/** The spec as typed, parsed; a JSON mistake is named the way the server names its own. */
export function parseSpec(
  text: string,
): { spec: Record<string, unknown> } | { error: string; spec?: undefined } {
  try {
    const spec = JSON.parse(text) as unknown;
    if (!spec || typeof spec !== 'object' || Array.isArray(spec))
      return { error: 'spec: a JSON object, with nodes (and params)' };
    return { spec: spec as Record<string, unknown> };
  } catch (err) {
    return { error: `spec: not valid JSON (${(err as Error).message})` };
  }
}

/**
 * Which field of the form a server message is about: its messages start with the path of the
 * input they refuse ("spec.nodes.0.spec.resolution: ...", "name: ...").
 */
export function fieldOf(message: string): string | null {
  return /^([a-z]+)[.:]/i.exec(message)?.[1] ?? null;
}

/** "spec.nodes.2.when.0.left: ..." -> the key of node 2 in the spec as typed, if it has one. */
function nodeNamed(message: string, text: string): string | null {
  const i = /^spec\.nodes\.(\d+)/.exec(message)?.[1];
  if (i === undefined) return null;
  const parsed = parseSpec(text);
  const nodes = parsed.spec?.nodes;
  const node = Array.isArray(nodes) ? (nodes[Number(i)] as { key?: unknown } | undefined) : null;
  return typeof node?.key === 'string' ? node.key : null;
}

/** The spec's JSON textarea, with the server's (or the parser's) message about it beneath. */
export function SpecField({
  value,
  onChange,
  error,
  rows = 24,
}: {
  value: string;
  onChange: (value: string) => void;
  /** A message about the spec (it starts with "spec"), shown under the textarea. */
  error: string | null;
  rows?: number;
}) {
  const errorId = useId();
  const node = error ? nodeNamed(error, value) : null;
  return (
    <div className="field-group">
      <label className="field">
        Spec (JSON)
        <textarea
          name="spec"
          className="spec-editor"
          rows={rows}
          spellCheck={false}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
        />
      </label>
      {error && (
        <div className="error" role="alert" id={errorId} data-testid="spec-error">
          {error}
          {node && <div className="small">in node &ldquo;{node}&rdquo;</div>}
        </div>
      )}
    </div>
  );
}
