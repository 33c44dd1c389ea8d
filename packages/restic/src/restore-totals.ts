import { isRecord, numberField, parseJsonLine, stringField } from './json-lines.js';
import type { RunResult } from './run.js';

export interface RestoreTotals {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
}

/**
 * restic 0.14's restore prints no JSON and no stats, so the totals come from
 * `restic ls --json` of the same snapshot, limited to the included subtree.
 */
export async function restoreTotals(
  ls: (args: string[]) => Promise<RunResult>,
  snapshotId: string,
  include: string | undefined,
): Promise<RestoreTotals> {
  const result = await ls(['ls', '--json', '--no-lock', snapshotId]);
  const totals = { files: 0, dirs: 0, bytes: 0 };
  for (const line of result.stdout.split('\n')) {
    const node = parseJsonLine(line);
    if (!isRecord(node) || stringField(node, 'struct_type') !== 'node') continue;
    const path = stringField(node, 'path') ?? '';
    if (include && path !== include && !path.startsWith(`${include}/`)) continue;
    const type = stringField(node, 'type');
    if (type === 'dir') totals.dirs++;
    else {
      totals.files++;
      totals.bytes += numberField(node, 'size') ?? 0;
    }
  }
  return totals;
}
