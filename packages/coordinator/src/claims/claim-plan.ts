/**
 * Which restore items go into claims of their own (Restore.spec.targetClaims) and what each
 * claim is: pure, from the spec and the items, so the Restore's New step and every later
 * pass decide the same. The checks that need the cluster (does the claim exist, does a pod
 * mount it) are in restore-claims.ts.
 */
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { RestoreObject } from '../objects.js';
import type { RestoreItem } from '../controllers/restore-items.js';

/** On every claim a Restore created: the Restore's uid, so a retry knows the claim is its own. */
export const CLAIM_RESTORE_UID_LABEL = 'ferry.dev/restore-uid';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

type TargetClaimSpec = NonNullable<RestoreObject['spec']['targetClaims']>[number];

export interface ClaimTarget {
  readonly item: RestoreItem;
  readonly namespace: string;
  readonly name: string;
  readonly existing: boolean;
  /** The claim to create (new claims only). */
  readonly body?: V1PersistentVolumeClaim;
}

export type ClaimPlan = { readonly ok: true; readonly targets: readonly ClaimTarget[] } | { readonly ok: false; readonly message: string };

/** The entry of spec.targetClaims an item goes to: one naming its claim first, else `*`. */
function entryFor(entries: readonly TargetClaimSpec[], item: RestoreItem): TargetClaimSpec | undefined {
  if (item.claimName === undefined || item.commandFile !== undefined) return undefined;
  const applies = (e: TargetClaimSpec) => e.namespace === undefined || e.namespace === item.sourceNamespace;
  return entries.find((e) => e.claim === item.claimName && applies(e)) ?? entries.find((e) => e.claim === '*' && applies(e));
}

function entryProblems(entries: readonly TargetClaimSpec[], items: readonly RestoreItem[]): string[] {
  const problems: string[] = [];
  entries.forEach((e, i) => {
    const at = `spec.targetClaims[${i}] (claim ${e.claim})`;
    if (e.claim === '*' && e.name !== undefined) problems.push(`${at}: name cannot be set with claim *; name each claim in an entry of its own`);
    if (e.existing && (e.storageClassName !== undefined || e.storage !== undefined || e.accessModes !== undefined)) problems.push(`${at}: storageClassName, storage and accessModes are for new claims; remove them or existing`);
    if (e.claim !== '*' && !items.some((it) => it.claimName === e.claim && (e.namespace === undefined || e.namespace === it.sourceNamespace))) problems.push(`${at}: the restored backup holds no claim ${e.claim}${e.namespace ? ` in namespace ${e.namespace}` : ''}`);
  });
  return problems;
}

export function planClaims(restore: RestoreObject, items: readonly RestoreItem[]): ClaimPlan {
  const entries = restore.spec.targetClaims ?? [];
  if (entries.length === 0) return { ok: true, targets: [] };
  const problems = entryProblems(entries, items);
  const targets: ClaimTarget[] = [];
  for (const item of items) {
    const entry = entryFor(entries, item);
    if (!entry) continue;
    const target = targetOf(restore, entry, item);
    if (typeof target === 'string') problems.push(target);
    else targets.push(target);
  }
  const seen = new Map<string, string>();
  for (const t of targets) {
    const key = `${t.namespace}/${t.name}`;
    const other = seen.get(key);
    if (other !== undefined) problems.push(`claims ${other} and ${t.item.sourceNamespace}/${t.item.claimName ?? ''} would both be restored into claim ${key}; give one another name in spec.targetClaims`);
    seen.set(key, `${t.item.sourceNamespace}/${t.item.claimName ?? ''}`);
  }
  return problems.length > 0 ? { ok: false, message: `Restore ${restore.metadata.namespace}/${restore.metadata.name}: ${problems.slice(0, 5).join('; ')}` } : { ok: true, targets };
}

/** Items restored into claims: the webhook gives them to no pod. */
export function claimItemKeys(restore: RestoreObject, items: readonly RestoreItem[]): Set<string> {
  const entries = restore.spec.targetClaims ?? [];
  return new Set(items.filter((i) => entryFor(entries, i) !== undefined).map((i) => i.key));
}

function targetOf(restore: RestoreObject, entry: TargetClaimSpec, item: RestoreItem): ClaimTarget | string {
  const name = entry.name ?? item.claimName ?? '';
  const namespace = item.targetNamespace;
  if (entry.existing) return { item, namespace, name, existing: true };
  const facts = item.claim ?? {};
  const storage = entry.storage ?? facts.storage;
  if (storage === undefined) return `claim ${item.sourceNamespace}/${item.claimName ?? ''}: its snapshot records no size; set storage in its spec.targetClaims entry`;
  const fromClass = facts.storageClassName;
  const storageClassName = entry.storageClassName ?? (fromClass !== undefined ? (restore.spec.storageClassMap?.[fromClass] ?? fromClass) : undefined);
  const accessModes = entry.accessModes ?? facts.accessModes ?? ['ReadWriteOnce'];
  const body: V1PersistentVolumeClaim = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    // No ownerReference: the claim is the result of the Restore and outlives it.
    metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: 'ferry', 'ferry.dev/restore': restore.metadata.name ?? '', [CLAIM_RESTORE_UID_LABEL]: restore.metadata.uid ?? '' } },
    spec: {
      accessModes: [...accessModes],
      resources: { requests: { storage } },
      ...(storageClassName !== undefined ? { storageClassName } : {}),
      ...(item.claim?.volumeMode === 'Block' ? { volumeMode: 'Block' } : {}),
    },
  };
  return { item, namespace, name, existing: false, body };
}
