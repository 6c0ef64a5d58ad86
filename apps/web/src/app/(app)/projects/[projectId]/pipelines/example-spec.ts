/**
 * What the "New pipeline" form starts from: the pipeline most projects want first. A tiny
 * model trains on the built-in 8x8 shapes, an evaluate job scores it, the register node
 * points the production alias at it only if its FD is within the budget, and a deployment
 * follows that alias (so promoting a later version redeploys it).
 */
export const EXAMPLE_SPEC = {
  params: { steps: 400, fd_budget: 10 },
  nodes: [
    {
      key: 'train',
      kind: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        preset: 'tiny',
        steps: '${params.steps}',
        batch: 8,
      },
    },
    {
      key: 'evaluate',
      kind: 'evaluate',
      spec: {
        model: { kind: 'modelVersion', id: '${train.version_id}' },
        n: 200,
        sampler: 'ddim',
        steps: 10,
      },
    },
    {
      key: 'promote',
      kind: 'register',
      needs: ['evaluate'],
      when: [{ left: '${evaluate.fd}', op: '<=', right: '${params.fd_budget}' }],
      spec: { version_id: '${train.version_id}', alias: 'production' },
    },
    {
      key: 'deploy',
      kind: 'deploy',
      needs: ['promote'],
      spec: {
        name: 'shapes-production',
        model: '${train.model}',
        alias: 'production',
        sampling: { sampler: 'ddim', steps: 10 },
      },
    },
  ],
};
