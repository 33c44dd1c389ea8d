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

/** The one JSON document a command like `snapshots --json` prints, wherever it sits. */
export function parseJsonDocument(text: string): unknown {
  const values = parseJsonLines(text);
  return values[values.length - 1];
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
