/** How `ferry backup logs` prints one line. */
import { describe, expect, it } from 'vitest';
import { formatLogLine } from './logs.js';

describe('formatLogLine', () => {
  it('prints time, padded level, source, the volume in brackets, the message and the code', () => {
    expect(formatLogLine({ time: '2030-01-01T00:00:00.000Z', level: 'warn', source: 'agent/node-a', message: '/d0/f1: EACCES', volume: 'shop/db-0/data', code: 'FileError' })).toBe('2030-01-01T00:00:00.000Z warn  agent/node-a [shop/db-0/data] /d0/f1: EACCES (FileError)\n');
  });

  it('leaves out an empty volume and code', () => {
    expect(formatLogLine({ time: 't', level: 'error', source: 'coordinator', message: 'Backup shop/b1 ended Failed', volume: '', code: '' })).toBe('t error coordinator Backup shop/b1 ended Failed\n');
  });
});
