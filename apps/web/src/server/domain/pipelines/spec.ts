// What a pipeline is: a DAG of nodes, each a job kind (train, distill, evaluate, ...), an alias
// to set in the registry (register) or a deployment to bring up (deploy). A node's spec and
// its conditions read the params of the run and the outputs of the nodes before it through
// references, `${train.version_id}` or `${params.steps}`; a node waits for the nodes it
// needs and for every node it references. Checked whole when saved: keys, references,
// cycles, and each spec against its kind's schema with the references stood in for.
import {
  aliasSchema,
  type JobType,
  jobSpecSchema,
  jobTypes,
  servedSamplingSchema,
} from '@anneal/protocol';
import { z } from 'zod';
import { deploymentFields, oneTarget } from '../deployments/deployments.ts';
import { PROBE_METRICS } from '../deployments/probes.ts';

const keySchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,39}$/, {
    message: 'use 1-40 lowercase letters, digits, "_" or "-", starting with a letter',
  })
  .refine((k) => k !== 'params', { message: '"params" is reserved for the run’s params' });

const scalar = z.union([z.string().max(1000), z.number(), z.boolean()]);

export const NODE_KINDS = [...jobTypes, 'register', 'deploy'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/** What each kind of node leaves for later nodes to read. */
export const NODE_OUTPUTS: Record<NodeKind, readonly string[]> = {
  train: ['job_id', 'run_id', 'version_id', 'model', 'version', 'loss'],
  distill: ['job_id', 'run_id', 'version_id', 'model', 'version', 'steps', 'fd'],
  evaluate: ['job_id', 'run_id', ...PROBE_METRICS],
  sample: ['job_id', 'run_id'],
  bench: ['job_id', 'run_id'],
  plan: ['job_id', 'run_id'],
  search: ['job_id', 'run_id'],
  register: ['version_id', 'model', 'version', 'alias'],
  deploy: ['deployment_id', 'version_id'],
};

const ID_OUTPUTS = new Set(['job_id', 'run_id', 'version_id', 'deployment_id']);

export const conditionSchema = z
  .object({
    left: scalar,
    op: z.enum(['<', '<=', '>', '>=', '==', '!=']),
    right: scalar,
  })
  .strict();
export type Condition = z.infer<typeof conditionSchema>;

/** A register node: points an alias of the version's model at it (promotes it). */
export const registerNodeSpecSchema = z
  .object({ version_id: z.uuid().toLowerCase(), alias: aliasSchema })
  .strict();

/** A deploy node: a deployment as POST /deployments takes it; one of that name is reused. */
export const deployNodeSpecSchema = deploymentFields
  .extend({ sampling: servedSamplingSchema.default({}) })
  .refine(...oneTarget);

const nodeSchema = z
  .object({
    key: keySchema,
    kind: z.enum(NODE_KINDS),
    /** Nodes that must succeed first (besides those the spec references). */
    needs: z.array(keySchema).max(50).default([]),
    /** The job spec (a job kind), or the register or deploy node's spec. */
    spec: z.record(z.string(), z.unknown()),
    /** Every condition must hold, or the node and the nodes after it are skipped. */
    when: z.array(conditionSchema).max(10).default([]),
    /** Times a failed job runs again (resuming from its last checkpoint). */
    retries: z.number().int().min(0).max(5).default(0),
  })
  .strict();
export type PipelineNode = z.infer<typeof nodeSchema>;

const pipelineShape = z
  .object({
    /** Params a run may set, with their defaults. */
    params: z.record(z.string().regex(/^[a-z_][a-z0-9_]{0,39}$/), scalar).default({}),
    nodes: z.array(nodeSchema).min(1).max(50),
  })
  .strict();

export const pipelineSpecSchema = pipelineShape.superRefine((spec, ctx) => {
  for (const issue of checkPipeline(spec))
    ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});
export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;
export type PipelineSpecInput = z.input<typeof pipelineSpecSchema>;

// A reference: ${node.output} or ${params.name}. A string that is one reference whole takes
// the referenced value as it is (a number stays a number); one inside text is spliced in.
const REF = /\$\{([a-z][a-z0-9_-]*)\.([a-z_][a-z0-9_]*)\}/g;
const WHOLE_REF = /^\$\{([a-z][a-z0-9_-]*)\.([a-z_][a-z0-9_]*)\}$/;

export interface Ref {
  node: string;
  output: string;
  /** Where it was found, for messages. */
  path: (string | number)[];
}

/** Every reference in a value, with its path. */
export function refsIn(value: unknown, path: (string | number)[] = []): Ref[] {
  if (typeof value === 'string')
    return [...value.matchAll(REF)].map((m) => ({
      node: m[1] as string,
      output: m[2] as string,
      path,
    }));
  if (Array.isArray(value)) return value.flatMap((v, i) => refsIn(v, [...path, i]));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => refsIn(v, [...path, k]));
  return [];
}

/** The nodes a node waits for: those it needs and those it references. */
export function dependencies(node: PipelineNode): string[] {
  const refs = [...refsIn(node.spec), ...refsIn(node.when)].map((r) => r.node);
  return [...new Set([...node.needs, ...refs.filter((n) => n !== 'params')])];
}

/** A reference that names nothing the run has. */
export class UnresolvedRef extends Error {}

/**
 * `value` with every reference replaced: `lookup(node, output)` gives the value, or
 * undefined when the node produced no such output (then UnresolvedRef says which).
 */
export function resolveRefs(
  value: unknown,
  lookup: (node: string, output: string) => unknown,
): unknown {
  const get = (node: string, output: string) => {
    const v = lookup(node, output);
    if (v === undefined || v === null)
      throw new UnresolvedRef(
        node === 'params'
          ? `\${params.${output}}: the run has no param "${output}"`
          : `\${${node}.${output}}: node "${node}" produced no ${output}`,
      );
    return v;
  };
  if (typeof value === 'string') {
    const whole = WHOLE_REF.exec(value);
    if (whole) return get(whole[1] as string, whole[2] as string);
    return value.replace(REF, (_, node: string, output: string) => String(get(node, output)));
  }
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, lookup));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(v, lookup)]));
  return value;
}

/** Whether a condition holds; an operand that is not a number fails an ordering with a reason. */
export function holds(c: { left: unknown; op: Condition['op']; right: unknown }): boolean {
  if (c.op === '==') return c.left === c.right;
  if (c.op === '!=') return c.left !== c.right;
  if (typeof c.left !== 'number' || typeof c.right !== 'number')
    throw new UnresolvedRef(
      `${JSON.stringify(c.left)} ${c.op} ${JSON.stringify(c.right)}: "${c.op}" compares numbers`,
    );
  switch (c.op) {
    case '<':
      return c.left < c.right;
    case '<=':
      return c.left <= c.right;
    case '>':
      return c.left > c.right;
    default:
      return c.left >= c.right;
  }
}

/** The nodes in an order where each comes after those it depends on. */
export function topological(nodes: PipelineNode[]): PipelineNode[] {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const done = new Set<string>();
  const order: PipelineNode[] = [];
  const visit = (n: PipelineNode, path: string[]) => {
    if (done.has(n.key)) return;
    if (path.includes(n.key))
      throw new Error(
        `nodes: a cycle: ${[...path.slice(path.indexOf(n.key)), n.key].join(' -> ')}`,
      );
    for (const d of dependencies(n)) {
      const dep = byKey.get(d);
      if (dep) visit(dep, [...path, n.key]);
    }
    done.add(n.key);
    order.push(n);
  };
  for (const n of nodes) visit(n, []);
  return order;
}

const STAND_IN_ID = '00000000-0000-4000-8000-000000000000';

/** A value of the output's type, to check a spec whose references are not yet known. */
function standIn(kind: NodeKind | 'params', output: string, params: Record<string, unknown>) {
  if (kind === 'params') return params[output];
  if (ID_OUTPUTS.has(output)) return STAND_IN_ID;
  if (output === 'model') return 'model';
  if (output === 'alias') return 'production';
  return 1;
}

/** What is wrong with a pipeline, each with its path; empty when it can run. */
function checkPipeline(spec: z.infer<typeof pipelineShape>) {
  const issues: { message: string; path: (string | number)[] }[] = [];
  const index = new Map<string, number>();
  spec.nodes.forEach((n, i) => {
    if (index.has(n.key))
      issues.push({ message: `a second node "${n.key}"`, path: ['nodes', i, 'key'] });
    index.set(n.key, i);
  });
  spec.nodes.forEach((n, i) => {
    n.needs.forEach((d, j) => {
      if (!index.has(d)) issues.push({ message: `no node "${d}"`, path: ['nodes', i, 'needs', j] });
    });
    for (const [where, value] of [
      ['spec', n.spec],
      ['when', n.when],
    ] as const) {
      for (const r of refsIn(value)) {
        const at = ['nodes', i, where, ...r.path];
        if (r.node === 'params') {
          if (!(r.output in spec.params))
            issues.push({
              message: `\${params.${r.output}}: declare "${r.output}" in params (with its default)`,
              path: at,
            });
          continue;
        }
        const target = index.get(r.node);
        if (target === undefined) {
          issues.push({ message: `\${${r.node}.${r.output}}: no node "${r.node}"`, path: at });
          continue;
        }
        if (r.node === n.key) {
          issues.push({
            message: `\${${r.node}.${r.output}}: a node reads its own output`,
            path: at,
          });
          continue;
        }
        const kind = spec.nodes[target]?.kind as NodeKind;
        if (!NODE_OUTPUTS[kind].includes(r.output))
          issues.push({
            message: `\${${r.node}.${r.output}}: a ${kind} node's outputs are ${NODE_OUTPUTS[kind].join(', ')}`,
            path: at,
          });
      }
    }
  });
  if (issues.length) return issues;
  try {
    topological(spec.nodes);
  } catch (err) {
    return [{ message: (err as Error).message, path: ['nodes'] }];
  }
  // Each spec against its kind, the references stood in for by values of their type.
  spec.nodes.forEach((n, i) => {
    const resolved = resolveRefs(n.spec, (node, output) =>
      standIn(
        node === 'params' ? 'params' : (spec.nodes[index.get(node) as number]?.kind as NodeKind),
        output,
        spec.params,
      ),
    );
    const parsed = parseNodeSpec(n.kind, resolved);
    if (!parsed.success)
      for (const issue of parsed.issues)
        issues.push({ ...issue, path: ['nodes', i, ...issue.path] });
  });
  return issues;
}

type NodeSpecResult =
  | { success: true; value: unknown }
  | { success: false; issues: { message: string; path: (string | number)[] }[] };

/** A node's resolved spec, parsed with its kind's schema (a job kind's, register's, deploy's). */
export function parseNodeSpec(kind: NodeKind, spec: unknown): NodeSpecResult {
  const schema: z.ZodType =
    kind === 'register'
      ? registerNodeSpecSchema
      : kind === 'deploy'
        ? deployNodeSpecSchema
        : jobSpecSchema.transform((j) => j.spec);
  const input = kind === 'register' || kind === 'deploy' ? spec : { type: kind, spec };
  const parsed = schema.safeParse(input);
  if (parsed.success) return { success: true, value: parsed.data };
  return {
    success: false,
    issues: parsed.error.issues.map((i) => ({
      message: i.message,
      path: ['spec', ...(kind === 'register' || kind === 'deploy' ? i.path : i.path.slice(1))].map(
        (p) => (typeof p === 'symbol' ? String(p) : p),
      ),
    })),
  };
}

export function isJobKind(kind: NodeKind): kind is JobType {
  return kind !== 'register' && kind !== 'deploy';
}
