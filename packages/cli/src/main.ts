#!/usr/bin/env node
import { processIO } from './io.js';
import { runCli } from './program.js';

// The AWS SDK warns on every run under Node 20 about its future Node 22 requirement;
// a CLI user cannot act on that, and it would drown the one-line error contract.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

// grpc-js passes the --server host as the TLS ServerName even when it is an IP address, and
// Node then warns once (DEP0123) that SNI ignores IPs. Certificates are still checked against
// the IP; the user cannot act on the warning, and it would break the one-line error contract.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

// The first Ctrl-C cancels the running command through its AbortSignal (it then exits
// 130 after cleaning up); a second one exits at once.
const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort(new Error('interrupted'));
});
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // `ferry dump ... | head` closes the pipe early: that is not a failure worth a trace.
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

const code = await runCli({ args: process.argv.slice(2), io: processIO(), signal: controller.signal });
process.exitCode = code;
// Keep-alive sockets of an S3 client could hold the process open; output is already
// written (stdout/stderr are synchronous for files and pipes on Linux).
setTimeout(() => process.exit(code), 200).unref();
