import { invalid } from './errors.ts';

/**
 * MLflow's search filter language, the part its clients send: comparisons joined by AND
 * (`metrics.loss < 0.5 AND params.lr = '0.01' AND tags."mlflow.user" LIKE 'a%'`), with
 * =, !=, <, <=, >, >=, LIKE, ILIKE, IN and NOT IN; keys may be quoted with `"`, `'` or
 * backticks; entities are metrics, params, tags and attributes (also `attribute`, `run`,
 * or a bare attribute name). OR and parentheses are not MLflow's either.
 */
export type Entity = 'metric' | 'param' | 'tag' | 'attribute';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

export interface Clause {
  entity: Entity;
  key: string;
  op: Comparator;
  value: string | number | (string | number)[];
}

type Token = { kind: 'word' | 'string' | 'number' | 'op' | 'punct'; text: string };

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const ch = filter[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = filter.indexOf(ch, i + 1);
      if (end < 0) throw invalid(`filter: unterminated ${ch} at character ${i}`);
      tokens.push({ kind: 'string', text: filter.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    const op = /^(<=|>=|!=|<>|=|<|>)/.exec(filter.slice(i));
    if (op) {
      tokens.push({ kind: 'op', text: op[1] === '<>' ? '!=' : (op[1] as string) });
      i += (op[1] as string).length;
      continue;
    }
    if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: 'punct', text: ch });
      i++;
      continue;
    }
    const num = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/i.exec(filter.slice(i));
    if (num) {
      tokens.push({ kind: 'number', text: num[0] });
      i += num[0].length;
      continue;
    }
    // Identifiers keep their dots (metrics.loss, tags.mlflow.runName); the parser splits them.
    const word = /^[A-Za-z_][A-Za-z0-9_\-:/.]*/.exec(filter.slice(i));
    if (!word) throw invalid(`filter: unexpected "${ch}" at character ${i}`);
    tokens.push({ kind: 'word', text: word[0] });
    i += word[0].length;
  }
  return tokens;
}

const ENTITIES: Record<string, Entity> = {
  metric: 'metric',
  metrics: 'metric',
  param: 'param',
  params: 'param',
  parameter: 'param',
  parameters: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
};

export function parseFilter(filter: string | undefined): Clause[] {
  if (!filter || filter.trim() === '') return [];
  const tokens = tokenize(filter);
  const clauses: Clause[] = [];
  let i = 0;
  const next = () => tokens[i++];
  while (i < tokens.length) {
    const first = next();
    if (!first || (first.kind !== 'word' && first.kind !== 'string'))
      throw invalid(`filter: expected an identifier such as metrics.loss in "${filter}"`);
    let entity: Entity = 'attribute';
    let key = first.text;
    const dot = first.kind === 'word' ? first.text.indexOf('.') : -1;
    if (dot >= 0) {
      const prefix = first.text.slice(0, dot);
      const e = ENTITIES[prefix.toLowerCase()];
      if (!e)
        throw invalid(`filter: unknown entity "${prefix}" (metrics, params, tags, attributes)`);
      entity = e;
      key = first.text.slice(dot + 1);
      if (key === '') {
        const quoted = next();
        if (quoted?.kind !== 'string') throw invalid(`filter: expected a key after "${prefix}."`);
        key = quoted.text;
      }
    }
    const opTok = next();
    let op: Comparator;
    if (opTok?.kind === 'op') op = opTok.text as Comparator;
    else if (opTok?.kind === 'word' && /^(i?like|in)$/i.test(opTok.text))
      op = opTok.text.toUpperCase() as Comparator;
    else if (
      opTok?.kind === 'word' &&
      /^not$/i.test(opTok.text) &&
      /^in$/i.test(tokens[i]?.text ?? '')
    ) {
      i++;
      op = 'NOT IN';
    } else throw invalid(`filter: expected a comparator after "${key}"`);
    let value: Clause['value'];
    if (op === 'IN' || op === 'NOT IN') {
      if (next()?.text !== '(') throw invalid(`filter: expected "(" after ${op}`);
      const list: (string | number)[] = [];
      for (;;) {
        const v = next();
        if (!v || (v.kind !== 'string' && v.kind !== 'number'))
          throw invalid(`filter: ${op} takes a list of quoted strings or numbers`);
        list.push(v.kind === 'number' ? Number(v.text) : v.text);
        const sep = next();
        if (sep?.text === ')') break;
        if (sep?.text !== ',') throw invalid(`filter: expected "," or ")" in the ${op} list`);
      }
      value = list;
    } else {
      const v = next();
      if (!v || (v.kind !== 'string' && v.kind !== 'number'))
        throw invalid(`filter: expected a quoted string or a number after ${key} ${op}`);
      value = v.kind === 'number' ? Number(v.text) : v.text;
    }
    if (entity === 'metric' && typeof value !== 'number')
      throw invalid(`filter: metrics.${key} compares with a number`);
    clauses.push({ entity, key, op, value });
    const and = tokens[i];
    if (and === undefined) break;
    if (and.kind !== 'word' || and.text.toUpperCase() !== 'AND')
      throw invalid(`filter: expected AND between comparisons, got "${and.text}"`);
    i++;
  }
  return clauses;
}

/**
 * SQL LIKE without a RegExp: `%` is any run of characters (newlines included), `_` exactly
 * one character (a code point), everything else itself; `fold` compares case-insensitively
 * (ILIKE). A backtracking RegExp built from `%` pieces (`^.*a.*a.*a.*b$`) takes exponential
 * time on a long value, and every org shares this event loop. Here the pattern splits on `%`
 * into pieces; the first is anchored at the start, the last at the end, and each middle
 * piece is taken at its leftmost place after the previous one (leftmost is never worse for
 * the pieces that follow). The value is scanned once per piece character at most:
 * O(|value| x |pattern|) in all, whatever the pattern.
 */
export function likeMatch(pattern: string, value: string, fold: boolean): boolean {
  const norm = (c: string) => (fold ? c.toLowerCase() : c);
  const text = Array.from(value, norm);
  const pieces = pattern.split('%').map((p) => Array.from(p, norm));
  const at = (piece: string[], pos: number) => {
    if (pos + piece.length > text.length) return false;
    for (let k = 0; k < piece.length; k++)
      if (piece[k] !== '_' && piece[k] !== text[pos + k]) return false;
    return true;
  };
  const first = pieces[0] as string[];
  if (pieces.length === 1) return first.length === text.length && at(first, 0);
  const last = pieces[pieces.length - 1] as string[];
  if (first.length + last.length > text.length) return false;
  if (!at(first, 0) || !at(last, text.length - last.length)) return false;
  let pos = first.length;
  const end = text.length - last.length;
  for (let p = 1; p < pieces.length - 1; p++) {
    const piece = pieces[p] as string[];
    let found = -1;
    for (let start = pos; start + piece.length <= end; start++)
      if (at(piece, start)) {
        found = start;
        break;
      }
    if (found < 0) return false;
    pos = found + piece.length;
  }
  return true;
}

/** Whether `actual` (undefined: the run has no such key) satisfies one comparison. */
export function compare(actual: string | number | undefined, c: Clause): boolean {
  if (actual === undefined) return false;
  const v = c.value;
  switch (c.op) {
    case 'IN':
      return (v as (string | number)[]).some((x) => String(x) === String(actual));
    case 'NOT IN':
      return !(v as (string | number)[]).some((x) => String(x) === String(actual));
    case 'LIKE':
      return likeMatch(String(v), String(actual), false);
    case 'ILIKE':
      return likeMatch(String(v), String(actual), true);
  }
  const [a, b] =
    typeof v === 'number' && typeof actual === 'number'
      ? [actual, v]
      : typeof v === 'number'
        ? [Number(actual), v]
        : [String(actual), v];
  switch (c.op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

export interface OrderBy {
  entity: Entity;
  key: string;
  descending: boolean;
}

/** `metrics.loss DESC`, `attributes.start_time`, `name ASC`. */
export function parseOrderBy(clauses: readonly string[] | undefined): OrderBy[] {
  return (clauses ?? []).map((raw) => {
    const m = /^\s*(?:(\w+)\.)?(?:`([^`]+)`|"([^"]+)"|([\w.-]+))\s*(ASC|DESC)?\s*$/i.exec(raw);
    if (!m) throw invalid(`order_by: cannot read "${raw}"`);
    const entity = m[1] ? ENTITIES[m[1].toLowerCase()] : 'attribute';
    if (!entity) throw invalid(`order_by: unknown entity "${m[1]}" in "${raw}"`);
    return {
      entity,
      key: (m[2] ?? m[3] ?? m[4]) as string,
      descending: (m[5] ?? 'ASC').toUpperCase() === 'DESC',
    };
  });
}

/** Orders values as MLflow does: missing values last whatever the direction. */
export function compareValues(
  a: string | number | undefined,
  b: string | number | undefined,
  descending: boolean,
): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  const d = a < b ? -1 : a > b ? 1 : 0;
  return descending ? -d : d;
}
