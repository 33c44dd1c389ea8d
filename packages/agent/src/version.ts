import { readFileSync } from 'node:fs';

/** The agent's version, from packages/agent/package.json (next to src/ and dist/). */
export const AGENT_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();
