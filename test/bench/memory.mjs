// Guest memory that the VM has handed back to its host.
//
// Under KVM/Firecracker with virtio-balloon free page reporting, freed guest pages go back
// to the host at once (page_reporting min_free_ms 0), and the next write into them faults
// them in again at about 330 MB/s instead of several GB/s. A tool that writes into tmpfs
// (a restore target, a repository) then runs 2-3x slower depending only on what ran just
// before it. So before every timed command the bench writes and unlinks a file as large as
// the command can write: the command then gets pages that are backed, whatever ran first.
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

const BLOCK = Buffer.alloc(4 << 20, 1);
const REPORTING = '/sys/module/page_reporting/parameters/min_free_ms';

/** What the machine does with freed memory, for the results file. */
export async function pageReportingState() {
  const ms = await readFile(REPORTING, 'utf8').then((s) => Number(s.trim()), () => undefined);
  if (ms === undefined) return 'no free page reporting';
  return `free page reporting after ${ms} ms: memory is warmed before every timed command`;
}

/** Backs `bytes` of free memory by writing them into `dir` and unlinking the file. */
export async function warmMemory(dir, bytes) {
  const file = join(dir, `.warm-${process.pid}`);
  const handle = await open(file, 'w');
  try {
    for (let done = 0; done < bytes; done += BLOCK.length) await handle.write(BLOCK, 0, BLOCK.length);
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
}
