// Pure schemas and helpers: safe for the web app and job specs, imports nothing native.
export * from './batch-plan.ts';
export * from './estimate.ts';
export * from './hardware.ts';
export * from './memory.ts';
export * from './model.ts';
export * from './plan.ts';
export * from './presets.ts';
export * from './resolutions.ts';
export * from './schedule.ts';
export * from './training.ts';
