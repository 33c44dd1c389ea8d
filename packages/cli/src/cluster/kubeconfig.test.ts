import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../exit-codes.js';
import { readKubeconfigIdentity } from './kubeconfig.js';
import { tokenWantsPassword } from './transfer.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-kubeconfig-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfig(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

const config = (user: string, context = 'namespace: shop'): string => `apiVersion: v1
kind: Config
current-context: work
contexts:
- name: other
  context: {cluster: c, user: nobody}
- name: work
  context: {cluster: c, user: alice, ${context}}
users:
- name: nobody
  user: {token: not-this-one}
- name: alice
  user: ${user}
`;

describe('kubeconfig identity', () => {
  it("takes the current context's user token and namespace", async () => {
    const file = await kubeconfig('token', config('{token: alice-token}'));
    expect(await readKubeconfigIdentity(file)).toEqual({ token: 'alice-token', namespace: 'shop' });
  });

  it('reads a tokenFile relative to the kubeconfig, trimmed; no namespace when the context has none', async () => {
    await writeFile(join(dir, 'alice.token'), 'file-token\n');
    const file = await kubeconfig('token-file', config('{tokenFile: alice.token}', 'x: y'));
    expect(await readKubeconfigIdentity(file)).toEqual({ token: 'file-token' });
  });

  it('refuses a certificate user with the flags to use instead, and never echoes key data', async () => {
    const file = await kubeconfig('cert', config('{client-certificate-data: Q0VSVA==, client-key-data: S0VZLVNFQ1JFVA==}'));
    const err = await readKubeconfigIdentity(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as Error).message).toBe(`kubeconfig ${file}: user "alice" has no token (client certificates, exec and auth-provider users are not supported): pass --token, or --cert/--key`);
  });

  it('names a missing file, a missing current-context and an unknown context', async () => {
    await expect(readKubeconfigIdentity(join(dir, 'nope'))).rejects.toThrow(/cannot read kubeconfig .*nope \(ENOENT\): check --kubeconfig/);
    await expect(readKubeconfigIdentity(await kubeconfig('no-current', 'apiVersion: v1\nkind: Config\n'))).rejects.toThrow(/has no current-context/);
    await expect(readKubeconfigIdentity(await kubeconfig('bad-current', 'current-context: gone\ncontexts: []\n'))).rejects.toThrow(/current-context "gone" is not among its contexts/);
  });
});

describe('transfer tokens', () => {
  const token = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('asks for a password only for a password-wrapped key', () => {
    expect(tokenWantsPassword(token({ version: 1, key: { mode: 'password', keyToken: 'abc' } }))).toBe(true);
    expect(tokenWantsPassword(token({ version: 1, key: { mode: 'none' } }))).toBe(false);
    expect(tokenWantsPassword(token({ version: 1, key: { mode: 'plain', keyToken: 'abc' } }))).toBe(false);
    expect(tokenWantsPassword('not base64url json!')).toBe(false);
  });
});
