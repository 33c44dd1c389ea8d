// Throughput of the streaming chunker on random data: node --import tsx test/bench/chunker-speed.mjs
import { randomBytes } from 'node:crypto';
import { Chunker, gearTable } from '../../packages/repository/src/chunker.ts';

const totalMiB = Number(process.argv[2] ?? 512);
const blockSize = 8 * 1024 * 1024;
const blocks = Array.from({ length: 8 }, () => randomBytes(blockSize));
const gear = gearTable(Buffer.alloc(32, 7));

function run(mib) {
  const chunker = new Chunker({ gear });
  let chunks = 0;
  const t0 = process.hrtime.bigint();
  for (let done = 0, k = 0; done < mib * 1024 * 1024; done += blockSize, k++) {
    chunks += chunker.push(blocks[k % blocks.length]).length;
  }
  chunks += chunker.flush().length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbPerS: (mib * 1024 * 1024) / 1e6 / s, chunks };
}

run(64); // warm up the JIT
const { mbPerS, chunks } = run(totalMiB);
console.log(`chunker: ${totalMiB} MiB in ${chunks} chunks (mean ${(totalMiB / chunks).toFixed(2)} MiB): ${mbPerS.toFixed(0)} MB/s`);
