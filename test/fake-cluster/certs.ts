/**
 * FAKE Kubernetes API server (test support, never shipped): throwaway TLS material made
 * with the `openssl` CLI: a CA and a serving certificate for localhost/127.0.0.1 (or any
 * names given), used by the fake API server and by test webhooks alike.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsBundle {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Where the PEM files live (ca.crt, tls.crt, tls.key), e.g. for a process reading files. */
  dir: string;
}

export interface TlsOptions {
  /** DNS names and IP addresses for the certificate; defaults to localhost and 127.0.0.1. */
  hosts?: string[];
  commonName?: string;
  /** Directory to write into; a fresh temp dir when absent. */
  dir?: string;
}

function subjectAltNames(hosts: string[]): string {
  return hosts.map((h) => (/^[0-9.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`fake-cluster certs: openssl ${args[0]} failed (is the openssl CLI installed?): ${e.stderr ?? e.message}`);
  }
}

/** Makes a CA and a leaf certificate signed by it; ~100 ms with EC keys. */
export async function generateTls(opts: TlsOptions = {}): Promise<TlsBundle> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'fake-cluster-tls-')));
  const hosts = opts.hosts ?? ['localhost', '127.0.0.1'];
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=fake-cluster-ca']);
  await openssl(['req', ...ec, '-keyout', p('tls.key'), '-out', p('tls.csr'), '-subj', `/CN=${opts.commonName ?? hosts[0] ?? 'localhost'}`]);
  await writeFile(p('ext.cnf'), `subjectAltName=${subjectAltNames(hosts)}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await openssl(['x509', '-req', '-in', p('tls.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('tls.crt'), '-days', '2', '-extfile', p('ext.cnf')]);
  const [caPem, certPem, keyPem] = await Promise.all(['ca.crt', 'tls.crt', 'tls.key'].map((f) => readFile(p(f), 'utf8')));
  return { caPem: caPem!, certPem: certPem!, keyPem: keyPem!, dir };
}

export async function removeTls(bundle: TlsBundle): Promise<void> {
  await rm(bundle.dir, { recursive: true, force: true });
}
