#!/usr/bin/env node
/**
 * ferry-agent: the node daemon. Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT),
 * 2 for a bad configuration, 1 for anything else that stops it.
 */
import { Agent } from './agent.js';
import { isAgentError } from './errors.js';
import { ConfigError, parseCommand } from './config.js';
import { createLogger } from '@ferry/log';
import { AGENT_VERSION } from './version.js';

async function main(): Promise<number> {
  let command;
  try {
    command = parseCommand({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (command.kind === 'help') {
    process.stdout.write(command.text);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`ferry-agent ${AGENT_VERSION}\n`);
    return 0;
  }
  const log = createLogger({ level: command.config.logLevel });
  const agent = new Agent({ config: command.config, log });
  let stopping = false;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (signal: string): void => {
    log.info('signal received', { signal });
    if (stopping) return;
    stopping = true;
    agent.shutdown().then(stopped, (err: unknown) => {
      log.error('shutdown failed', { error: (err as Error).message });
      stopped();
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await agent.start();
  } catch (err) {
    log.error('agent failed to start', { error: (err as Error).message });
    return isAgentError(err, 'InvalidConfig') ? 2 : 1;
  }
  await done;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferry-agent: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
