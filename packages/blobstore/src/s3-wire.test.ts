import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCode } from './conformance.fixture.js';
import { S3Store } from './s3-store.js';

// What S3Store puts on the wire and how it reads answers a healthy RGW will not give
// (throttling, 5xx, cut-off bodies). The server below only records requests and replays
// canned answers; the S3 behaviour itself is tested against Ceph RGW in s3-store.test.ts.
interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe('S3Store on the wire', () => {
  let server: Server;
  let endpoint: string;
  const requests: Recorded[] = [];
  let answer: (req: Recorded) => { status: number; headers?: Record<string, string>; body?: string; cut?: boolean } = () => ({
    status: 200,
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
        requests.push(rec);
        const a = answer(rec);
        res.writeHead(a.status, a.headers);
        if (a.cut) {
          res.write(a.body ?? '');
          res.socket?.destroy();
          return;
        }
        res.end(a.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const store = () =>
    new S3Store({ bucket: 'bkt', endpoint, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK-not-a-real-secret' } });

  it('sends Content-MD5, Content-Length and If-None-Match, and no flexible checksums', async () => {
    answer = () => ({ status: 200, headers: { ETag: '"x"' } });
    requests.length = 0;
    const data = Buffer.from('hello blob');
    const s = store();
    await s.put('data/k', data, { ifNotExists: true });
    await s.put('data/k', data);
    s.close();
    const [conditional, plain] = requests;
    expect(conditional?.method).toBe('PUT');
    expect(conditional?.url.split('?')[0]).toBe('/bkt/data/k');
    expect(conditional?.headers['content-md5']).toBe(createHash('md5').update(data).digest('base64'));
    expect(conditional?.headers['content-length']).toBe(String(data.length));
    expect(conditional?.headers['if-none-match']).toBe('*');
    expect(conditional?.body.equals(data)).toBe(true);
    expect(Object.keys(conditional?.headers ?? {}).filter((h) => h.startsWith('x-amz-checksum'))).toEqual([]);
    expect(conditional?.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
    expect(plain?.headers['if-none-match']).toBeUndefined();
  });

  it('asks for ranges as bytes=first-last', async () => {
    answer = () => ({ status: 206, headers: { 'Content-Range': 'bytes 10-14/100', 'Content-Length': '5' }, body: 'abcde' });
    requests.length = 0;
    const s = store();
    expect((await s.get('p', { range: { offset: 10, length: 5 } })).toString()).toBe('abcde');
    s.close();
    expect(requests[0]?.headers.range).toBe('bytes=10-14');
  });

  it('treats a range clipped at the end of the object as InvalidRange', async () => {
    answer = () => ({ status: 206, headers: { 'Content-Range': 'bytes 95-99/100', 'Content-Length': '5' }, body: 'abcde' });
    const s = store();
    await expectCode(s.get('p', { range: { offset: 95, length: 10 } }), 'InvalidRange');
    s.close();
  });

  const xmlError = (code: string) => `<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`;
  const cases: Array<[string, number, string, string]> = [
    ['SlowDown', 503, 'SlowDown', 'Throttled'],
    ['InternalError', 500, 'InternalError', 'Unavailable'],
    ['BadGateway', 502, 'BadGateway', 'Unavailable'],
    ['AccessDenied', 403, 'AccessDenied', 'PermissionDenied'],
    ['PreconditionFailed', 412, 'PreconditionFailed', 'AlreadyExists'],
    ['QuotaExceeded', 403, 'QuotaExceeded', 'NoSpace'],
  ];
  for (const [name, status, code, expected] of cases) {
    it(`maps ${status} ${name} to ${expected}`, async () => {
      answer = () => ({ status, headers: { 'Content-Type': 'application/xml' }, body: xmlError(code) });
      const s = store();
      const err = await expectCode(s.put('k', Buffer.from('x')), expected as never);
      expect(err.retriable).toBe(['Throttled', 'Unavailable'].includes(expected));
      expect(err.message).not.toContain('SK-not-a-real-secret');
      s.close();
    });
  }

  it('maps a body cut off mid-transfer to a retriable error', async () => {
    answer = () => ({ status: 200, headers: { 'Content-Length': '1000' }, body: 'only a little', cut: true });
    const s = store();
    const err = await expectCode(s.get('k'), 'Unavailable');
    expect(err.retriable).toBe(true);
    s.close();
  });

  it('maps an idle socket to Timeout and an abort mid-request to Aborted', async () => {
    const hang = createServer(() => {}); // accepts, never answers
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const hangEndpoint = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    const s = new S3Store({
      bucket: 'bkt',
      endpoint: hangEndpoint,
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
      idleTimeoutMs: 200,
    });
    const timeout = await expectCode(s.get('k'), 'Timeout');
    expect(timeout.retriable).toBe(true);
    const controller = new AbortController();
    const pending = s.get('k', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expectCode(pending, 'Aborted');
    s.close();
    hang.closeAllConnections();
    await new Promise((resolve) => hang.close(resolve));
  });
});
