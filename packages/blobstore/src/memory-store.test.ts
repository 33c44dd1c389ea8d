import { describeBlobStoreConformance } from './conformance.fixture.js';
import { MemoryStore } from './memory-store.js';

describeBlobStoreConformance('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
