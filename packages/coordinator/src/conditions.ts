/**
 * Condition bookkeeping (metav1.Condition semantics): one entry per type, and
 * lastTransitionTime moves only when the status flips, so it also records how long
 * something has been true (e.g. how long a volume has waited for its agent).
 */
import type { ConditionReason, ConditionType, V1alpha1Condition } from '@ferry/api';

export interface ConditionInput {
  readonly type: ConditionType;
  readonly status: 'True' | 'False' | 'Unknown';
  /** Ferry's catalog, or an open CamelCase string for reasons the catalog does not know yet. */
  readonly reason: ConditionReason | (string & {});
  readonly message: string;
}

export function setCondition(
  list: readonly V1alpha1Condition[] | undefined,
  input: ConditionInput,
  now: string,
  generation?: number,
): V1alpha1Condition[] {
  const current = (list ?? []).find((c) => c.type === input.type);
  const lastTransitionTime = current && current.status === input.status ? current.lastTransitionTime : now;
  const next: V1alpha1Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message.slice(0, 4096),
    lastTransitionTime,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...(list ?? []).filter((c) => c.type !== input.type), next];
}

export function findCondition(list: readonly V1alpha1Condition[] | undefined, type: ConditionType): V1alpha1Condition | undefined {
  return (list ?? []).find((c) => c.type === type);
}
