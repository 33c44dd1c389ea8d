// Turns raw measurements into medians, ratios and a printed table.
import { median } from './measure.mjs';

const MB = 1e6;

export function summarize(samples, dataset) {
  if (samples.errors.length > 0 && samples.seconds.length === 0) return { error: samples.errors[0] };
  const seconds = median(samples.seconds);
  return {
    seconds: round(seconds, 3),
    mbPerSecond: round(dataset.bytes / MB / seconds, 1),
    filesPerSecond: round(dataset.files / seconds, 0),
    bytesAdded: median(samples.bytesAdded),
    peakRssMiB: round(median(samples.rssKiB) / 1024, 1),
    runs: samples.seconds.length,
    ...(samples.errors.length > 0 ? { errors: samples.errors } : {}),
  };
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** ceiling share only where the phase does the ceiling's work (reading and sealing every byte). */
export function derive(row, ceilingMBps) {
  const f = row.tools.ferry;
  const r = row.tools.restic;
  const speedRatio = f?.seconds && r?.seconds ? round(r.seconds / f.seconds, 2) : null;
  const readsAll = row.phase === 'first backup' || row.phase === 'changed re-backup';
  const ceilingShare = readsAll && f?.mbPerSecond && ceilingMBps ? round(f.mbPerSecond / ceilingMBps, 2) : null;
  const b = row.tools['ferry-baseline'];
  const baselineRatio = f?.seconds && b?.seconds ? round(b.seconds / f.seconds, 2) : null;
  return { ...row, ferryToResticSpeed: speedRatio, ferryShareOfCeiling: ceilingShare, ferryToBaselineSpeed: baselineRatio };
}

function cell(v, width) {
  const s = v === null || v === undefined ? '-' : String(v);
  return s.length >= width ? s : s.padStart(width);
}

export function renderTable(result) {
  const tools = result.config.tools;
  const lines = [];
  for (const medium of result.media) {
    lines.push('');
    lines.push(
      `== ${medium.name} (${medium.root}); ceiling ${medium.ceiling?.mbPerSecond ?? '-'} MB/s ` +
        `(read+chunk+HMAC+AES-GCM, ${medium.ceiling?.workers ?? '?'} workers, ${medium.ceiling?.chunker ?? '?'} chunker)`,
    );
    const cols = `${'s'.padStart(7)}${'MB/s'.padStart(8)}${'files/s'.padStart(9)}${'added MB'.padStart(10)}${'RSS MiB'.padStart(9)} `;
    const groupWidth = cols.length;
    lines.push(`${''.padEnd(29)} ${tools.map((t) => `| ${t.padEnd(groupWidth)}`).join('')}| ferry/restic | of ceiling`);
    lines.push(`${'data set'.padEnd(9)} ${'phase'.padEnd(19)} ${tools.map(() => `| ${cols}`).join('')}| ${'(speed)'.padStart(12)} |`);
    for (const row of medium.rows) {
      let line = `${row.dataset.padEnd(9)} ${row.phase.padEnd(19)} `;
      for (const t of tools) {
        const m = row.tools[t];
        if (m === undefined || m.error !== undefined) {
          line += `| ${(m?.error ? 'ERROR (see results file)' : '-').padEnd(groupWidth)}`;
          continue;
        }
        line += `| ${cell(m.seconds.toFixed(2), 7)}${cell(m.mbPerSecond, 8)}${cell(m.filesPerSecond, 9)}${cell((m.bytesAdded / MB).toFixed(1), 10)}${cell(m.peakRssMiB, 9)} `;
      }
      const ratio = row.ferryToResticSpeed === null ? '-' : `${row.ferryToResticSpeed}x`;
      const share = row.ferryShareOfCeiling === null ? '-' : `${Math.round(row.ferryShareOfCeiling * 100)}%`;
      const vsBaseline = row.ferryToBaselineSpeed === null ? '' : ` | ${cell(`${row.ferryToBaselineSpeed}x`, 9)}`;
      lines.push(`${line}| ${cell(ratio, 12)} | ${cell(share, 10)}${vsBaseline}`);
    }
  }
  lines.push('');
  lines.push('ferry/restic: restic time / Ferry time (above 1: Ferry is faster). of ceiling: Ferry MB/s / ceiling MB/s.');
  if (tools.includes('ferry-baseline')) lines.push('last column: ferry-baseline time / Ferry time (BENCH_BASELINE_CLI, the build compared against).');
  lines.push('MB = 10^6 bytes; MB/s and files/s over the whole data set; added = repository growth (du -sb); medians of runs.');
  return lines.join('\n');
}
