import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { AGENT_PROTO_FILE, PROTO_LOADER_OPTIONS, PROTO_ROOT, type AgentMessage, type AgentMessage__Output, type CoordinatorMessage, type CoordinatorMessage__Output } from './index.js';

const definition = loadSync(AGENT_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] });
const connect = (definition['ferry.v1.AgentHub'] as unknown as Record<string, { requestSerialize: (m: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown; responseSerialize: (m: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown }>)['Connect']!;

describe('AgentHub proto and its generated types', () => {
  it('finds the proto files from the package', () => {
    expect(existsSync(join(PROTO_ROOT, AGENT_PROTO_FILE))).toBe(true);
  });

  it('decodes into exactly the __Output shape the generated types promise', () => {
    const sent: CoordinatorMessage = {
      assign: {
        job: {
          jobId: 'j1',
          kind: 'JOB_KIND_RESTORE',
          mover: 'MOVER_KIND_NATIVE',
          timeoutSeconds: 60,
          volume: { podUid: 'u', volumeName: 'data', kind: 'VOLUME_KIND_CSI_PERSISTENT', pvName: 'pv-1' },
          repository: { location: 's3:https://s3.example/b', key: { clusterKey: Buffer.alloc(32, 7) } },
          restore: { snapshotId: 'abc', restoreUid: 'r1' },
        },
      },
    };
    const got = connect.responseDeserialize(connect.responseSerialize(sent)) as CoordinatorMessage__Output;
    expect(got.body).toBe('assign');
    const job = got.assign!.job!;
    expect(job.kind).toBe('JOB_KIND_RESTORE');
    expect(job.volume!.block).toBe(false);
    expect(job.volume!.pvcUid).toBe('');
    expect(job.repository!.key!.key).toBe('clusterKey');
    expect(Buffer.from(job.repository!.key!.clusterKey!)).toEqual(Buffer.alloc(32, 7));
    expect(job.backup).toBeNull();
  });

  it('carries 64-bit counters as numbers and leaves unset optional totals undefined', () => {
    const sent: AgentMessage = { progress: { jobId: 'j', phase: 'JOB_PHASE_RUNNING', filesDone: 3, bytesDone: 2 ** 40 } };
    const got = connect.requestDeserialize(connect.requestSerialize(sent)) as AgentMessage__Output;
    expect(got.progress).toMatchObject({ jobId: 'j', phase: 'JOB_PHASE_RUNNING', filesDone: 3, bytesDone: 2 ** 40, bytesPerSecond: 0 });
    expect(got.progress!.bytesTotal).toBeUndefined();
    const result: AgentMessage = { result: { jobId: 'j', error: { code: 'ERROR_CODE_INTERRUPTED', message: 'stopped', retriable: true } } };
    const r = connect.requestDeserialize(connect.requestSerialize(result)) as AgentMessage__Output;
    expect(r.result!.outcome).toBe('error');
    expect(r.result!.error).toEqual({ code: 'ERROR_CODE_INTERRUPTED', message: 'stopped', retriable: true });
  });
});
