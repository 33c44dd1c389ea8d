/** The in-memory log book's bounds and the stored format, without a cluster. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { isCoordinatorError } from '../errors.js';
import { OperationLogBook } from './book.js';
import { decodeLog, encodeLog, logKey, parseLogKey } from './format.js';

const op = { kind: 'Backup' as const, uid: 'u-1' };
const line = (msg: string) => ({ level: 'info' as const, source: 'coordinator', msg });

describe('OperationLogBook', () => {
  it('keeps lines only for operations it began, stamped by the Clock', () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const book = new OperationLogBook(clock);
    book.record(op, line('before begin'));
    book.begin(op);
    clock.advance(1500);
    book.record(op, line('after begin'));
    book.record({ kind: 'Restore', uid: 'u-1' }, line('another kind, same uid'));
    expect(book.peek(op)).toEqual({ complete: true, lines: [{ time: '2030-01-01T00:00:01.500Z', level: 'info', source: 'coordinator', msg: 'after begin' }] });
    expect(book.peek({ kind: 'Backup', uid: 'unknown' })).toEqual({ lines: [], complete: false });
  });

  it('keeps the head and the newest lines past the cap and marks what it dropped', () => {
    const book = new OperationLogBook(new ManualClock(), { maxLines: 10, head: 3, maxMessageChars: 20, maxOperations: 5 });
    book.begin(op);
    for (let i = 0; i < 25; i++) book.record(op, line(`line ${i}`));
    const { lines } = book.peek(op);
    expect(lines.map((l) => l.msg.replace(/ here:.*/, ''))).toEqual(['line 0', 'line 1', 'line 2', '15 lines dropped', ...Array.from({ length: 7 }, (_, i) => `line ${18 + i}`)]);
    expect(lines[3]?.level).toBe('warn');
    book.record(op, line('x'.repeat(50)));
    expect(book.peek(op).lines.at(-1)?.msg).toBe(`${'x'.repeat(20)}… (cut)`);
  });

  it('records a once-keyed line once, and forgets the oldest operation beyond maxOperations', () => {
    const book = new OperationLogBook(new ManualClock(), { maxLines: 10, head: 3, maxMessageChars: 100, maxOperations: 2 });
    book.begin(op);
    book.record(op, line('started'), 'start/j1');
    book.record(op, line('started'), 'start/j1');
    expect(book.peek(op).lines).toHaveLength(1);
    book.begin({ kind: 'Backup', uid: 'u-2' });
    book.begin({ kind: 'Backup', uid: 'u-3' });
    expect([book.has('u-1'), book.has('u-2'), book.has('u-3'), book.size]).toEqual([false, true, true, 2]);
  });
});

describe('stored format', () => {
  it('names the key by kind, namespace, name and uid under ferry_logs/ and parses it back', () => {
    const id = { kind: 'Restore' as const, namespace: 'shop', name: 'r1', uid: '1234-abcd' };
    expect(logKey(id)).toBe('ferry_logs/restore/shop/r1/1234-abcd.jsonl.gz');
    expect(parseLogKey(logKey(id))).toEqual(id);
    expect(parseLogKey('shop/config')).toBeUndefined();
  });

  it('round-trips lines through gzip-compressed JSON lines and refuses a damaged object', () => {
    const lines = [{ time: '2030-01-01T00:00:00.000Z', level: 'error' as const, source: 'agent/node-a', msg: 'job failed', volume: 'shop/db-0/data', code: 'VolumeNotFound' }];
    expect(decodeLog(encodeLog(lines), 'Backup shop/b1')).toEqual(lines);
    expect(decodeLog(gzipSync('{"msg":"only a message"}\n'), 'x')).toEqual([{ time: '', level: 'info', source: '', msg: 'only a message' }]);
    let err: unknown;
    try {
      decodeLog(Buffer.from('not gzip'), 'Backup shop/b1');
    } catch (e) {
      err = e;
    }
    expect(isCoordinatorError(err, 'Internal') && err.message).toMatch(/stored log of Backup shop\/b1 is damaged/);
  });
});
