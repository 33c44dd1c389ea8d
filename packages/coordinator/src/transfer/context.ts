/** What export and import need from the coordinator, built once and passed in. */
import type { Logger } from '@ferry/log';
import type { Clock } from '../clock.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import type { Repositories } from '../repositories.js';

export interface TransferContext {
  readonly cluster: ClusterState;
  readonly repositories: Repositories;
  readonly clock: Clock;
  readonly log: Logger;
  /** The coordinator's namespace: BackupRepositories, the cluster key and location credentials live here. */
  readonly namespace: string;
  /** scrypt cost for password-wrapped keys (the engine's default when absent); tests lower it. */
  readonly scryptN?: number;
}

/** Who asked, for the audit line and Event (the API's authenticated user); never a credential. */
export interface Requester {
  readonly requester?: string;
}
