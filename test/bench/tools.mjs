// The programs under test, each behind the same three calls. Every call is a child
// process measured by measure.mjs.
import { fileURLToPath } from 'node:url';
import { measure } from './measure.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FERRY = `${root}packages/cli/dist/main.js`;
const MOVER_CHILD = fileURLToPath(new URL('./mover-child.mjs', import.meta.url));
const PASSWORD = 'ferry-bench-password';

function lastJson(stdout, predicate) {
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    const value = JSON.parse(lines[i]);
    if (predicate(value)) return value;
  }
  throw new Error(`no matching JSON line in output: ${stdout.slice(-300)}`);
}

/** Ferry with the CLI at `cli` (a second build, e.g. main's, runs as tool "ferry-baseline"). */
const ferryAt = (name, cli) => ({
  name,
  env: () => ({ FERRY_PASSWORD: PASSWORD, FERRY_BENCH: '1' }),
  async init(repo) {
    await measure(process.execPath, [cli, '--repo', repo, 'init'], { env: this.env() });
  },
  async backup(repo, path) {
    const m = await measure(process.execPath, [cli, '--repo', repo, '--json', 'backup', path], { env: this.env() });
    const summary = lastJson(m.stdout, (v) => v.type === 'summary');
    return { ...m, snapshotId: summary.snapshotId, reportedBytesAdded: summary.bytesAdded };
  },
  async restore(repo, _snapshotId, target) {
    return measure(process.execPath, [cli, '--repo', repo, '--json', 'restore', 'latest', '--target', target], { env: this.env() });
  },
});

function resticEnv(cacheDir) {
  return { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: cacheDir };
}

const restic = {
  name: 'restic',
  async init(repo, cacheDir) {
    await measure('restic', ['-r', repo, 'init'], { env: resticEnv(cacheDir) });
  },
  async backup(repo, path, cacheDir) {
    const m = await measure('restic', ['-r', repo, 'backup', '--json', '--host', 'bench', path], { env: resticEnv(cacheDir) });
    const summary = lastJson(m.stdout, (v) => v.message_type === 'summary');
    return { ...m, snapshotId: summary.snapshot_id, reportedBytesAdded: summary.data_added };
  },
  async restore(repo, _snapshotId, target, cacheDir) {
    return measure('restic', ['-r', repo, 'restore', 'latest', '--target', target], { env: resticEnv(cacheDir) });
  },
};

const resticMover = {
  name: 'restic-mover',
  async init(repo, cacheDir) {
    await measure(process.execPath, [MOVER_CHILD, 'init', repo], { env: resticEnv(cacheDir) });
  },
  async backup(repo, path, cacheDir) {
    const m = await measure(process.execPath, [MOVER_CHILD, 'backup', repo, path], { env: resticEnv(cacheDir) });
    const result = lastJson(m.stdout, () => true);
    return { ...m, snapshotId: result.snapshotId, reportedBytesAdded: result.stats?.bytesAdded };
  },
  async restore(repo, snapshotId, target, cacheDir) {
    return measure(process.execPath, [MOVER_CHILD, 'restore', repo, snapshotId, target], { env: resticEnv(cacheDir) });
  },
};

export const TOOLS = {
  ferry: ferryAt('ferry', FERRY),
  restic,
  'restic-mover': resticMover,
  ...(process.env.BENCH_BASELINE_CLI ? { 'ferry-baseline': ferryAt('ferry-baseline', process.env.BENCH_BASELINE_CLI) } : {}),
};
export const FERRY_CLI = FERRY;
