import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { silentLogger } from '@ferry/log';
import { ManualClock } from '../clock.js';
import { isConflict } from '../errors.js';
import type { ClusterEvent, FerryObject } from './cluster-state.js';
import { parseLabelSelector } from './label-selector.js';
import { LocalClusterState } from './local-state.js';

let root: string;
let cluster: LocalClusterState;
const clock = new ManualClock();

function open(): LocalClusterState {
  return new LocalClusterState({ stateDir: join(root, 'state'), manifestsDir: join(root, 'manifests'), podsDir: join(root, 'pods'), nodeName: 'laptop', clock, log: silentLogger, pollIntervalMs: 60_000 });
}

const backup = (name: string, extra: Partial<FerryObject['metadata']> = {}): FerryObject => ({ metadata: { name, namespace: 'shop', ...extra }, spec: {} });

async function until<T>(probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not reached in 5 s');
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-local-state-'));
  await mkdir(join(root, 'manifests'));
  cluster = open();
  await cluster.open();
});
afterEach(async () => {
  await cluster.close();
  await rm(root, { recursive: true, force: true });
});

describe('LocalClusterState: API server semantics the controllers rely on', () => {
  it('creates idempotently by name and refuses a status write against a stale resourceVersion with a conflict', async () => {
    const a = await cluster.createOrGet('Backup', backup('nightly'));
    const again = await cluster.createOrGet('Backup', { ...backup('nightly'), spec: { tags: ['other'] } });
    expect(again.metadata.uid).toBe(a.metadata.uid);
    const updated = await cluster.replaceStatus('Backup', a, { phase: 'InProgress' });
    const stale = cluster.replaceStatus('Backup', a, { phase: 'Failed' });
    await expect(stale).rejects.toSatisfy(isConflict);
    expect((await cluster.get<FerryObject<unknown, { phase: string }>>('Backup', 'shop', 'nightly'))?.status?.phase).toBe('InProgress');
    expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
  });

  it('rejects a resource that does not match its CRD schema, naming the field', async () => {
    await expect(cluster.createOrGet('Backup', { metadata: { name: 'bad', namespace: 'shop' }, spec: { volumeTimeout: 'soon' } })).rejects.toThrow(/Backup shop\/bad is invalid: spec\.volumeTimeout/);
  });

  it('holds a deletion while finalizers remain and cascades to owned objects once it goes', async () => {
    const owner = await cluster.createOrGet('Backup', backup('b1', { finalizers: ['ferry.dev/backup-cleanup'] }));
    await cluster.createOrGet('Backup', backup('b1-child', { ownerReferences: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', name: 'b1', uid: owner.metadata.uid ?? '' }] }));
    await cluster.delete('Backup', 'shop', 'b1');
    const marked = await cluster.get('Backup', 'shop', 'b1');
    expect(marked?.metadata.deletionTimestamp).toBeDefined();
    expect(await cluster.get('Backup', 'shop', 'b1-child')).toBeDefined();
    await cluster.mergePatch('Backup', 'shop', 'b1', { metadata: { finalizers: null } });
    expect(await cluster.get('Backup', 'shop', 'b1')).toBeUndefined();
    expect(await cluster.get('Backup', 'shop', 'b1-child')).toBeUndefined();
  });

  it('keeps objects across a restart (same uid, no resourceVersion reuse)', async () => {
    const a = await cluster.createOrGet('Backup', backup('kept'));
    await cluster.close();
    cluster = open();
    await cluster.open();
    const back = await cluster.get('Backup', 'shop', 'kept');
    expect(back?.metadata.uid).toBe(a.metadata.uid);
    const next = await cluster.createOrGet('Backup', backup('later'));
    expect(Number(next.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
  });

  it('lists by label selector and streams watch events (pods only when adopted for a restore)', async () => {
    const events: ClusterEvent[] = [];
    const watch = cluster.watch((e) => events.push(e));
    await watch.start();
    await cluster.createOrGet('Backup', backup('x', { labels: { 'ferry.dev/schedule': 'nightly' } }));
    await cluster.createOrGet('Backup', backup('y'));
    expect((await cluster.list('Backup', 'shop', 'ferry.dev/schedule=nightly')).map((b) => b.metadata.name)).toEqual(['x']);
    expect((await cluster.list('Backup', 'shop', '!ferry.dev/schedule')).map((b) => b.metadata.name)).toEqual(['y']);
    expect(events.map((e) => `${e.kind}:${e.type}:${e.object.metadata?.name}`)).toEqual(['Backup:add:x', 'Backup:add:y']);
    expect(watch.list<FerryObject>('Backup')).toHaveLength(2);
    await watch.stop();
  });
});

describe('LocalClusterState: the manifests folder and the local kubelet', () => {
  const pod = (name: string, extra: string = '') => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  containers: [{name: app, image: busybox}]\n  volumes: [{name: data, emptyDir: {}}]\n${extra}`;

  it('creates a pod from a new file (node, volume directory, Running) and deletes it with its directory when the file goes', async () => {
    await writeFile(join(root, 'manifests', 'web.yaml'), pod('web'));
    await cluster.syncManifests();
    const created = (await cluster.getPod('shop', 'web'))!;
    expect(created.spec?.nodeName).toBe('laptop');
    expect(created.status?.phase).toBe('Running');
    const dir = join(root, 'pods', created.metadata?.uid ?? '', 'volumes', 'kubernetes.io~empty-dir', 'data');
    expect(existsSync(dir)).toBe(true);
    await unlink(join(root, 'manifests', 'web.yaml'));
    await cluster.syncManifests();
    expect(await cluster.getPod('shop', 'web')).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
  });

  it('creates a Ferry resource once per content: deleting it through the API does not bring it back from the same file', async () => {
    const text = 'apiVersion: ferry.dev/v1alpha1\nkind: Backup\nmetadata: {name: once, namespace: shop}\nspec: {}\n';
    await writeFile(join(root, 'manifests', 'b.yaml'), text);
    await cluster.syncManifests();
    expect(await cluster.get('Backup', 'shop', 'once')).toBeDefined();
    await cluster.delete('Backup', 'shop', 'once');
    await cluster.syncManifests();
    expect(await cluster.get('Backup', 'shop', 'once')).toBeUndefined();
    await writeFile(join(root, 'manifests', 'b.yaml'), text.replace('spec: {}', 'spec: {tags: [again]}'));
    await cluster.syncManifests();
    expect(await cluster.get('Backup', 'shop', 'once')).toBeDefined();
  });

  it('skips a malformed file and applies the rest; Secrets get stringData folded into data', async () => {
    await writeFile(join(root, 'manifests', 'a-broken.yaml'), 'kind: Pod\nmetadata: {name: [oops\n');
    await writeFile(join(root, 'manifests', 'b-secret.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: s3, namespace: ferry-system}\nstringData: {accessKeyId: AKIA}\n');
    await cluster.syncManifests();
    const secret = await cluster.getSecret('ferry-system', 's3');
    expect(Buffer.from(secret?.data?.['accessKeyId'] ?? '', 'base64').toString()).toBe('AKIA');
  });

  it('admits new pods in process and runs their init container as a process: Running on exit 0, Failed with the reason otherwise', async () => {
    let calls = 0;
    cluster.registerPodAdmission(async (p: V1Pod) => {
      calls++;
      const script = p.metadata?.name === 'good' ? 'sleep 0.2' : 'echo "marker says no" > "$FERRY_TERMINATION_LOG"; exit 4';
      return { ...p, spec: { containers: [], ...p.spec, initContainers: [{ name: 'wait', image: 'x', command: ['sh', '-c', script] }] } };
    });
    await writeFile(join(root, 'manifests', 'good.yaml'), pod('good'));
    await writeFile(join(root, 'manifests', 'bad.yaml'), pod('bad'));
    await cluster.syncManifests();
    expect(calls).toBe(2);
    expect((await cluster.getPod('shop', 'good'))?.status?.initContainerStatuses?.[0]?.state?.running).toBeDefined();
    expect(await until(async () => ((await cluster.getPod('shop', 'good'))?.status?.phase === 'Running' ? true : undefined))).toBe(true);
    const failed = await until(async () => {
      const p = await cluster.getPod('shop', 'bad');
      return p?.status?.phase === 'Failed' ? p : undefined;
    });
    expect(failed.status?.message).toMatch(/init container wait exited 4: marker says no/);
  });

  it("starts a pending pod's init container again after a restart (restore-wait only waits for markers)", async () => {
    const admit = async (p: V1Pod) => ({ ...p, spec: { containers: [], ...p.spec, initContainers: [{ name: 'wait', image: 'x', command: ['sh', '-c', 'while [ ! -f go ]; do sleep 0.05; done'] }] } });
    cluster.registerPodAdmission(admit);
    await writeFile(join(root, 'manifests', 'held.yaml'), pod('held'));
    await cluster.syncManifests();
    const held = (await cluster.getPod('shop', 'held'))!;
    expect(held.status?.phase).toBe('Pending');
    await cluster.close();
    cluster = open();
    await cluster.open();
    await writeFile(join(root, 'pods', held.metadata?.uid ?? '', 'go'), '');
    expect(await until(async () => ((await cluster.getPod('shop', 'held'))?.status?.phase === 'Running' ? true : undefined))).toBe(true);
  });

  it('execs in the pod directory with the exit code; an unknown container is an error, not a success', async () => {
    await writeFile(join(root, 'manifests', 'db.yaml'), pod('db'));
    await cluster.syncManifests();
    let out = '';
    const stdout = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
    const ok = await cluster.exec({ namespace: 'shop', pod: 'db', container: 'app', command: ['sh', '-c', 'echo "$POD_NAME in $(basename $(dirname $PWD))"; ls -d volumes'], stdout });
    expect(ok.exitCode).toBe(0);
    expect(out).toBe('db in pods\nvolumes\n');
    expect((await cluster.exec({ namespace: 'shop', pod: 'db', container: 'app', command: ['sh', '-c', 'exit 7'], stdout })).exitCode).toBe(7);
    const missing = await cluster.exec({ namespace: 'shop', pod: 'db', container: 'sidecar', command: ['true'], stdout });
    expect(missing).toEqual({ exitCode: -1, message: 'pod shop/db has no container sidecar' });
  });

  it('refuses bearer tokens (no TokenReview here) and authorizes certificate users', async () => {
    expect(await cluster.authenticate()).toBeUndefined();
    expect((await cluster.authorize({ user: { username: 'ops', groups: [] }, verb: 'delete', resource: 'backups', namespace: 'shop' })).allowed).toBe(true);
  });
});

describe('label selectors', () => {
  it.each([
    ['a=1', { a: '1' }, true],
    ['a==1', { a: '2' }, false],
    ['a!=1', {}, true],
    ['a,!b', { a: 'x' }, true],
    ['a,!b', { a: 'x', b: 'y' }, false],
    ['env in (prod, staging),tier notin (db)', { env: 'staging', tier: 'web' }, true],
    ['env in (prod, staging),tier notin (db)', { env: 'staging', tier: 'db' }, false],
  ])('%s on %j → %s', (selector, labels, expected) => {
    expect(parseLabelSelector(selector)(labels)).toBe(expected);
  });

  it('names a term that does not parse', () => {
    expect(() => parseLabelSelector('a=1,=b')).toThrow(/label selector term "=b" does not parse/);
  });
});
