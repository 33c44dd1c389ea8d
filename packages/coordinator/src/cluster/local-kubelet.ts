/**
 * What the kubelet does for a pod in standalone mode, no more: lay out its volume
 * directories the way the kubelet does under the pods dir (so the agent finds them where
 * it looks on a real node), run the restore-wait init container as a local process with
 * the volume mounts mapped to those directories, and report the pod Running once init is
 * done. Deleting a pod removes its directory, as the kubelet does with emptyDir volumes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '@ferry/log';
import type { Clock } from '../clock.js';

export interface LocalKubeletOptions {
  readonly podsDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Writes the pod's new status (the store's status writer). */
  readonly setStatus: (pod: V1Pod, status: V1PodStatus) => void;
}

/** Volume kinds kept by volume name under their plugin directory (see docs/agent.md). */
const PLUGIN_DIRS: Record<string, string> = { emptyDir: 'kubernetes.io~empty-dir' };

export class LocalKubelet {
  private readonly inits = new Map<string, ChildProcess>();

  constructor(private readonly o: LocalKubeletOptions) {}

  podDir(pod: V1Pod): string {
    return join(this.o.podsDir, pod.metadata?.uid ?? '');
  }

  /** Host directory of each volume the kubelet would have set up for this pod. */
  volumeDirs(pod: V1Pod): Map<string, string> {
    const dirs = new Map<string, string>();
    for (const v of pod.spec?.volumes ?? []) {
      const plugin = Object.keys(PLUGIN_DIRS).find((k) => (v as unknown as Record<string, unknown>)[k] !== undefined);
      if (plugin) dirs.set(v.name, join(this.podDir(pod), 'volumes', PLUGIN_DIRS[plugin]!, v.name));
    }
    return dirs;
  }

  /** Sets the pod up; an init container runs first, and the pod runs when it exits 0. */
  start(pod: V1Pod): void {
    // The pod directory exists even without volumes: exec and init containers run in it.
    mkdirSync(this.podDir(pod), { recursive: true });
    for (const dir of this.volumeDirs(pod).values()) mkdirSync(dir, { recursive: true });
    const init = (pod.spec?.initContainers ?? [])[0];
    if (!init) return this.o.setStatus(pod, this.running());
    this.o.setStatus(pod, { phase: 'Pending', initContainerStatuses: [{ name: init.name, image: init.image ?? '', imageID: '', ready: false, restartCount: 0, state: { running: { startedAt: new Date(this.o.clock.now()) } } }] });
    this.runInit(pod, init);
  }

  stop(pod: V1Pod): void {
    const key = pod.metadata?.uid ?? '';
    this.inits.get(key)?.kill('SIGTERM');
    this.inits.delete(key);
    rmSync(this.podDir(pod), { recursive: true, force: true });
  }

  stopAll(): void {
    for (const child of this.inits.values()) child.kill('SIGTERM');
    this.inits.clear();
  }

  private runInit(pod: V1Pod, init: V1Container): void {
    const mounts = this.mountMap(pod, init);
    const argv = [...(init.command ?? []), ...(init.args ?? [])].map((a) => mounts.get(a) ?? a);
    const [command = '', ...args] = argv;
    const terminationLog = join(this.podDir(pod), `${init.name}.termination-log`);
    const env = { ...process.env, FERRY_TERMINATION_LOG: terminationLog, ...Object.fromEntries((init.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])) };
    const child = spawn(command, args, { cwd: this.podDir(pod), env, stdio: ['ignore', 'inherit', 'inherit'] });
    const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    this.o.log.info('init container started', { pod: name, container: init.name, pid: child.pid });
    this.inits.set(pod.metadata?.uid ?? '', child);
    child.on('error', (err) => this.finishInit(pod, init, 128, err.message));
    child.on('exit', (code, signal) => this.finishInit(pod, init, code ?? 137, signal ? `killed by ${signal}` : readTail(terminationLog)));
  }

  private finishInit(pod: V1Pod, init: V1Container, exitCode: number, message: string): void {
    const uid = pod.metadata?.uid ?? '';
    if (!this.inits.has(uid)) return;
    this.inits.delete(uid);
    const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (exitCode === 0) {
      this.o.log.info('init container completed; pod running', { pod: name, container: init.name });
      return this.o.setStatus(pod, this.running());
    }
    this.o.log.warn('init container failed; pod failed', { pod: name, container: init.name, exitCode, message });
    this.o.setStatus(pod, { phase: 'Failed', reason: 'InitContainerFailed', message: `init container ${init.name} exited ${exitCode}: ${message}` });
  }

  private running(): V1PodStatus {
    return { phase: 'Running', startTime: new Date(this.o.clock.now()), conditions: [{ type: 'Ready', status: 'True' }] };
  }

  /** Container mount path → host directory, for the volumes this container mounts. */
  private mountMap(pod: V1Pod, c: V1Container): Map<string, string> {
    const dirs = this.volumeDirs(pod);
    const out = new Map<string, string>();
    for (const m of c.volumeMounts ?? []) {
      const dir = dirs.get(m.name);
      if (dir) out.set(m.mountPath, m.subPath ? join(dir, m.subPath) : dir);
    }
    return out;
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-1024);
  } catch {
    return 'no termination message';
  }
}
