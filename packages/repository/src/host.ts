/** Who and where a writer runs, as recorded in snapshots, key slots and session markers. */
import { hostname, userInfo } from 'node:os';

export function currentHost(): string {
  return hostname();
}

export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // A container user without a passwd entry has no name.
    return String(process.getuid?.() ?? '');
  }
}
