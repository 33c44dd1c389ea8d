/**
 * End to end: the real `ferry` binary against a real coordinator's public API (TLS, bearer
 * tokens checked by the fake API server's TokenReview, namespaces authorized with its
 * SubjectAccessReview policy table), a real agent, and a repository on the run's RGW.
 * backup create --wait follows the Watch stream to Completed; list/describe/status print
 * tables and JSON; cancel (agent stopped, so the backup is still waiting) ends Canceled with
 * exit 4; delete; restore create --wait into the recreated pod, bit-identical; schedule
 * create/list/pause/resume; repo list, check --wait and prune --wait; export to a 0600
 * file; export --key none and import into another namespace; a token for another namespace
 * gets PERMISSION_DENIED (13); a wrong --server gets the UNAVAILABLE line (14);
 * --kubeconfig takes the context's token and namespace; a client certificate signed by the
 * cluster CA authenticates over mutual TLS.
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ferry, type FerryRun } from '../../packages/cli/src/cli.fixture.js';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster, fillVolume, volumeManifest } from './cluster.fixture.js';
import { freePort, stopProc, waitFor } from './processes.fixture.js';

const NS = 'shop';
const TOKEN = 'alice-token-for-the-cli-e2e';

let root: string;
let cluster: E2eCluster;
let server = '';
let ca = '';
const before = new Map<string, Record<string, string>>();

/** `ferry` with the API address, the cluster CA and alice's token; `args` come first. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<FerryRun> {
  return ferry([...args, '--server', server, '--ca', ca], { env: { FERRY_TOKEN: TOKEN, ...env } });
}

function expectOk(run: FerryRun): FerryRun {
  expect(run.exitCode, `stdout: ${run.out}\nstderr: ${run.stderr}`).toBe(0);
  return run;
}

beforeAll(async () => {
  await assertBuilt();
  const auth = {
    tokens: { [TOKEN]: { username: 'alice', groups: ['shop-admins'] } },
    // alice may do anything with Ferry's resources in `shop` and `imported` only: RoleBindings there.
    policy: [{ users: ['alice'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'], namespaces: [NS, 'imported'] }],
  };
  cluster = await startOwnedCluster({ name: 'cli', nodes: ['node-a'], namespaces: [NS, 'other', 'imported'], prefix: 'cli', auth });
  root = cluster.o.root;
  server = `127.0.0.1:${cluster.ports.api}`;
  ca = join(root, 'certs', 'ca.crt');
  await cluster.createStatefulSet(NS, 'db');
  const [pod] = await cluster.runningPods(NS, 1);
  for (const v of ['cache', 'data']) {
    await fillVolume(cluster.volumeDir(pod!, v), `cli-${v}`, 200);
    before.set(v, await volumeManifest(cluster.volumeDir(pod!, v)));
  }
  // The API serves on the leader only: wait until the coordinator has taken the lease.
  await waitFor(async () => (await cli(['backup', 'list', '-n', NS])).exitCode === 0, 60_000, 'the coordinator API to answer');
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('ferry cluster commands against a real coordinator', () => {
  it('backup create --wait prints progress lines, ends Completed and exits 0', async () => {
    const run = expectOk(await cli(['backup', 'create', 'b1', '-n', NS, '--wait', '--tag', 'cli', '--label', 'team=shop']));
    expect(run.stderr).toContain('backup shop/b1 created; following it');
    // Not a TTY here: plain lines, one per phase or volume change.
    expect(run.stderr).toMatch(/^backup shop\/b1: (New|InProgress)\b/m);
    expect(run.stderr).toMatch(/^backup shop\/b1: Completed {2}2\/2 volumes/m);
    expect(run.out).toMatch(/^backup shop\/b1 Completed: 2\/2 volumes {2}\S+ \S+iB\/\S+ \S+iB \(100%\) in \d+s\n$/);
  }, 120_000);

  it('backup list shows it in a table, -o json parses, -o name names it', async () => {
    const table = expectOk(await cli(['backup', 'list', '-n', NS])).out.split('\n');
    expect(table[0]).toMatch(/^NAME\s+PHASE\s+VOLUMES\s+BYTES\s+LOCATION\s+SCHEDULE\s+AGE$/);
    expect(table[1]).toMatch(/^b1\s+Completed\s+2\/2\s+[\d.]+ (KiB|MiB)\s+rgw\s+\d+s$/);
    const json = JSON.parse(expectOk(await cli(['backup', 'list', '-n', NS, '-o', 'json'])).out) as { items: { name: string; phase: string; tags: string[]; labels: Record<string, string>; volumes: unknown[] }[] };
    expect(json.items).toHaveLength(1);
    expect(json.items[0]).toMatchObject({ name: 'b1', phase: 'Completed', tags: ['cli'], labels: { team: 'shop' } });
    expect(json.items[0]?.volumes).toHaveLength(2);
    expect(expectOk(await cli(['backup', 'list', '-n', NS, '-o', 'name'])).out).toBe('backup/b1\n');
    // -A lists what alice may list cluster-wide: she may not, so the namespace-wide denial is named.
    const all = await cli(['backup', 'list', '-A']);
    expect(all.exitCode).toBe(13);
  });

  it('backup describe shows both volumes with snapshot ids; status prints one line', async () => {
    const text = expectOk(await cli(['backup', 'describe', 'b1', '-n', NS])).out;
    expect(text).toMatch(/^Name:\s+b1$/m);
    expect(text).toMatch(/^Phase:\s+Completed$/m);
    expect(text).toMatch(/^Tags:\s+cli$/m);
    expect(text).toMatch(/^Created by:\s+alice$/m);
    expect(text).toMatch(/^Duration:\s+\d+s$/m);
    expect(text).toMatch(/^ {2}NAMESPACE\s+POD\s+VOLUME\s+KIND\s+CLAIM\s+NODE\s+PHASE\s+SNAPSHOT\s+BYTES\s+ADDED\s+DEDUPLICATED\s+ERROR$/m);
    for (const v of ['cache', 'data']) expect(text).toMatch(new RegExp(`^ {2}shop\\s+db-0\\s+${v}\\s+\\w+\\s+.*node-a\\s+Completed\\s+[0-9a-f]{8}\\s`, 'm'));
    const yaml = expectOk(await cli(['backup', 'describe', 'b1', '-n', NS, '-o', 'yaml'])).out;
    expect(yaml).toMatch(/^name: b1$/m);
    expect(expectOk(await cli(['backup', 'status', 'b1', '-n', NS])).out).toMatch(/^Completed {2}2\/2 volumes/);
  });

  it('cancel stops a backup that waits for its agent; status --watch then exits 4', async () => {
    await stopProc(cluster.agents.get('node-a'));
    try {
      expectOk(await cli(['backup', 'create', 'b2', '-n', NS]));
      const cancel = expectOk(await cli(['backup', 'cancel', 'b2', '-n', NS, '--reason', 'e2e']));
      expect(cancel.out).toMatch(/^backup shop\/b2 (canceled|cancel requested)/);
      const watch = await cli(['backup', 'status', 'b2', '-n', NS, '--watch']);
      expect(watch.exitCode, watch.stderr).toBe(4);
      expect(watch.out).toMatch(/^backup shop\/b2 Canceled/);
    } finally {
      cluster.startAgent('node-a');
    }
  }, 90_000);

  it('delete removes the Backup; describing it then exits 11', async () => {
    expect(expectOk(await cli(['backup', 'delete', 'b2', '-n', NS])).out).toBe('backup shop/b2 deleted\n');
    const gone = await waitFor(async () => {
      const r = await cli(['backup', 'describe', 'b2', '-n', NS]);
      return r.exitCode === 11 && r;
    }, 30_000, 'backup b2 to be gone');
    expect(gone.stderr).toMatch(/^ferry: not found: .*b2/);
  }, 60_000);

  it('restore create --wait follows the restore into the recreated pod; the data comes back bit-identical', async () => {
    const [pod] = await cluster.runningPods(NS, 1);
    await cluster.core.deleteNamespacedPod({ namespace: NS, name: pod!.metadata!.name! });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'the pod to be gone');
    await rm(join(root, 'pv-storage'), { recursive: true, force: true });
    const restoring = cli(['restore', 'create', 'r1', '--from-backup', 'b1', '-n', NS, '--wait']);
    // The CLI creates the Restore in its own time: until then the object is not there (404).
    await waitFor(async () => (await cluster.get('restores', 'r1', NS).catch(() => undefined))?.status?.phase === 'InProgress', 30_000, 'restore r1 to start');
    await cluster.createStatefulSet(NS, 'db');
    const [fresh] = await cluster.runningPods(NS, 1);
    const run = expectOk(await restoring);
    expect(run.stderr).toContain('restore shop/r1 created from backup b1; following it');
    expect(run.out).toMatch(/^restore shop\/r1 Completed: 2\/2 volumes/);
    for (const v of ['cache', 'data']) expect(await volumeManifest(cluster.volumeDir(fresh!, v)), v).toEqual(before.get(v));
  }, 120_000);

  it('restore list and describe show the restore; a missing --from-backup is named', async () => {
    const list = expectOk(await cli(['restore', 'list', '-n', NS])).out.split('\n');
    expect(list[0]).toMatch(/^NAME\s+BACKUP\s+PHASE\s+VOLUMES\s+BYTES\s+AGE$/);
    expect(list[1]).toMatch(/^r1\s+b1\s+\w+/);
    expect(expectOk(await cli(['restore', 'describe', 'r1', '-n', NS])).out).toMatch(/^Backup:\s+b1$/m);
    const missing = await cli(['restore', 'create', '-n', NS]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('ferry: which backup? give --from-backup NAME (see "ferry backup list"), --latest or --snapshot\n');
  });

  it('restore create --latest resolves to the newest Completed backup and records it; restore cancel ends it Canceled; no match names namespace and schedule', async () => {
    const created = expectOk(await cli(['restore', 'create', 'r2', '--latest', '--volume', 'data', '-n', NS]));
    expect(created.out).toBe('restore shop/r2 created from the latest backup, b1\n');
    await waitFor(async () => (await cluster.get('restores', 'r2', NS))?.status?.phase === 'InProgress', 30_000, 'restore r2 to start');
    const r2 = await cluster.get('restores', 'r2', NS);
    expect(r2?.spec).toMatchObject({ latest: {}, selection: { volumes: ['data'] } });
    expect(r2?.status).toMatchObject({ backupName: 'b1', counts: { total: 1 } });
    expect(expectOk(await cli(['restore', 'describe', 'r2', '-n', NS])).out).toMatch(/^Backup:\s+b1$/m);
    expect(expectOk(await cli(['restore', 'cancel', 'r2', '-n', NS, '--reason', 'e2e'])).out).toMatch(/^restore shop\/r2 (canceled|cancel requested)/);
    await waitFor(async () => (await cluster.get('restores', 'r2', NS))?.status?.phase === 'Canceled', 30_000, 'restore r2 to be canceled');

    const none = await cli(['restore', 'create', '--latest', '--schedule', 'nightly', '--as-of', '2000-01-01T00:00:00Z', '-n', NS]);
    expect(none.exitCode, none.stderr).toBe(11);
    expect(none.stderr).toContain('no Completed Backup in namespace shop created by BackupSchedule nightly started at or before 2000-01-01T00:00:00Z');
    const stray = await cli(['restore', 'create', '--from-backup', 'b1', '--as-of', '1h', '-n', NS]);
    expect(stray.exitCode).toBe(1);
    expect(stray.stderr).toBe('ferry: --schedule, --as-of and --previous choose among backups with --latest; add --latest\n');
  }, 90_000);

  it('backup list --since and --until filter by creation time', async () => {
    expect(expectOk(await cli(['backup', 'list', '-n', NS, '-o', 'name', '--since', '1h'])).out).toBe('backup/b1\n');
    expect(expectOk(await cli(['backup', 'list', '-n', NS, '-o', 'name', '--until', '2000-01-01T00:00:00Z'])).out).toBe('');
    expect(expectOk(await cli(['backup', 'list', '-n', NS, '-o', 'name', '--since', '2000-01-01T00:00:00Z', '--until', '1h'])).out).toBe('');
    const bad = await cli(['backup', 'list', '-n', NS, '--since', 'last tuesday']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--since "last tuesday": expected an RFC 3339 time/);
  });

  it('schedule create, list, pause and resume', async () => {
    const created = expectOk(await cli(['schedule', 'create', 'nightly', '-n', NS, '--cron', '0 2 * * *', '--time-zone', 'Europe/Berlin', '--keep-daily', '7', '--tag', 'nightly']));
    expect(created.out).toMatch(/^schedule shop\/nightly created \(0 2 \* \* \* Europe\/Berlin, \w+\)\n$/);
    const list = expectOk(await cli(['schedule', 'list', '-n', NS])).out.split('\n');
    expect(list[0]).toMatch(/^NAME\s+SCHEDULE\s+PHASE\s+PAUSED\s+LAST BACKUP\s+LAST RUN\s+NEXT RUN$/);
    expect(list[1]).toMatch(/^nightly\s+0 2 \* \* \* \(Europe\/Berlin\)\s+\S+\s+false\s/);
    expect(expectOk(await cli(['schedule', 'pause', 'nightly', '-n', NS])).out).toMatch(/^schedule shop\/nightly paused/);
    const json = JSON.parse(expectOk(await cli(['schedule', 'list', '-n', NS, '-o', 'json'])).out) as { items: { name: string; paused: boolean; retention: { keepDaily?: number } }[] };
    expect(json.items[0]).toMatchObject({ name: 'nightly', paused: true, retention: { keepDaily: 7 } });
    expect(expectOk(await cli(['schedule', 'describe', 'nightly', '-n', NS])).out).toMatch(/^Retention:\s+daily 7$/m);
    expect(expectOk(await cli(['schedule', 'resume', 'nightly', '-n', NS])).out).toMatch(/^schedule shop\/nightly resumed/);
  });

  it('repo list shows the repository of the namespace', async () => {
    const lines = expectOk(await cli(['repo', 'list', '-n', NS])).out.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+LOCATION\s+MOVER\s+PHASE\s+SIZE\s+SNAPSHOTS\s+LAST CHECK\s+LAST PRUNE$/);
    expect(lines[1]).toMatch(/^rgw-shop\s+rgw\s+native\s/);
  });

  it('repo check --wait and repo prune --wait report the agent run and exit 0', async () => {
    const check = expectOk(await cli(['repo', 'check', 'rgw-shop', '-n', NS, '--read-data-percent', '100', '--wait']));
    expect(check.stderr).toContain('check of repository rgw-shop requested; waiting for its result');
    expect(check.out).toMatch(/^check of repository rgw-shop Succeeded: 0 error\(s\): .*100%.*\n$/);
    const prune = expectOk(await cli(['repo', 'prune', 'rgw-shop', '-n', NS, '--wait']));
    expect(prune.out).toMatch(/^prune of repository rgw-shop Succeeded: \d+(\.\d+)? (B|KiB|MiB) freed/);
    const lines = expectOk(await cli(['repo', 'list', '-n', NS])).out.split('\n');
    expect(lines[1]).toMatch(/\sSucceeded \d+s ago\s+Succeeded \d+s ago$/);
  }, 120_000);

  it('backup export writes the token to a 0600 file and prints no secret', async () => {
    const file = join(root, 'b1.token');
    const password = 'a long export password';
    const run = expectOk(await cli(['backup', 'export', 'b1', '-n', NS, '--output', file], { FERRY_EXPORT_PASSWORD: password }));
    expect(run.out).toBe('');
    expect(run.stderr).toBe(`wrote the token for backup shop/b1 to ${file} (mode 0600)\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    expect((JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { key: { mode: string } }).key.mode).toBe('password');
    const plain = await cli(['backup', 'export', 'b1', '-n', NS, '--key', 'plain']);
    expect(plain.exitCode).toBe(1);
    expect(plain.stderr).toMatch(/add --force/);
    for (const text of [run.out, run.stderr, plain.stderr]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(TOKEN);
    }
  });

  it('backup export --key none prints a token that backup import registers in another namespace', async () => {
    const exported = expectOk(await cli(['backup', 'export', 'b1', '-n', NS, '--key', 'none']));
    const token = exported.out.trim();
    expect(exported.out).toMatch(/^[A-Za-z0-9_-]+\n$/);
    const file = join(root, 'b1-none.token');
    await writeFile(file, exported.out);
    const imported = expectOk(await cli(['backup', 'import', file, '-n', 'imported']));
    expect(imported.out).toMatch(/^imported backup imported\/b1 \(location rgw, repository imported-rgw-imported-[0-9a-f]{12}\); restore it with: ferry restore create --from-backup b1 -n imported\n$/);
    expect(imported.out + imported.stderr).not.toContain(token);
    expect(expectOk(await cli(['backup', 'list', '-n', 'imported', '-o', 'name'])).out).toBe('backup/b1\n');
  });

  it('a token for another namespace gets a PERMISSION_DENIED line and exit 13', async () => {
    const run = await cli(['backup', 'create', 'sneaky', '-n', 'other']);
    expect(run.exitCode).toBe(13);
    expect(run.stderr).toMatch(/^ferry: permission denied: user alice may not create backups\.ferry\.dev in namespace other; .*\n$/);
    expect(run.stderr).not.toContain(TOKEN);
    const bad = await cli(['backup', 'list', '-n', NS], { FERRY_TOKEN: 'not-a-token' });
    expect(bad.exitCode).toBe(13);
    expect(bad.stderr).toMatch(/^ferry: the coordinator at 127\.0\.0\.1:\d+ did not accept the credentials: .*TokenReview.*renew it/);
  });

  it('a wrong --server gets the UNAVAILABLE line and exit 14', async () => {
    const port = await freePort();
    const run = await ferry(['backup', 'list', '-n', NS, '--server', `127.0.0.1:${port}`, '--ca', ca], { env: { FERRY_TOKEN: TOKEN } });
    expect(run.exitCode).toBe(14);
    expect(run.stderr).toBe(`ferry: cannot reach coordinator at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port} (is --server right?)\n`);
  });

  it('--kubeconfig takes the current context token and namespace', async () => {
    const file = join(root, 'alice.kubeconfig');
    await writeFile(
      file,
      ['apiVersion: v1', 'kind: Config', 'current-context: alice@shop', 'contexts:', '- name: alice@shop', '  context: {cluster: c, user: alice, namespace: shop}', 'clusters:', '- name: c', '  cluster: {server: "https://127.0.0.1:1"}', 'users:', '- name: alice', `  user: {token: ${TOKEN}}`, ''].join('\n'),
    );
    const run = expectOk(await ferry(['backup', 'list', '--kubeconfig', file, '--server', server, '--ca', ca, '-o', 'name']));
    expect(run.out).toBe('backup/b1\n');
  });

  it('a client certificate signed by the cluster CA authenticates over mutual TLS', async () => {
    const dir = join(root, 'certs');
    const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'alice.key', '-out', 'alice.csr', '-subj', '/CN=alice/O=shop-admins']);
    await writeFile(join(dir, 'alice.ext'), 'extendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', 'alice.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'alice.crt', '-days', '1', '-extfile', 'alice.ext']);
    const run = await ferry(['repo', 'list', '-n', NS, '-o', 'name', '--server', server, '--ca', ca, '--cert', join(dir, 'alice.crt'), '--key', join(dir, 'alice.key')]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.out).toBe('repository/rgw-shop\n');
    const none = await ferry(['repo', 'list', '-n', NS, '--server', server, '--ca', ca]);
    expect(none.exitCode).toBe(13);
    expect(none.stderr).toMatch(/give --token or FERRY_TOKEN, --kubeconfig, or a client certificate/);
  });
});
