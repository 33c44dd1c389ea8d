/** The transfer token: round trip, and one precise InvalidArgument per malformed field, never echoing the token. */
import { describe, expect, it } from 'vitest';
import { CoordinatorError } from '../errors.js';
import { encodeToken, parseToken, TOKEN_VERSION, type TransferToken } from './token.js';

const SNAP = 'ab'.repeat(32);

function sample(): TransferToken {
  return {
    v: 1,
    kind: 'backup',
    location: { kind: 's3', url: 's3:http://127.0.0.1:7480/bucket/c1', bucket: 'bucket', endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', prefix: 'c1', forcePathStyle: true },
    repository: { path: 'shop', namespace: 'shop', mover: 'native', repositoryId: '0123456789abcdef0123456789abcdef' },
    backup: {
      namespace: 'shop',
      name: 'nightly-1',
      uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
      phase: 'Completed',
      completionTimestamp: '2024-05-01T10:00:00Z',
      volumes: [
        { pod: { name: 'db-0', uid: 'u1', controller: { kind: 'StatefulSet', name: 'db' } }, node: 'node-a', volume: { name: 'data', kind: 'persistentVolumeClaim', pvc: { name: 'data-db-0', uid: 'u2' }, pvName: 'pv-1' }, snapshotId: SNAP, phase: 'Completed' },
        { pod: { name: 'web-x', uid: 'u3' }, node: '', volume: { name: 'cache', kind: 'emptyDir' }, snapshotId: SNAP, phase: 'PartiallyFailed', completionTimestamp: '2024-05-01T10:00:00.123Z' },
      ],
    },
    key: { mode: 'password', keyToken: 'eyJ2IjoxfQ' },
  };
}

/** Encodes `sample()` after `mutate` changes its JSON form. */
function tokenWith(mutate: (t: any) => void): string {
  const t = JSON.parse(JSON.stringify(sample()));
  mutate(t);
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function errorOf(text: string): CoordinatorError {
  try {
    parseToken(text);
  } catch (err) {
    if (err instanceof CoordinatorError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('transfer token', () => {
  it('round-trips a backup token, a key token and every key mode', () => {
    expect(parseToken(encodeToken(sample()))).toEqual(sample());
    const { backup: _b, ...rest } = sample();
    const key: TransferToken = { ...rest, kind: 'key', key: { mode: 'plain', keyToken: 'eyJ2IjoxfQ' } };
    expect(parseToken(encodeToken(key))).toEqual(key);
    const none: TransferToken = { ...sample(), key: { mode: 'none' } };
    expect(parseToken(`  ${encodeToken(none)}\n`)).toEqual(none);
    const fs: TransferToken = { ...sample(), location: { kind: 'filesystem', url: '/mnt/backups', path: '/mnt/backups' } };
    expect(parseToken(encodeToken(fs))).toEqual(fs);
  });

  it('is base64url of JSON with the format version first', () => {
    const text = encodeToken(sample());
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(text, 'base64url').toString())).toMatchObject({ v: TOKEN_VERSION, kind: 'backup' });
  });

  const cases: [string, string, RegExp][] = [
    ['empty', '   ', /it is empty/],
    ['not base64url', 'abc$def', /not base64url/],
    ['not JSON', Buffer.from('{"v":1,').toString('base64url'), /does not decode to JSON/],
    ['a JSON array', Buffer.from('[1]').toString('base64url'), /token must be an object/],
    ['no version', tokenWith((t) => delete t.v), /field v \(the format version\) is missing/],
    ['version 0', tokenWith((t) => (t.v = 0)), /field v must be 1/],
    ['unknown kind', tokenWith((t) => (t.kind = 'snapshot')), /token\.kind must be one of backup, key/],
    ['no location', tokenWith((t) => delete t.location), /token\.location must be an object/],
    ['location kind', tokenWith((t) => (t.location.kind = 'gcs')), /token\.location\.kind must be one of s3, filesystem/],
    ['credentials in the URL', tokenWith((t) => (t.location.url = 's3:http://AKIA:secret@host/b')), /token\.location\.url must be a plain URL without credentials/],
    ['credentials in the endpoint', tokenWith((t) => (t.location.endpoint = 'http://AKIA:secret@host')), /token\.location\.endpoint must be http\(s\):\/\/host\[:port\]/],
    ['bad bucket', tokenWith((t) => (t.location.bucket = 'B')), /token\.location\.bucket must be an S3 bucket name/],
    ['prefix with a slash', tokenWith((t) => (t.location.prefix = '/c1')), /token\.location\.prefix must be a key prefix/],
    ['forcePathStyle a string', tokenWith((t) => (t.location.forcePathStyle = 'yes')), /token\.location\.forcePathStyle must be true or false/],
    ['relative filesystem path', tokenWith((t) => (t.location = { kind: 'filesystem', url: 'x', path: 'x' })), /token\.location\.path must be an absolute path/],
    ['repository path with ..', tokenWith((t) => (t.repository.path = 'a/../b')), /token\.repository\.path must not contain \.\./],
    ['restic repository', tokenWith((t) => (t.repository.mover = 'restic')), /token\.repository\.mover must be one of native/],
    ['short repository id', tokenWith((t) => (t.repository.repositoryId = 'abc')), /token\.repository\.repositoryId must be 32 hex digits/],
    ['key mode', tokenWith((t) => (t.key = { mode: 'kms' })), /token\.key\.mode must be one of password, plain, none/],
    ['password key without its token', tokenWith((t) => delete t.key.keyToken), /token\.key\.keyToken is missing/],
    ['backup missing', tokenWith((t) => delete t.backup), /token\.backup must be an object/],
    ['backup in a key token', tokenWith((t) => (t.kind = 'key')), /a key token has no field backup/],
    ['no volumes', tokenWith((t) => (t.backup.volumes = [])), /token\.backup\.volumes is empty/],
    ['volumes not a list', tokenWith((t) => (t.backup.volumes = {})), /token\.backup\.volumes must be a list/],
    ['bad snapshot id', tokenWith((t) => (t.backup.volumes[1].snapshotId = 'xyz')), /token\.backup\.volumes\[1\]\.snapshotId must be 64 hex digits/],
    ['failed volume', tokenWith((t) => (t.backup.volumes[0].phase = 'Failed')), /token\.backup\.volumes\[0\]\.phase must be one of Completed, PartiallyFailed/],
    ['pod name missing', tokenWith((t) => delete t.backup.volumes[0].pod.name), /token\.backup\.volumes\[0\]\.pod\.name is missing/],
    ['bad claim name', tokenWith((t) => (t.backup.volumes[0].volume.pvc.name = 'Data_1')), /token\.backup\.volumes\[0\]\.volume\.pvc\.name must be a claim name/],
    ['bad time', tokenWith((t) => (t.backup.completionTimestamp = 'yesterday')), /token\.backup\.completionTimestamp must be an RFC 3339 time/],
    ['bad namespace', tokenWith((t) => (t.backup.namespace = 'Shop')), /token\.backup\.namespace must be a namespace name/],
  ];

  it.each(cases)('rejects %s with InvalidArgument naming the field', (_name, text, message) => {
    const err = errorOf(text);
    expect(err.code).toBe('InvalidArgument');
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/^the transfer token is invalid: /);
  });

  it('tells a newer format apart from a broken one', () => {
    const err = errorOf(tokenWith((t) => (t.v = 2)));
    expect(err.message).toMatch(/format version 2, newer than this coordinator reads \(1\); upgrade Ferry/);
  });

  it('never quotes the token in an error, even when it holds a plain key', () => {
    const secret = 'c2VjcmV0LWtleS1ieXRlcy1zaG91bGQtbm90LWxlYWs';
    for (const text of [
      tokenWith((t) => (t.key = { mode: 'plain', keyToken: `${secret}!` })),
      Buffer.from(`{"v":1,"key":{"mode":"plain","keyToken":"${secret}"`).toString('base64url'),
      tokenWith((t) => (t.kind = secret)),
    ]) {
      const err = errorOf(text);
      expect(err.message).not.toContain(secret);
      expect(err.message).not.toContain(text.slice(0, 20));
    }
  });

  it('refuses an oversized token before decoding it', () => {
    expect(errorOf('A'.repeat((4 << 20) + 1)).message).toMatch(/longer than/);
  });
});
