export * from './agents.ts';
export * from './auth.ts';
export * from './datasets.ts';
export * from './operations.ts';
export * from './orgs.ts';
export * from './projects.ts';
export * from './registry.ts';
export * from './runs.ts';
