import { describe, expect, it } from 'vitest';
import { modelSourceSchema } from './model-source.ts';

describe('model sources', () => {
  it('keep ids in lower case, as PostgreSQL prints uuids', () => {
    const id = 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D';
    expect(modelSourceSchema.parse({ kind: 'modelVersion', id })).toEqual({
      kind: 'modelVersion',
      id: id.toLowerCase(),
    });
    expect(modelSourceSchema.parse({ kind: 'run', runId: id })).toEqual({
      kind: 'run',
      runId: id.toLowerCase(),
    });
  });
});
