/**
 * Standalone mode's stand-in for `kubectl apply`: the manifests folder is read every
 * poll, and what changed is handed to the local cluster. Pods follow their files (a new
 * file creates the pod, a removed one deletes it); Secrets, claims and volumes are
 * replaced when their file changes; Ferry resources (Backup, Restore, BackupLocation,
 * BackupSchedule) are created once per distinct content, so a Backup deleted through the
 * API does not come back while its old file is still there.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** sha256 of the document, to notice edits. */
  readonly digest: string;
  readonly file: string;
  readonly body: { metadata: Record<string, unknown>; [field: string]: unknown };
}

export interface ManifestProblem {
  readonly file: string;
  readonly message: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/;

/** Every object in the folder's manifests (files sorted by name; documents in order). */
export function readManifests(dir: string): { manifests: Manifest[]; problems: ManifestProblem[] } {
  const manifests: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => MANIFEST_FILE.test(f)).sort();
  } catch (err) {
    return { manifests, problems: [{ file: dir, message: `cannot read the manifests folder: ${(err as Error).message}` }] };
  }
  for (const file of files) {
    const path = join(dir, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      problems.push({ file: path, message: (err as Error).message });
      continue;
    }
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        problems.push({ file: path, message: doc.errors.map((e) => e.message).join('; ') });
        continue;
      }
      const body = doc.toJS() as Manifest['body'] | null;
      if (body === null) continue;
      const m = toManifest(body, path);
      if ('message' in m) problems.push(m);
      else manifests.push(m);
    }
  }
  return { manifests, problems };
}

function toManifest(body: Manifest['body'], file: string): Manifest | ManifestProblem {
  const kind = typeof body.kind === 'string' ? body.kind : '';
  const meta = body.metadata !== null && typeof body.metadata === 'object' ? body.metadata : undefined;
  const name = typeof meta?.name === 'string' ? meta.name : '';
  if (!kind || !name) return { file, message: 'every document needs kind and metadata.name' };
  const namespace = typeof meta?.namespace === 'string' ? meta.namespace : 'default';
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  return { kind, namespace, name, digest, file, body: body as Manifest['body'] };
}
