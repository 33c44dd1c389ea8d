#!/usr/bin/env node
/**
 * ferry-restore-wait: the init container of a restored pod. Waits until every volume
 * holds `.ferry/<restore-uid>`, removes the markers and exits 0; exits 1 with the reason
 * when a `.ferry/<restore-uid>.failed` marker appears, 3 on timeout, 2 on bad usage.
 *
 * It starts in every restored pod: keep the import graph to node: built-ins and the two
 * tiny modules it needs (no gRPC, no prom-client, no Ferry packages).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDuration } from '../duration.js';
import { waitForRestore } from './wait.js';

const USAGE = `Usage: ferry-restore-wait --restore-uid <uid> [--timeout <duration>] [--poll-interval <duration>] <volume-path>...

Waits until every volume path holds .ferry/<uid> (written by the Ferry agent after it
restored the volume), removes the markers and exits 0. Exits 1 if a .ferry/<uid>.failed
marker appears (its reason is printed and written to the termination log), 3 on timeout.
Environment: FERRY_RESTORE_UID, FERRY_RESTORE_TIMEOUT, FERRY_RESTORE_VOLUMES (comma-separated), FERRY_TERMINATION_LOG.
`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_TIMEOUT = 3;

function say(text: string): void {
  process.stdout.write(`ferry-restore-wait: ${text}\n`);
}

// kubectl describe pod shows the termination message; stderr is the fallback.
function fail(text: string, terminationLog: string): void {
  process.stderr.write(`ferry-restore-wait: ${text}\n`);
  try {
    writeFileSync(terminationLog, text);
  } catch {
    // not writable or not there (outside Kubernetes): stderr must do
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      options: {
        'restore-uid': { type: 'string' },
        timeout: { type: 'string' },
        'poll-interval': { type: 'string' },
        'termination-log': { type: 'string' },
        help: { type: 'boolean' },
      },
      allowPositionals: true,
    }));
  } catch (err) {
    process.stderr.write(`ferry-restore-wait: ${(err as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const env = process.env;
  const restoreUid = values['restore-uid'] ?? env['FERRY_RESTORE_UID'] ?? '';
  const volumes = positionals.length > 0 ? positionals : (env['FERRY_RESTORE_VOLUMES'] ?? '').split(',').filter((v) => v !== '');
  const timeoutText = values.timeout ?? env['FERRY_RESTORE_TIMEOUT'];
  const timeoutMs = timeoutText === undefined || timeoutText === '' || timeoutText === '0' ? undefined : parseDuration(timeoutText);
  const pollIntervalMs = parseDuration(values['poll-interval'] ?? '500ms');
  const terminationLog = values['termination-log'] ?? env['FERRY_TERMINATION_LOG'] ?? '/dev/termination-log';
  const problems: string[] = [];
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(restoreUid)) problems.push(`--restore-uid ${JSON.stringify(restoreUid)} must be 1-128 characters of A-Z a-z 0-9 . _ -`);
  if (volumes.length === 0) problems.push('give at least one volume path');
  if (timeoutText && timeoutText !== '0' && timeoutMs === undefined) problems.push(`--timeout ${JSON.stringify(timeoutText)} is not a duration such as 30m`);
  if (pollIntervalMs === undefined || pollIntervalMs <= 0) problems.push('--poll-interval must be a positive duration such as 500ms');
  if (problems.length > 0) {
    process.stderr.write(`ferry-restore-wait: ${problems.join('; ')}\n${USAGE}`);
    return EXIT_USAGE;
  }
  say(`waiting for restore ${restoreUid} of ${volumes.length} volume(s): ${volumes.join(', ')}${timeoutMs ? ` (timeout ${seconds(timeoutMs)})` : ''}`);
  const outcome = await waitForRestore({
    restoreUid,
    volumes,
    pollIntervalMs: pollIntervalMs!,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    onWaiting: (pending, elapsed) => say(`still waiting after ${seconds(elapsed)} for ${pending.join(', ')}`),
  });
  switch (outcome.kind) {
    case 'restored':
      for (const m of outcome.unremovable) say(`warning: could not remove the marker ${m}`);
      say(`all ${volumes.length} volume(s) restored; waited ${seconds(outcome.elapsedMs)}`);
      return EXIT_OK;
    case 'failed':
      fail(`restore of volume ${outcome.volume} failed: ${outcome.reason}`, terminationLog);
      return EXIT_FAILED;
    case 'timeout':
      fail(`timed out after ${seconds(outcome.elapsedMs)} waiting for the restore of ${outcome.pending.join(', ')}; is the Ferry agent on this node running?`, terminationLog);
      return EXIT_TIMEOUT;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferry-restore-wait: ${(err as Error).message}\n`);
    process.exit(EXIT_FAILED);
  },
);
