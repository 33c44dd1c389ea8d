import type { TestProject } from 'vitest/node';
import { startRgwCluster } from './rgw/rgw-cluster.js';

/**
 * Starts one throwaway Ceph RGW for the whole run and hands its connection to the tests
 * (`inject('s3')`; see s3.ts for a fresh bucket per test). Fails loudly, never skips, when
 * Ceph is missing. FERRY_RGW_OSD_STORE=bluestore keeps OSD data on disk instead of in RAM.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const osdStore = process.env.FERRY_RGW_OSD_STORE === 'bluestore' ? 'bluestore' : 'memstore';
  const cluster = await startRgwCluster({ osdStore });
  console.log(`[global-setup] Ceph RGW (${osdStore}) ready at ${cluster.connection.endpoint} in ${cluster.startupMs} ms`);
  project.provide('s3', cluster.connection);
  return () => cluster.stop();
}
