/**
 * Creating the claims a Restore restores into (Restore.spec.targetClaims). Kept apart from
 * ClusterState like HelperPods: only this creates claims, and its RBAC (create on
 * persistentvolumeclaims) is granted for it alone. Claims are never updated or deleted.
 */
import type { CoreV1Api, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { isAlreadyExists } from '../errors.js';

export interface TargetClaimsOptions {
  readonly core: CoreV1Api;
}

export type CreateClaimResult = { readonly created: true; readonly claim: V1PersistentVolumeClaim } | { readonly created: false };

export class TargetClaims {
  constructor(private readonly o: TargetClaimsOptions) {}

  /** Creates the claim; `created: false` when one of that name exists (the caller decides whether it is its own). */
  async create(claim: V1PersistentVolumeClaim): Promise<CreateClaimResult> {
    try {
      return { created: true, claim: await this.o.core.createNamespacedPersistentVolumeClaim({ namespace: claim.metadata?.namespace ?? '', body: claim, fieldValidation: 'Strict' }) };
    } catch (err) {
      if (isAlreadyExists(err)) return { created: false };
      throw err;
    }
  }
}
