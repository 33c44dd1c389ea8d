import { VirtualClock } from './clock.js';
import { describeBlobStoreConformance } from './conformance.fixture.js';
import { FaultyStore } from './faulty-store.js';
import { LimitedStore } from './limited-store.js';
import { MemoryStore } from './memory-store.js';
import { RetryingStore } from './retrying-store.js';

const noCleanup = async () => {};

describeBlobStoreConformance('RetryingStore(MemoryStore)', async () => ({
  store: new RetryingStore(new MemoryStore(), { clock: new VirtualClock() }),
  cleanup: noCleanup,
}));

describeBlobStoreConformance('LimitedStore(MemoryStore), 4 slots, 1 GB/s each way', async () => ({
  store: new LimitedStore(new MemoryStore(), {
    maxConcurrency: 4,
    uploadBytesPerSecond: 1e9,
    downloadBytesPerSecond: 1e9,
  }),
  cleanup: noCleanup,
}));

describeBlobStoreConformance('FaultyStore(MemoryStore) without rules', async () => ({
  store: new FaultyStore(new MemoryStore()),
  cleanup: noCleanup,
}));

// The contract must survive a flaky backend once retries are in front of it: a quarter of
// all calls fail, half before reaching the store (torn) and half after (response lost).
describeBlobStoreConformance('RetryingStore(FaultyStore(MemoryStore)) with 25% transient faults', async () => ({
  store: new RetryingStore(
    new FaultyStore(new MemoryStore(), {
      seed: 42,
      rules: [
        { code: 'Unavailable', probability: 0.125, when: 'before' },
        { code: 'Throttled', probability: 0.125, when: 'after' },
      ],
    }),
    { clock: new VirtualClock(), maxAttempts: 30 },
  ),
  cleanup: noCleanup,
}));
