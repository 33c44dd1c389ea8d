/** The repository's `config` object (docs/repository-format.md §11). */
import { timingSafeEqual } from 'node:crypto';
import { hmac } from './crypto.js';
import { RepositoryError } from './errors.js';

export const FORMAT_VERSION = 1;

export interface ChunkerParams {
  readonly algorithm: 'fastcdc-gear32-v1';
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

export interface RepositoryConfig {
  readonly format: 'ferry-repository';
  readonly version: number;
  readonly id: string;
  readonly created: string;
  readonly chunker: ChunkerParams;
  readonly contentId: 'hmac-sha256';
  readonly cipher: 'aes-256-gcm-hmac-salt-v1';
  readonly compression: 'zstd';
  readonly packSize: number;
}

export function newConfig(id: Buffer, now: Date): RepositoryConfig {
  return {
    format: 'ferry-repository',
    version: FORMAT_VERSION,
    id: id.toString('hex'),
    created: now.toISOString(),
    chunker: { algorithm: 'fastcdc-gear32-v1', minSize: 512 * 1024, avgSize: 1024 * 1024, maxSize: 8 * 1024 * 1024 },
    contentId: 'hmac-sha256',
    cipher: 'aes-256-gcm-hmac-salt-v1',
    compression: 'zstd',
    packSize: 16 * 1024 * 1024,
  };
}

export function serializeConfig(config: RepositoryConfig, macKey: Buffer): Buffer {
  const mac = hmac(macKey, JSON.stringify(config)).toString('hex');
  return Buffer.from(JSON.stringify({ ...config, mac }, null, 2) + '\n');
}

/** Parses config without verifying it (the MAC needs the master key). */
export function parseConfig(text: Buffer, where: string): { config: RepositoryConfig; mac: string } {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new RepositoryError('Corrupt', `${where}: config is not valid JSON`);
  }
  if (raw['format'] !== 'ferry-repository') throw new RepositoryError('Corrupt', `${where}: not a Ferry repository (config format is ${String(raw['format'])})`);
  if (raw['version'] !== FORMAT_VERSION) {
    throw new RepositoryError('UnsupportedVersion', `${where}: repository format version ${String(raw['version'])} is not supported; this Ferry reads version ${FORMAT_VERSION}`);
  }
  const { mac, ...config } = raw;
  if (typeof mac !== 'string') throw new RepositoryError('Corrupt', `${where}: config has no MAC`);
  return { config: config as unknown as RepositoryConfig, mac };
}

export function verifyConfig(config: RepositoryConfig, mac: string, macKey: Buffer, where: string): void {
  const expected = hmac(macKey, JSON.stringify(config));
  const given = Buffer.from(mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new RepositoryError('Corrupt', `${where}: config MAC does not verify (config was altered)`);
  }
}
