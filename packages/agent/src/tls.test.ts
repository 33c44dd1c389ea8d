import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAgentError } from './errors.js';
import { makeCerts } from './test-hub.fixture.js';
import { tlsCredentials } from './tls.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop()!, { recursive: true, force: true });
});

describe('TLS credentials from files', () => {
  it('notices when the files change (rotation) and names an unreadable file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-tls-'));
    dirs.push(root);
    await mkdir(join(root, 'a'));
    await mkdir(join(root, 'b'));
    const first = makeCerts(join(root, 'a'));
    const second = makeCerts(join(root, 'b'));
    const source = tlsCredentials({ caFile: first.ca, certFile: first.clientCert, keyFile: first.clientKey });
    const { fingerprint } = await source.load();
    expect(await source.changed(fingerprint)).toBe(false);
    await copyFile(second.clientCert, first.clientCert);
    await copyFile(second.clientKey, first.clientKey);
    expect(await source.changed(fingerprint)).toBe(true);
    const missing = tlsCredentials({ caFile: join(root, 'nope.crt'), certFile: first.clientCert, keyFile: first.clientKey });
    const err = await missing.load().catch((e: unknown) => e);
    expect(isAgentError(err, 'InvalidConfig')).toBe(true);
    expect((err as Error).message).toContain(`cannot read --tls-ca file ${join(root, 'nope.crt')}: ENOENT`);
  });
});
