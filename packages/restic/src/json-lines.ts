/**
 * restic mixes JSON messages with plain text (warnings, "Fatal:" lines, progress bars) on
 * both streams, so every consumer parses line by line and skips what is not JSON.
 */
export function parseJsonLine(line: string): unknown {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}

export function parseJsonLines(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    const value = parseJsonLine(line);
    if (value !== undefined) out.push(value);
  }
  return out;
}

/**
 * The one JSON document a command like `snapshots --json` or `cat config` prints (some
 * print it pretty, over many lines), skipping plain-text lines around it.
 */
export function parseJsonDocument(text: string): unknown {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = lines[i]?.trimStart() ?? '';
    if (!head.startsWith('{') && !head.startsWith('[')) continue;
    // trailing text after the document is at most a few lines; don't go quadratic on junk
    for (let j = lines.length; j > i && j > lines.length - 20; j--) {
      const candidate = parseWhole(lines.slice(i, j).join('\n'));
      if (candidate !== undefined) return candidate;
    }
  }
  return undefined;
}

function parseWhole(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function numberField(record: Record<string, unknown>, key: string): number | undefined {
  const value = record[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

/** Feeds chunks of a stream and calls `onLine` for each complete line. */
export class LineSplitter {
  private pending = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    const parts = (this.pending + chunk).split('\n');
    this.pending = parts.pop() ?? '';
    for (const part of parts) this.onLine(part);
  }

  flush(): void {
    if (this.pending !== '') this.onLine(this.pending);
    this.pending = '';
  }
}
