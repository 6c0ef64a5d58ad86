// Fixtures for tests that read what the protocol carries (`@anneal/protocol/testing`).
export * from './search-summary.ts';
