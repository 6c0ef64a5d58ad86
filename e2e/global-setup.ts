import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Builds the dashboard once per test run (a no-op when the build is up to date). */
export default function globalSetup(): void {
  const bin = fileURLToPath(new URL('../apps/web/bin/anneal-server.js', import.meta.url));
  execFileSync(process.execPath, [bin, 'build'], { stdio: 'inherit' });
}
