export * from './jobs.ts';
export * from './messages.ts';
export * from './registry.ts';
export * from './results.ts';
export * from './serving.ts';
export * from './storable.ts';
