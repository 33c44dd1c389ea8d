/**
 * End to end through the public gRPC API: a real coordinator process serving the API over
 * TLS (the hub's certificate), a bearer token checked by TokenReview and authorized by
 * SubjectAccessReview answered by the real kube-apiserver from RoleBindings, real agents, the RGW repository.
 * CreateBackup → WatchBackup until Completed → CreateRestore → the pods come back and
 * WatchRestore ends Completed with the data bit-identical.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, Metadata, status, type ClientReadableStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { API_PROTO_FILE, PROTO_LOADER_OPTIONS, type ApiProtoGrpcType, type Backup__Output, type BackupsClient, type Restore__Output, type RestoresClient } from '../../packages/api/src/index.js';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster, fillVolume, volumeManifest } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'shop';
let root: string;
let cluster: E2eCluster;
let backups: BackupsClient;
let restores: RestoresClient;

const auth = (): Metadata => {
  const md = new Metadata();
  md.set('authorization', 'Bearer shop-operator-token');
  return md;
};

/** Every message of a watch and its final status code. */
async function follow<M>(stream: ClientReadableStream<M>): Promise<{ messages: M[]; code: number }> {
  const messages: M[] = [];
  stream.on('data', (m: M) => messages.push(m));
  const code = await new Promise<number>((resolve) => {
    stream.on('status', (s: { code: number }) => resolve(s.code));
    stream.on('error', (e: { code: number }) => resolve(e.code));
  });
  return { messages, code };
}

function unary<Res>(call: (md: Metadata, cb: (err: Error | null, res?: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => call(auth(), (err, res) => (err ? reject(err) : resolve(res as Res))));
}

beforeAll(async () => {
  const auth = {
    tokens: { 'shop-operator-token': { username: 'shop-operator', groups: ['shop-ops'] } },
    policy: [{ groups: ['shop-ops'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['backups', 'restores'], namespaces: [NS] }],
  };
  cluster = await startOwnedCluster({ name: 'api', nodes: ['node-a'], namespaces: [NS], prefix: 'api', auth });
  root = cluster.o.root;
  const protos = loadPackageDefinition(loadSync(API_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as ApiProtoGrpcType;
  const creds = credentials.createSsl(await readFile(join(root, 'certs', 'ca.crt')));
  backups = new protos.ferry.v1.Backups(`localhost:${cluster.ports.api}`, creds);
  restores = new protos.ferry.v1.Restores(`localhost:${cluster.ports.api}`, creds);
}, 120_000);

afterAll(async () => {
  backups?.close();
  restores?.close();
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('the public API end to end', () => {
  it('creates a backup through the API, watches it to Completed, and restores it through the API bit-identical', async () => {
    await cluster.createStatefulSet(NS, 'db');
    const [pod] = await cluster.runningPods(NS, 1);
    const before = new Map<string, Record<string, string>>();
    for (const v of ['cache', 'data']) {
      await fillVolume(cluster.volumeDir(pod!, v), `api-${v}`, 200);
      before.set(v, await volumeManifest(cluster.volumeDir(pod!, v)));
    }

    const created = await unary<Backup__Output>((md, cb) => backups.CreateBackup({ namespace: NS, name: 'via-api', volumes: [{ pod: pod!.metadata!.name!, volumes: ['cache', 'data'] }], tags: ['api'] }, md, cb));
    expect(created).toMatchObject({ namespace: NS, name: 'via-api', phase: 'New' });
    const watched = await follow(backups.WatchBackup({ namespace: NS, name: 'via-api' }, auth()));
    expect(watched.code).toBe(status.OK);
    const last = watched.messages[watched.messages.length - 1]!;
    expect(last.phase, JSON.stringify(last)).toBe('Completed');
    expect(watched.messages[0]!.phase).not.toBe('Completed');
    expect(last.volumes.map((v) => [v.volume, v.phase])).toEqual(expect.arrayContaining([['cache', 'Completed'], ['data', 'Completed']]));
    expect(last.volumes.every((v) => /^[0-9a-f]{64}$/.test(v.snapshotId))).toBe(true);

    // Lose the pod and its data, then restore through the API into the recreated pod.
    await cluster.core.deleteNamespacedPod({ namespace: NS, name: pod!.metadata!.name! });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'the pod to be gone');
    await rm(join(root, 'pv-storage'), { recursive: true, force: true });
    await unary<Restore__Output>((md, cb) => restores.CreateRestore({ namespace: NS, name: 'back-via-api', backup: 'via-api' }, md, cb));
    await cluster.waitPhase('restores', 'back-via-api', NS, ['InProgress'], 20_000);
    const restoreWatch = follow(restores.WatchRestore({ namespace: NS, name: 'back-via-api' }, auth()));
    await cluster.createStatefulSet(NS, 'db');
    const [fresh] = await cluster.runningPods(NS, 1);
    expect(fresh!.spec?.initContainers?.[0]?.name).toBe('ferry-restore-wait');
    const restored = await restoreWatch;
    expect(restored.code).toBe(status.OK);
    expect(restored.messages[restored.messages.length - 1]).toMatchObject({ phase: 'Completed', progress: { volumesTotal: 2, volumesDone: 2 } });
    for (const v of ['cache', 'data']) expect(await volumeManifest(cluster.volumeDir(fresh!, v)), v).toEqual(before.get(v));
  }, 240_000);
});
