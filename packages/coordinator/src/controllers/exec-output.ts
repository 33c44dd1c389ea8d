/** What the coordinator keeps of a command's output it runs in a pod: never more than a short stderr tail for messages. */
import { Writable } from 'node:stream';

const TAIL_BYTES = 256;

/** Keeps the last bytes written (stderr), for a failure message. */
export class OutputTail extends Writable {
  private tail = Buffer.alloc(0);

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.tail = Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
    callback();
  }

  /** One line, printable, or '' when nothing was written. */
  text(): string {
    return this.tail.toString('utf8').replace(/[^\x20-\x7e\u00a0-\uffff]+/g, ' ').trim();
  }
}

/** Drops what is written (a hook's stdout). */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

/** `: <tail>` or '' — appended to failure messages. */
export function tailSuffix(tail: OutputTail): string {
  const t = tail.text();
  return t ? `; stderr ends: ${t}` : '';
}
