export { parseFlags, UsageError } from '@anneal/core/flags';
