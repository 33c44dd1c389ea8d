/** changedSinceRead on the fake API server: the guard that keeps a finished job from being sent to an agent again. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { testContext } from '../context.fixture.js';
import { changedSinceRead } from './agent-wait.js';
import { commit } from './commit.js';
import type { PvrObject } from '../objects.js';

const NS = 'agentwait';
let api: FakeApiServer;

beforeAll(async () => {
  api = await FakeApiServer.start();
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', NS]) await core.createNamespace({ body: { metadata: { name } } });
});
afterAll(async () => api.stop());

describe('changedSinceRead', () => {
  it('is false for the object as stored and true once its result was written after the read', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const spec = { restore: 'r', pod: { namespace: NS, name: 'p', uid: 'u' }, node: 'n1', repository: 'local-agentwait', snapshotId: 'a'.repeat(64), target: { name: 'data', kind: 'emptyDir' } } as unknown as PvrObject['spec'];
    const read = await ctx.cluster.createOrGet<PvrObject>('PodVolumeRestore', { metadata: { name: 'pvr-1', namespace: NS }, spec });
    expect(await changedSinceRead(ctx, 'PodVolumeRestore', read)).toBe(false);
    await commit(ctx, 'PodVolumeRestore', read, { status: { phase: 'Completed' } });
    expect(await changedSinceRead(ctx, 'PodVolumeRestore', read)).toBe(true);
  });

  it('is true when the object is gone', async () => {
    const { ctx } = testContext(api.kubeConfig());
    expect(await changedSinceRead(ctx, 'PodVolumeBackup', { metadata: { namespace: NS, name: 'never-made', resourceVersion: '1' } })).toBe(true);
  });
});
