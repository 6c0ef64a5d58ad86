/**
 * Run params and job specs as people read them. A job's run stores nested spec values (a
 * dataset ref, a model source) as JSON strings; these turn them back into names and links
 * instead of showing `{"kind":"builtin","name":"mnist"}`.
 */
import { num } from './format.ts';

/** What a param shows: text, and where it links when it names something with a page. */
export interface ParamDisplay {
  text: string;
  href?: string;
}

/** Names the dashboard knows for ids a param holds (a dataset version's "name v3"). */
export interface ParamContext {
  projectId: string;
  /** Dataset version id -> "digits v2". */
  datasetLabels?: Record<string, string>;
}

function parseObject(value: string): Record<string, unknown> | null {
  if (!value.startsWith('{')) return null;
  try {
    const v = JSON.parse(value) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function scalar(v: unknown): string {
  if (typeof v === 'number') return num(v);
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.map(scalar).join(', ');
  if (typeof v === 'object')
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${scalar(x)}`)
      .join(', ');
  return String(v);
}

/** A dataset ref or model source, if `v` is one. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function describeRef(v: Record<string, unknown>, ctx: ParamContext): ParamDisplay | null {
  if (v.kind === 'builtin' && typeof v.name === 'string') {
    const options =
      v.options && typeof v.options === 'object' && Object.keys(v.options).length > 0
        ? ` (${scalar(v.options)})`
        : '';
    return { text: `${v.name}${options}` };
  }
  // Only a uuid links to a page: a local id (an import on an agent) has none on the server.
  if (v.kind === 'version' && typeof v.id === 'string') {
    const id = v.id.toLowerCase();
    const text = ctx.datasetLabels?.[id] ?? `dataset version ${id.slice(0, 8)}`;
    return UUID.test(id) ? { text, href: `/projects/${ctx.projectId}/datasets/${id}` } : { text };
  }
  if (v.kind === 'run' && typeof v.runId === 'string') {
    const text = `run ${v.runId.slice(0, 8)}`;
    const id = v.runId.toLowerCase();
    return UUID.test(id) ? { text, href: `/projects/${ctx.projectId}/runs/${id}` } : { text };
  }
  if (v.kind === 'modelVersion' && typeof v.id === 'string')
    return { text: `model version ${v.id.slice(0, 8)}` };
  return null;
}

/** One param value, readable. */
export function paramDisplay(value: unknown, ctx: ParamContext): ParamDisplay {
  if (typeof value === 'string') {
    const obj = parseObject(value);
    if (obj) return describeRef(obj, ctx) ?? { text: scalar(obj) };
    return { text: value };
  }
  if (value && typeof value === 'object' && !Array.isArray(value))
    return describeRef(value as Record<string, unknown>, ctx) ?? { text: scalar(value) };
  if (typeof value === 'boolean') return { text: value ? 'yes' : 'no' };
  return { text: scalar(value) };
}

/**
 * What a job is, in a few words: its kind, then its dataset, preset or model, sampler and
 * steps when the spec has them. "train · mnist · small · 2,000 steps".
 */
export function jobTitle(
  type: string,
  spec: Record<string, unknown>,
  ctx: ParamContext,
): { parts: ParamDisplay[] } {
  const parts: ParamDisplay[] = [{ text: type }];
  const dataset = spec.dataset;
  if (dataset && typeof dataset === 'object') {
    const d = describeRef(dataset as Record<string, unknown>, ctx);
    if (d) parts.push(d);
  }
  const model = spec.model;
  if (model && typeof model === 'object') {
    const m = describeRef(model as Record<string, unknown>, ctx);
    if (m) parts.push({ ...m, text: `from ${m.text}` });
  }
  if (typeof spec.teacher === 'string') parts.push({ text: `teacher ${spec.teacher.slice(0, 8)}` });
  if (typeof spec.preset === 'string') parts.push({ text: spec.preset });
  if (typeof spec.sampler === 'string') parts.push({ text: spec.sampler });
  if (typeof spec.benchmark === 'string') parts.push({ text: spec.benchmark });
  if (typeof spec.steps === 'number')
    parts.push({ text: `${num(spec.steps)} ${spec.steps === 1 ? 'step' : 'steps'}` });
  if (typeof spec.n === 'number' && type !== 'train')
    parts.push({ text: `${num(spec.n)} ${spec.n === 1 ? 'image' : 'images'}` });
  return { parts };
}
