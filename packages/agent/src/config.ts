/**
 * Agent configuration from flags and environment variables (a flag wins over its
 * variable, a variable over the default). Every bad value is reported, each with what
 * was given and what is expected, before the agent does anything.
 */
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from './duration.js';
import { isLogLevel, type LogLevel } from '@ferry/log';

export interface AgentConfig {
  readonly nodeName: string;
  readonly podsDir: string;
  readonly coordinator: string;
  readonly insecure: boolean;
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string; readonly serverName?: string };
  readonly maxConcurrentJobs: number;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly cacheDir: string;
  readonly shutdownGraceMs: number;
  readonly heartbeatIntervalMs: number;
  readonly logLevel: LogLevel;
  readonly resticBinary: string;
  readonly nativeWorkers?: number;
}

interface OptionSpec {
  readonly flag: string;
  readonly env: readonly string[];
  readonly default?: string;
  readonly help: string;
  readonly boolean?: boolean;
}

/** The single table behind parsing, `--help` and docs/agent.md. */
export const OPTIONS = {
  nodeName: { flag: 'node-name', env: ['FERRY_NODE_NAME', 'NODE_NAME'], help: 'Node this agent runs on (downward API: spec.nodeName). Required.' },
  podsDir: { flag: 'pods-dir', env: ['FERRY_PODS_DIR'], default: '/var/lib/kubelet/pods', help: "The kubelet's pods directory as mounted in the agent (kubelet --root-dir + /pods; e.g. TKGI /var/vcap/data/kubelet/pods, k0s /var/lib/k0s/kubelet/pods)." },
  coordinator: { flag: 'coordinator', env: ['FERRY_COORDINATOR'], help: 'Coordinator AgentHub address, host:port. Required.' },
  insecure: { flag: 'insecure', env: ['FERRY_INSECURE'], boolean: true, default: 'false', help: 'Plaintext gRPC, for local development only.' },
  tlsCa: { flag: 'tls-ca', env: ['FERRY_TLS_CA'], default: '/etc/ferry/tls/ca.crt', help: "CA bundle the coordinator's certificate chains to." },
  tlsCert: { flag: 'tls-cert', env: ['FERRY_TLS_CERT'], default: '/etc/ferry/tls/tls.crt', help: "The agent's client certificate (mutual TLS)." },
  tlsKey: { flag: 'tls-key', env: ['FERRY_TLS_KEY'], default: '/etc/ferry/tls/tls.key', help: "The client certificate's private key." },
  tlsServerName: { flag: 'tls-server-name', env: ['FERRY_TLS_SERVER_NAME'], help: "Name to verify in the coordinator's certificate instead of the address's host." },
  maxConcurrentJobs: { flag: 'max-concurrent-jobs', env: ['FERRY_MAX_CONCURRENT_JOBS'], default: '2', help: 'Jobs running at once on this node (1-64); more are queued.' },
  listen: { flag: 'listen', env: ['FERRY_LISTEN'], default: '0.0.0.0:8080', help: 'Address of /metrics, /healthz and /readyz, host:port or :port.' },
  cacheDir: { flag: 'cache-dir', env: ['FERRY_CACHE_DIR'], default: '/var/cache/ferry', help: 'Writable directory for unacknowledged results, the restic cache and the tree-pack cache of S3 repositories.' },
  shutdownGrace: { flag: 'shutdown-grace', env: ['FERRY_SHUTDOWN_GRACE'], default: '20s', help: 'On SIGTERM, how long running jobs may finish before they are interrupted.' },
  heartbeatInterval: { flag: 'heartbeat-interval', env: ['FERRY_HEARTBEAT_INTERVAL'], default: '10s', help: 'Time between heartbeats to the coordinator.' },
  logLevel: { flag: 'log-level', env: ['FERRY_LOG_LEVEL'], default: 'info', help: 'debug, info, warn or error.' },
  resticBinary: { flag: 'restic-binary', env: ['FERRY_RESTIC_BINARY'], default: 'restic', help: 'restic executable for jobs with the restic mover.' },
  nativeWorkers: { flag: 'native-workers', env: ['FERRY_NATIVE_WORKERS'], help: 'Worker threads per native job (default: CPU cores).' },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid agent configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ParseConfigInput {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

export type ParsedCommand = { readonly kind: 'run'; readonly config: AgentConfig } | { readonly kind: 'help'; readonly text: string } | { readonly kind: 'version' };

export function parseCommand(input: ParseConfigInput): ParsedCommand {
  const parsedArgs = parseFlags(input.argv);
  if (parsedArgs['help']) return { kind: 'help', text: helpText() };
  if (parsedArgs['version']) return { kind: 'version' };
  return { kind: 'run', config: parseConfig(parsedArgs, input.env) };
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, version: { type: 'boolean' } };
  for (const spec of Object.values(OPTIONS) as OptionSpec[]) options[spec.flag] = { type: spec.boolean ? 'boolean' : 'string' };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError([`${(err as Error).message}; see --help`]);
  }
}

function parseConfig(flags: Record<string, string | boolean | undefined>, env: ParseConfigInput['env']): AgentConfig {
  const problems: string[] = [];
  const raw = (name: OptionName): { value: string | undefined; from: string } => {
    const spec: OptionSpec = OPTIONS[name];
    const flag = flags[spec.flag];
    if (flag !== undefined) return { value: String(flag), from: `--${spec.flag}` };
    for (const e of spec.env) if (env[e] !== undefined && env[e] !== '') return { value: env[e], from: e };
    return { value: spec.default, from: `--${spec.flag}` };
  };
  const required = (name: OptionName): string => {
    const { value } = raw(name);
    if (value === undefined) problems.push(`--${OPTIONS[name].flag} (or ${OPTIONS[name].env.join(' / ')}) is required: ${OPTIONS[name].help}`);
    return value ?? '';
  };
  const check = <T>(name: OptionName, parse: (v: string) => T | undefined, expected: string): T | undefined => {
    const { value, from } = raw(name);
    if (value === undefined) return undefined;
    const out = parse(value);
    if (out === undefined) problems.push(`${from}=${JSON.stringify(value)} is not valid: expected ${expected}`);
    return out;
  };

  const nodeName = required('nodeName');
  if (nodeName && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName)) problems.push(`node name ${JSON.stringify(nodeName)} is not a Kubernetes node name (lowercase DNS subdomain)`);
  const coordinator = required('coordinator');
  if (coordinator && !validTarget(coordinator)) problems.push(`--coordinator=${JSON.stringify(coordinator)} is not valid: expected host:port, e.g. ferry-coordinator.ferry-system.svc:7443`);
  const podsDir = check('podsDir', (v) => (isAbsolute(v) ? v : undefined), 'an absolute path');
  const cacheDir = check('cacheDir', (v) => (isAbsolute(v) ? v : undefined), 'an absolute path');
  const insecure = check('insecure', parseBool, 'true or false') ?? false;
  const maxConcurrentJobs = check('maxConcurrentJobs', (v) => intIn(v, 1, 64), 'an integer from 1 to 64');
  const listen = check('listen', parseListen, 'host:port or :port with a port from 0 to 65535');
  const shutdownGraceMs = check('shutdownGrace', parseDuration, 'a duration such as 20s or 1m');
  const heartbeatIntervalMs = check('heartbeatInterval', (v) => positive(parseDuration(v)), 'a positive duration such as 10s');
  const logLevel = check('logLevel', (v) => (isLogLevel(v) ? v : undefined), 'debug, info, warn or error');
  const nativeWorkers = check('nativeWorkers', (v) => intIn(v, 1, 64), 'an integer from 1 to 64');
  const tlsServerName = raw('tlsServerName').value;

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    nodeName,
    coordinator,
    podsDir: podsDir!,
    cacheDir: cacheDir!,
    insecure,
    tls: { caFile: raw('tlsCa').value!, certFile: raw('tlsCert').value!, keyFile: raw('tlsKey').value!, ...(tlsServerName ? { serverName: tlsServerName } : {}) },
    maxConcurrentJobs: maxConcurrentJobs!,
    listenHost: listen!.host,
    listenPort: listen!.port,
    shutdownGraceMs: shutdownGraceMs!,
    heartbeatIntervalMs: heartbeatIntervalMs!,
    logLevel: logLevel!,
    resticBinary: raw('resticBinary').value!,
    ...(nativeWorkers !== undefined ? { nativeWorkers } : {}),
  };
}

function validTarget(v: string): boolean {
  const m = /^(?:dns:\/\/\/)?(.+):(\d+)$/.exec(v);
  return m !== null && m[1] !== '' && !/\s/.test(m[1]!) && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}

function parseBool(v: string): boolean | undefined {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}

function intIn(v: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && n > 0 ? n : undefined;
}

function parseListen(v: string): { host: string; port: number } | undefined {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function helpText(): string {
  const lines = ['Usage: ferry-agent [options]', '', 'The Ferry node agent. Every option can also be set by the environment variable shown.', ''];
  for (const spec of Object.values(OPTIONS) as OptionSpec[]) {
    const def = spec.default !== undefined ? ` (default ${spec.default})` : '';
    lines.push(`  --${spec.flag}${spec.boolean ? '' : ' <value>'}`, `      ${spec.help}${def}  [${spec.env.join(', ')}]`);
  }
  lines.push('  --help', '  --version', '');
  return lines.join('\n');
}
