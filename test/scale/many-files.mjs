// Child process for scale.test.ts: backs up a tree of many small or empty files under the
// heap limit the test passes to node; prints the summary and peak heap figures.
import { LocalStore } from '@ferry/blobstore';
import { Repository } from '@ferry/repository';

const [repoDir, srcDir] = process.argv.slice(2);
const store = new LocalStore({ root: repoDir });
const credential = { kind: 'password', password: 'scale' };
await Repository.init({ store, credential, scryptN: 1024 });
const repo = await Repository.open({ store, credential });
let peakHeap = 0;
let peakRss = 0;
const timer = setInterval(() => {
  const m = process.memoryUsage();
  peakHeap = Math.max(peakHeap, m.heapUsed);
  peakRss = Math.max(peakRss, m.rss);
}, 200);
const t = performance.now();
const s = await repo.backup({ source: { kind: 'paths', paths: [srcDir] }, identity: { kind: 'host', host: 'scale', path: srcDir } });
clearInterval(timer);
console.log(JSON.stringify({ files: s.filesNew, dirs: s.dirs, problems: s.problems.length, seconds: (performance.now() - t) / 1000, peakHeap, peakRss }));
await repo.close();
