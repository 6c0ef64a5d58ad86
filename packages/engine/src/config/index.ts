// Pure schemas and helpers: safe for the web app and job specs, imports nothing native.
export * from './hardware.ts';
export * from './memory.ts';
