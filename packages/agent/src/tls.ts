/**
 * Channel credentials for the coordinator connection. With TLS, the CA, certificate and
 * key are read from files on every connection attempt, and `changed` tells the hub
 * client when they differ from the ones the open stream uses (cert-manager rotation), so
 * it reconnects with the new ones.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { AgentError } from './errors.js';

export interface TlsFiles {
  /** CA bundle the coordinator's certificate must chain to. */
  readonly caFile: string;
  /** The agent's client certificate (PEM) and key, for mutual TLS. */
  readonly certFile: string;
  readonly keyFile: string;
}

export interface LoadedCredentials {
  readonly credentials: ChannelCredentials;
  /** Identifies the file contents, never reveals them. */
  readonly fingerprint: string;
}

export interface CredentialsSource {
  readonly secure: boolean;
  load(): Promise<LoadedCredentials>;
  /** True when the files now hold something other than what `fingerprint` was made from. */
  changed(fingerprint: string): Promise<boolean>;
}

export function insecureCredentials(): CredentialsSource {
  return {
    secure: false,
    load: async () => ({ credentials: grpcCredentials.createInsecure(), fingerprint: 'insecure' }),
    changed: async () => false,
  };
}

export function tlsCredentials(files: TlsFiles): CredentialsSource {
  const read = async (): Promise<{ ca: Buffer; cert: Buffer; key: Buffer; fingerprint: string }> => {
    const [ca, cert, key] = await Promise.all(
      ([['--tls-ca', files.caFile], ['--tls-cert', files.certFile], ['--tls-key', files.keyFile]] as const).map(async ([flag, path]) => {
        try {
          return await readFile(path);
        } catch (cause) {
          throw new AgentError('InvalidConfig', `cannot read ${flag} file ${path}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}; mount the agent's TLS secret there`, { cause });
        }
      }),
    );
    const fingerprint = createHash('sha256').update(ca!).update('\0').update(cert!).update('\0').update(key!).digest('hex');
    return { ca: ca!, cert: cert!, key: key!, fingerprint };
  };
  return {
    secure: true,
    load: async () => {
      const { ca, cert, key, fingerprint } = await read();
      try {
        return { credentials: grpcCredentials.createSsl(ca, key, cert), fingerprint };
      } catch (cause) {
        throw new AgentError('InvalidConfig', `TLS files ${files.certFile} / ${files.keyFile} / ${files.caFile} do not hold a usable PEM certificate, key and CA: ${(cause as Error).message}`, { cause });
      }
    },
    changed: async (fingerprint) => {
      try {
        return (await read()).fingerprint !== fingerprint;
      } catch {
        // Half-written during a rotation: look again next time rather than drop a working stream.
        return false;
      }
    },
  };
}
