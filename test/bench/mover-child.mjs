// One ResticMover call in its own process, so the benchmark can time it and measure
// its memory like any other tool. Usage: mover-child.mjs init|backup|restore REPO ARG
// (backup: the directory; restore: "SNAPSHOT_ID TARGET"). Prints the result as JSON.
import { ResticMover } from '@ferry/restic';

const [op, repository, arg, target] = process.argv.slice(2);
// The mover gives restic only what it is handed, never this process's environment: the
// S3 medium's credentials must be passed on explicitly.
const s3Env = Object.fromEntries(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
const mover = new ResticMover({
  repository,
  password: process.env.RESTIC_PASSWORD,
  env: s3Env,
  ...(process.env.RESTIC_CACHE_DIR ? { cacheDir: process.env.RESTIC_CACHE_DIR } : {}),
});
let result;
if (op === 'init') result = await mover.init({});
else if (op === 'backup') {
  result = await mover.backup({ source: { kind: 'directory', path: arg }, identity: { kind: 'host', host: 'bench', path: arg } });
} else if (op === 'restore') result = await mover.restore({ snapshotId: arg, target });
else throw new Error(`unknown op ${op}`);
process.stdout.write(`${JSON.stringify(result)}\n`);
