export { ResticMover } from './mover.js';
export type { ResticMoverOptions } from './mover.js';
export { detectRestic, parseResticVersion, compareVersions, MIN_RESTIC_VERSION } from './binary.js';
export type { ResticBinary, ResticVersion, DetectResticOptions } from './binary.js';
export { mapResticFailure, describeRepository } from './errors.js';
export type { ResticFailure } from './errors.js';
export { identityHost, identityTags, identityFromSnapshot, TAG as FERRY_TAGS } from './identity.js';
export { judgeLock, STALE_LOCK_AGE_SECONDS } from './locks.js';
export type { ResticLock, LockVerdict, StaleRuleContext } from './locks.js';
