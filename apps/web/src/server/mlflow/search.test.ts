import { describe, expect, it } from 'vitest';
import { compare, likeMatch, parseFilter, parseOrderBy } from './search.ts';

describe("MLflow's search filters", () => {
  it('reads what the clients send', () => {
    expect(
      parseFilter(
        "metrics.loss < 0.5 and params.lr = '0.01' AND tags.`mlflow.user` LIKE 'a%' AND attributes.status IN ('FINISHED', 'FAILED')",
      ),
    ).toEqual([
      { entity: 'metric', key: 'loss', op: '<', value: 0.5 },
      { entity: 'param', key: 'lr', op: '=', value: '0.01' },
      { entity: 'tag', key: 'mlflow.user', op: 'LIKE', value: 'a%' },
      { entity: 'attribute', key: 'status', op: 'IN', value: ['FINISHED', 'FAILED'] },
    ]);
    expect(parseFilter("tags.mlflow.runName != 'x'")).toEqual([
      { entity: 'tag', key: 'mlflow.runName', op: '!=', value: 'x' },
    ]);
    expect(parseFilter("name = 'm'")).toEqual([
      { entity: 'attribute', key: 'name', op: '=', value: 'm' },
    ]);
    expect(parseFilter('tags."mlflow.prompt.is_prompt" != \'true\'')).toEqual([
      { entity: 'tag', key: 'mlflow.prompt.is_prompt', op: '!=', value: 'true' },
    ]);
    expect(parseFilter('metrics.acc >= -1e-3')).toEqual([
      { entity: 'metric', key: 'acc', op: '>=', value: -0.001 },
    ]);
  });

  it('refuses what it cannot read, naming the problem', () => {
    expect(() => parseFilter("metrics.loss < 'a'")).toThrow(/compares with a number/);
    expect(() => parseFilter("params.a = 'x' OR params.b = 'y'")).toThrow(/expected AND/);
    expect(() => parseFilter("colours.a = 'x'")).toThrow(/unknown entity "colours"/);
    expect(() => parseFilter("params.a = 'x")).toThrow(/unterminated/);
  });

  it('compares as MLflow does', () => {
    const [lt] = parseFilter('metrics.loss < 0.5');
    if (!lt) throw new Error('parsed nothing');
    expect(compare(0.25, lt)).toBe(true);
    expect(compare(0.5, lt)).toBe(false);
    expect(compare(undefined, lt)).toBe(false);
    const [like] = parseFilter("tags.t ILIKE 'ab_%'");
    if (!like) throw new Error('parsed nothing');
    expect(compare('ABc-whatever', like)).toBe(true);
    expect(compare('ab', like)).toBe(false);
  });

  it('matches LIKE and ILIKE as SQL does', () => {
    expect(likeMatch('a%', 'abc', false)).toBe(true);
    expect(likeMatch('A%', 'abc', false)).toBe(false);
    expect(likeMatch('A%', 'abc', true)).toBe(true);
    expect(likeMatch('%b%', 'abc', false)).toBe(true);
    expect(likeMatch('%b', 'abc', false)).toBe(false);
    expect(likeMatch('a_c', 'abc', false)).toBe(true);
    expect(likeMatch('a_c', 'ac', false)).toBe(false);
    expect(likeMatch('a_c', 'a\u{1F600}c', false)).toBe(true);
    expect(likeMatch('a%c', 'a\nline\nc', false)).toBe(true);
    expect(likeMatch('%a%a%', 'a', false)).toBe(false);
    expect(likeMatch('%ab%ab%', 'xabyab', false)).toBe(true);
    expect(likeMatch('a.c', 'abc', false)).toBe(false);
    expect(likeMatch('%', '', false)).toBe(true);
    expect(likeMatch('', '', false)).toBe(true);
    expect(likeMatch('', 'a', false)).toBe(false);
    expect(likeMatch('ab%ba', 'aba', false)).toBe(false);
  });

  it('answers adversarial LIKE patterns without backtracking', () => {
    // `^.*a.*a.*a.*b$` over 1,000 a's took 51 s as a RegExp; the matcher is linear per piece.
    const value = 'a'.repeat(10_000);
    expect(likeMatch(`${'%a'.repeat(200)}%b`, value, false)).toBe(false);
    expect(likeMatch(`${'%_'.repeat(200)}%b`, value, true)).toBe(false);
    expect(likeMatch(`${'%a'.repeat(200)}%`, value, false)).toBe(true);
    const [c] = parseFilter(`tags.t LIKE '${'%a'.repeat(50)}%b'`);
    if (!c) throw new Error('parsed nothing');
    expect(compare(value, c)).toBe(false);
  });

  it('reads order_by clauses', () => {
    expect(parseOrderBy(['metrics.loss DESC', 'start_time', 'params.`a b` asc'])).toEqual([
      { entity: 'metric', key: 'loss', descending: true },
      { entity: 'attribute', key: 'start_time', descending: false },
      { entity: 'param', key: 'a b', descending: false },
    ]);
  });
});
