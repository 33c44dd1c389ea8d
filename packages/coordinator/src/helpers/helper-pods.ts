/**
 * Creating, reading, deleting and sweeping helper pods on the Kubernetes API. Kept apart
 * from ClusterState: only the coordinator's helper mechanism creates pods, and its RBAC
 * (create/delete on pods) is granted for that alone.
 */
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { createOrRead, isNotFound } from '../errors.js';
import { HELPER_OWNER_UID_LABEL, HELPER_POD_LABEL } from './helper-pod.js';

export interface HelperPodsOptions {
  readonly core: CoreV1Api;
}

/** Does a Ferry object with this uid still exist and still need its helper? */
export type OwnerWantsHelper = (ownerUid: string) => Promise<boolean>;

export interface SweepResult {
  readonly deleted: readonly string[];
  readonly kept: readonly string[];
}

export class HelperPods {
  constructor(private readonly o: HelperPodsOptions) {}

  /** Creates the pod unless one of that name exists (a retry after a crash); returns what is stored. */
  async createOrGet(pod: V1Pod): Promise<V1Pod> {
    const namespace = pod.metadata?.namespace ?? '';
    return createOrRead(
      // Strict: a field the server does not know is an error, not silently dropped from the fixed spec.
      () => this.o.core.createNamespacedPod({ namespace, body: pod, fieldValidation: 'Strict' }),
      () => this.o.core.readNamespacedPod({ namespace, name: pod.metadata?.name ?? '' }),
    );
  }

  async get(namespace: string, name: string): Promise<V1Pod | undefined> {
    try {
      return await this.o.core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The helper pods serving one owner (to delete them once its data moved). */
  async ofOwner(namespace: string, ownerUid: string): Promise<V1Pod[]> {
    return (await this.o.core.listNamespacedPod({ namespace, labelSelector: `${HELPER_OWNER_UID_LABEL}=${ownerUid}` })).items;
  }

  /** Deleting a missing pod is not an error (the garbage collector or a sweep may have been first). */
  async delete(namespace: string, name: string): Promise<void> {
    try {
      await this.o.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * On start: every helper pod whose owner is gone or done is deleted. The garbage collector
   * would catch most, but not a pod whose owner lives in another namespace, nor one created
   * by a coordinator that crashed before its owner recorded it.
   */
  async sweep(ownerWantsHelper: OwnerWantsHelper): Promise<SweepResult> {
    const pods = (await this.o.core.listPodForAllNamespaces({ labelSelector: HELPER_POD_LABEL })).items;
    const deleted: string[] = [];
    const kept: string[] = [];
    for (const pod of pods) {
      const key = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
      const owner = pod.metadata?.labels?.[HELPER_OWNER_UID_LABEL] ?? '';
      if (owner !== '' && (await ownerWantsHelper(owner))) {
        kept.push(key);
        continue;
      }
      await this.delete(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
      deleted.push(key);
    }
    return { deleted, kept };
  }
}
