import { describe, expect, it } from 'vitest';
import type { ControllerContext } from '../context.js';
import { silentLogger } from '@ferry/log';
import { BackgroundTasks } from './tasks.js';

function registry(): { tasks: BackgroundTasks; enqueued: string[] } {
  const enqueued: string[] = [];
  const ctx = { log: silentLogger, enqueue: (key: string) => void enqueued.push(key) } as unknown as ControllerContext;
  return { tasks: new BackgroundTasks(ctx), enqueued };
}

/** Work that runs until its task is aborted, then reports how it ended. */
const untilAborted = (h: { abort: AbortController }) => new Promise<string>((resolve) => h.abort.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));

describe('BackgroundTasks', () => {
  it('runs a key once at a time and keeps the outcome until forgotten', async () => {
    const { tasks, enqueued } = registry();
    const first = tasks.start('command/a', { bytes: 0 }, 'PodVolumeBackup/ns/a', async () => 'done');
    expect(tasks.start('command/a', { bytes: 0 }, 'PodVolumeBackup/ns/a', async () => 'second')).toBe(first);
    await new Promise((r) => setImmediate(r));
    expect(tasks.get('command/a')?.outcome).toBe('done');
    expect(enqueued).toEqual(['PodVolumeBackup/ns/a']);
    tasks.forget('command/a');
    expect(tasks.get('command/a')).toBeUndefined();
  });

  it('drops a task whose work threw, so the next reconcile starts it again', async () => {
    const { tasks } = registry();
    tasks.start('command/b', {}, 'PodVolumeBackup/ns/b', async () => {
      throw new Error('API server went away');
    });
    await new Promise((r) => setImmediate(r));
    expect(tasks.get('command/b')).toBeUndefined();
  });

  it('abortAll ends every running task (a leader stepping down stops its commands)', async () => {
    const { tasks, enqueued } = registry();
    tasks.start('command/c', {}, 'PodVolumeBackup/ns/c', untilAborted);
    tasks.start('command/d', {}, 'PodVolumeBackup/ns/d', untilAborted);
    await new Promise((r) => setImmediate(r));
    expect(tasks.get('command/c')?.outcome).toBeUndefined();
    tasks.abortAll();
    await new Promise((r) => setImmediate(r));
    expect([tasks.get('command/c')?.outcome, tasks.get('command/d')?.outcome]).toEqual(['aborted', 'aborted']);
    expect(enqueued.sort()).toEqual(['PodVolumeBackup/ns/c', 'PodVolumeBackup/ns/d']);
  });
});
