/**
 * Coordinator configuration from flags and environment variables (a flag wins over its
 * variable, a variable over the default). Every bad value is reported at once.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDuration } from '@ferry/api';
import type { ControllerSettings } from './context.js';
import { HELPER_POD_DEFAULTS, parseTolerations, quantityProblem, type HelperPodConfig } from './helpers/helper-settings.js';
import { AGENT_IDENTITY_MODES, isAgentIdentityMode, type AgentIdentity } from './agent-identity.js';
import type { HubTls } from './hub.js';
import type { ApiTlsFiles } from './api/tls-listener.js';
import { isLogLevel, type LogLevel } from '@ferry/log';

export interface CoordinatorConfig {
  readonly namespace: string;
  readonly kubeconfig?: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly hubAddress: string;
  readonly insecure: boolean;
  readonly hubTls: HubTls;
  /** How an agent's client certificate must name the node it claims. */
  readonly agentIdentity: AgentIdentity;
  /** Undefined: no public API server (--api-listen off). `tls` is undefined with --insecure (bearer tokens only). */
  readonly api?: { readonly host: string; readonly port: number; readonly tls?: ApiTlsFiles };
  /** Undefined: no webhook server (restores then need pods annotated by hand). */
  readonly webhook?: { readonly host: string; readonly port: number; readonly certFile: string; readonly keyFile: string };
  /** This replica's pod, labelled ferry.dev/leader=true while it leads (the Service selects that label). */
  readonly podName?: string;
  readonly leaderElection: { readonly enabled: boolean; readonly leaseName: string; readonly leaseDurationMs: number; readonly renewDeadlineMs: number; readonly retryPeriodMs: number };
  readonly controllers: ControllerSettings;
  readonly workers: number;
  readonly logLevel: LogLevel;
  /** Standalone mode: no Kubernetes; state, pods and volumes on this machine (docs/standalone.md). */
  readonly standalone?: StandaloneConfig;
}

export interface StandaloneConfig {
  readonly stateDir: string;
  readonly manifestsDir: string;
  readonly podsDir: string;
  readonly nodeName: string;
}

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly default?: string;
  readonly help: string;
  readonly boolean?: boolean;
}

/** The single table behind parsing, --help and docs/coordinator.md. */
export const OPTIONS = {
  namespace: { flag: 'namespace', env: 'FERRY_NAMESPACE', default: 'ferry-system', help: "The coordinator's namespace (downward API metadata.namespace): BackupRepositories, the cluster key Secret, the Lease." },
  kubeconfig: { flag: 'kubeconfig', env: 'KUBECONFIG', help: 'Kubeconfig file; default: in-cluster service account.' },
  listen: { flag: 'listen', env: 'FERRY_LISTEN', default: '0.0.0.0:8080', help: '/metrics, /healthz, /readyz.' },
  hubListen: { flag: 'hub-listen', env: 'FERRY_HUB_LISTEN', default: '0.0.0.0:9443', help: 'AgentHub gRPC address (mTLS).' },
  insecure: { flag: 'insecure', env: 'FERRY_INSECURE', boolean: true, default: 'false', help: 'Plaintext, unauthenticated AgentHub. Local development only.' },
  tlsCa: { flag: 'tls-ca', env: 'FERRY_TLS_CA', default: '/etc/ferry/tls/ca.crt', help: 'CA that agent client certificates chain to.' },
  tlsCert: { flag: 'tls-cert', env: 'FERRY_TLS_CERT', default: '/etc/ferry/tls/tls.crt', help: 'AgentHub server certificate (re-read when it changes).' },
  tlsKey: { flag: 'tls-key', env: 'FERRY_TLS_KEY', default: '/etc/ferry/tls/tls.key', help: 'AgentHub server key.' },
  agentIdentity: { flag: 'agent-identity', env: 'FERRY_AGENT_IDENTITY', default: 'node-certificate', help: "node-certificate: an agent's client certificate must name its node (CN or DNS SAN = node name, ferry-agent-<node> or system:node:<node>). shared-certificate: also accept the one certificate all agents share (--agent-certificate-name) for any node; weaker: any holder of it can claim any node." },
  agentCertificateName: { flag: 'agent-certificate-name', env: 'FERRY_AGENT_CERTIFICATE_NAME', default: 'ferry-agent', help: 'CN or DNS SAN of the shared agent certificate (only with --agent-identity shared-certificate).' },
  apiListen: { flag: 'api-listen', env: 'FERRY_API_LISTEN', default: '0.0.0.0:9444', help: "Public gRPC API address (docs/api.md); 'off' disables it. TLS unless --insecure." },
  apiTlsCert: { flag: 'api-tls-cert', env: 'FERRY_API_TLS_CERT', help: 'API serving certificate (re-read when it changes). Default: --tls-cert.' },
  apiTlsKey: { flag: 'api-tls-key', env: 'FERRY_API_TLS_KEY', help: 'API serving key. Default: --tls-key.' },
  apiClientCa: { flag: 'api-client-ca', env: 'FERRY_API_CLIENT_CA', help: 'CA that API client certificates must chain to (certificates are optional; bearer tokens work without). Default: --tls-ca.' },
  webhookListen: { flag: 'webhook-listen', env: 'FERRY_WEBHOOK_LISTEN', default: '0.0.0.0:10250', help: "Mutating webhook HTTPS address; 'off' disables it." },
  webhookCert: { flag: 'webhook-cert', env: 'FERRY_WEBHOOK_CERT', default: '/etc/ferry/webhook/tls.crt', help: 'Webhook serving certificate (re-read when it changes).' },
  webhookKey: { flag: 'webhook-key', env: 'FERRY_WEBHOOK_KEY', default: '/etc/ferry/webhook/tls.key', help: 'Webhook serving key.' },
  leaderElect: { flag: 'leader-elect', env: 'FERRY_LEADER_ELECT', boolean: true, default: 'true', help: 'Campaign for the Lease; false runs as leader at once (single replica only).' },
  podName: { flag: 'pod-name', env: 'FERRY_POD_NAME', help: "This replica's pod (downward API metadata.name), in --namespace: the leader labels it ferry.dev/leader=true so the Service routes to the leader alone. Empty: no label (outside a cluster)." },
  leaseName: { flag: 'lease-name', env: 'FERRY_LEASE_NAME', default: 'ferry-coordinator', help: 'Name of the coordination.k8s.io Lease.' },
  leaseDuration: { flag: 'lease-duration', env: 'FERRY_LEASE_DURATION', default: '15s', help: 'How long a Lease holds without renewal.' },
  renewDeadline: { flag: 'renew-deadline', env: 'FERRY_RENEW_DEADLINE', default: '10s', help: 'A leader that could not renew for this long steps down.' },
  retryPeriod: { flag: 'retry-period', env: 'FERRY_RETRY_PERIOD', default: '2s', help: 'Time between Lease attempts.' },
  agentWait: { flag: 'agent-wait', env: 'FERRY_AGENT_WAIT', default: '5m', help: 'How long a volume waits for its node agent before failing with AgentUnavailable.' },
  snapshotReadyTimeout: { flag: 'snapshot-ready-timeout', env: 'FERRY_SNAPSHOT_READY_TIMEOUT', default: '10m', help: 'Snapshot mode: how long a VolumeSnapshot may take to become readyToUse before the volume fails with SnapshotNotReady.' },
  agentLost: { flag: 'agent-lost-timeout', env: 'FERRY_AGENT_LOST_TIMEOUT', default: '5m', help: 'How long a running job may miss its agent before failing with AgentLost.' },
  progressInterval: { flag: 'progress-interval', env: 'FERRY_PROGRESS_INTERVAL', default: '5s', help: 'Progress is written to status at most this often per volume.' },
  locationValidationInterval: { flag: 'location-validation-interval', env: 'FERRY_LOCATION_VALIDATION_INTERVAL', default: '5m', help: 'How often each BackupLocation is probed for reachability and credentials (also after every change to it).' },
  maxAttempts: { flag: 'max-attempts', env: 'FERRY_MAX_ATTEMPTS', default: '3', help: 'Assignments per volume, counting retries after an agent restart.' },
  restoreWaitImage: { flag: 'restore-wait-image', env: 'FERRY_RESTORE_WAIT_IMAGE', default: 'ghcr.io/ferry-backup/ferry-agent:0.1.0', help: 'Image of the restore-wait init container (the agent image).' },
  restoreWaitCommand: { flag: 'restore-wait-command', env: 'FERRY_RESTORE_WAIT_COMMAND', default: '/usr/local/bin/ferry-restore-wait', help: 'Command of the restore-wait init container (comma-separated argv).' },
  helperPodImage: { flag: 'helper-pod-image', env: 'FERRY_HELPER_POD_IMAGE', help: 'Image of helper pods (docs/helper-pods.md); it must hold the wait binary of --restore-wait-command. Default: --restore-wait-image.' },
  helperPodCpuRequest: { flag: 'helper-pod-cpu-request', env: 'FERRY_HELPER_POD_CPU_REQUEST', default: HELPER_POD_DEFAULTS.cpu, help: 'CPU request of helper pods (a Kubernetes quantity).' },
  helperPodMemoryRequest: { flag: 'helper-pod-memory-request', env: 'FERRY_HELPER_POD_MEMORY_REQUEST', default: HELPER_POD_DEFAULTS.memory, help: 'Memory request and limit of helper pods (a Kubernetes quantity).' },
  helperPodTolerations: { flag: 'helper-pod-tolerations', env: 'FERRY_HELPER_POD_TOLERATIONS', default: '', help: "Tolerations of helper pods, for tainted storage nodes: comma-separated key[=value][:Effect] (with a value: Equal, without: Exists; no effect: every effect), or a JSON list of pod-spec tolerations. Default: none." },
  helperPodProvisioningTimeout: { flag: 'helper-pod-provisioning-timeout', env: 'FERRY_HELPER_POD_PROVISIONING_TIMEOUT', default: HELPER_POD_DEFAULTS.provisioningTimeout, help: "How long a helper pod's claim may stay unbound before the volume is skipped with ProvisioningFailed." },
  workers: { flag: 'workers', env: 'FERRY_WORKERS', default: '4', help: 'Reconciles running at once.' },
  logLevel: { flag: 'log-level', env: 'FERRY_LOG_LEVEL', default: 'info', help: 'debug, info, warn or error.' },
  standalone: { flag: 'standalone', env: 'FERRY_STANDALONE', boolean: true, default: 'false', help: 'Run without Kubernetes on one machine: state in --state-dir, pods from --manifests-dir, volumes under --pods-dir. Implies no leader election and no webhook server (restores are admitted in process).' },
  stateDir: { flag: 'state-dir', env: 'FERRY_STATE_DIR', default: '/var/lib/ferry/state', help: 'Standalone: where resources, Secrets (the cluster key) and Events are kept (created 0700).' },
  manifestsDir: { flag: 'manifests-dir', env: 'FERRY_MANIFESTS_DIR', default: '/etc/ferry/manifests', help: 'Standalone: Pod, Secret and Ferry resource manifests (YAML/JSON), re-read every second.' },
  podsDir: { flag: 'pods-dir', env: 'FERRY_PODS_DIR', default: '/var/lib/kubelet/pods', help: "Standalone: where pod volumes are laid out like the kubelet's; give the agent the same --pods-dir." },
  nodeName: { flag: 'node-name', env: 'FERRY_NODE_NAME', help: "Standalone: the node pods run on (the agent's --node-name). Default: the host name." },
} as const satisfies Record<string, OptionSpec>;

type Name = keyof typeof OPTIONS;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid coordinator configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type ParsedCommand = { readonly kind: 'run'; readonly config: CoordinatorConfig } | { readonly kind: 'help'; readonly text: string };

export function helpText(): string {
  const lines = Object.values(OPTIONS).map((o: OptionSpec) => `  --${o.flag}${o.boolean ? '' : ' <value>'}  (${o.env}${o.default !== undefined ? `, default ${o.default}` : ''})\n      ${o.help}`);
  return `Usage: ferry-coordinator [options]\n\n${lines.join('\n')}\n`;
}

export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedCommand {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const o of Object.values(OPTIONS) as OptionSpec[]) options[o.flag] = { type: o.boolean ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  if (values['help']) return { kind: 'help', text: helpText() };
  return { kind: 'run', config: buildConfig(values, env) };
}

function buildConfig(values: Record<string, string | boolean | undefined>, env: Readonly<Record<string, string | undefined>>): CoordinatorConfig {
  const problems: string[] = [];
  const raw = (n: Name): string | undefined => {
    const o: OptionSpec = OPTIONS[n];
    const v = values[o.flag];
    if (typeof v === 'boolean') return String(v);
    return v ?? env[o.env] ?? o.default;
  };
  const str = (n: Name): string => raw(n) ?? '';
  const bool = (n: Name): boolean => ['true', '1', 'yes'].includes(str(n).toLowerCase());
  const ms = (n: Name): number => {
    const d = parseDuration(str(n));
    if (!d.ok || d.milliseconds <= 0) problems.push(`--${OPTIONS[n].flag} ${JSON.stringify(str(n))}: expected a positive ${d.ok ? 'duration' : d.expected.replace(/^a /, '')}`);
    return d.ok ? d.milliseconds : 0;
  };
  const int = (n: Name, min: number, max: number): number => {
    const v = Number(str(n));
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`--${OPTIONS[n].flag} ${JSON.stringify(str(n))}: expected an integer from ${min} to ${max}`);
    return v;
  };
  const address = (n: Name): { host: string; port: number } => {
    const m = /^(.*):(\d+)$/.exec(str(n));
    if (!m) problems.push(`--${OPTIONS[n].flag} ${JSON.stringify(str(n))}: expected host:port or :port`);
    return { host: m?.[1] || '0.0.0.0', port: Number(m?.[2] ?? 0) };
  };
  const logLevel = str('logLevel');
  if (!isLogLevel(logLevel)) problems.push(`--log-level ${JSON.stringify(logLevel)}: expected debug, info, warn or error`);
  const identityMode = str('agentIdentity');
  if (!isAgentIdentityMode(identityMode)) problems.push(`--agent-identity ${JSON.stringify(identityMode)}: expected ${AGENT_IDENTITY_MODES.join(' or ')}`);
  const sharedName = str('agentCertificateName');
  if (!/^[A-Za-z0-9]([A-Za-z0-9.:_-]{0,252})$/.test(sharedName)) problems.push(`--agent-certificate-name ${JSON.stringify(sharedName)}: expected a certificate CN or DNS name (letters, digits, '.', ':', '_', '-')`);
  const apiAddr = str('apiListen') === 'off' ? undefined : address('apiListen');
  const apiTls: ApiTlsFiles = { certFile: raw('apiTlsCert') || str('tlsCert'), keyFile: raw('apiTlsKey') || str('tlsKey'), clientCaFile: raw('apiClientCa') || str('tlsCa') };
  const webhookOff = str('webhookListen') === 'off';
  const webhookAddr = webhookOff ? undefined : address('webhookListen');
  const hub = address('hubListen');
  const config: CoordinatorConfig = {
    namespace: str('namespace'),
    ...(raw('kubeconfig') ? { kubeconfig: str('kubeconfig') } : {}),
    listen: address('listen'),
    hubAddress: `${hub.host}:${hub.port}`,
    insecure: bool('insecure'),
    hubTls: { caFile: str('tlsCa'), certFile: str('tlsCert'), keyFile: str('tlsKey') },
    agentIdentity: isAgentIdentityMode(identityMode) && identityMode === 'shared-certificate' ? { mode: 'shared-certificate', sharedName } : { mode: 'node-certificate' },
    ...(apiAddr ? { api: { ...apiAddr, ...(bool('insecure') ? {} : { tls: apiTls }) } } : {}),
    ...(webhookAddr ? { webhook: { ...webhookAddr, certFile: str('webhookCert'), keyFile: str('webhookKey') } } : {}),
    ...(raw('podName') ? { podName: str('podName') } : {}),
    leaderElection: { enabled: bool('leaderElect'), leaseName: str('leaseName'), leaseDurationMs: ms('leaseDuration'), renewDeadlineMs: ms('renewDeadline'), retryPeriodMs: ms('retryPeriod') },
    controllers: {
      namespace: str('namespace'),
      agentWaitMs: ms('agentWait'),
      agentLostMs: ms('agentLost'),
      snapshotReadyMs: ms('snapshotReadyTimeout'),
      progressIntervalMs: ms('progressInterval'),
      maxAttempts: int('maxAttempts', 1, 10),
      locationValidationMs: ms('locationValidationInterval'),
      restoreWait: { image: str('restoreWaitImage'), command: str('restoreWaitCommand').split(',').filter((s) => s !== '') },
      helperPods: helperPodConfig(str, ms, problems),
    },
    workers: int('workers', 1, 64),
    logLevel: isLogLevel(logLevel) ? logLevel : 'info',
  };
  if (bool('standalone')) return withStandalone(config, { stateDir: str('stateDir'), manifestsDir: str('manifestsDir'), podsDir: str('podsDir'), nodeName: raw('nodeName') ?? hostname() }, problems);
  if (config.leaderElection.renewDeadlineMs >= config.leaderElection.leaseDurationMs) problems.push('--renew-deadline must be shorter than --lease-duration');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function helperPodConfig(str: (n: Name) => string, ms: (n: Name) => number, problems: string[]): HelperPodConfig {
  const requests = { cpu: str('helperPodCpuRequest'), memory: str('helperPodMemoryRequest') };
  for (const [n, v] of [['helperPodCpuRequest', requests.cpu], ['helperPodMemoryRequest', requests.memory]] as const) {
    const problem = quantityProblem(OPTIONS[n].flag, v);
    if (problem) problems.push(problem);
  }
  const tolerations = parseTolerations(OPTIONS.helperPodTolerations.flag, str('helperPodTolerations'));
  if (!tolerations.ok) problems.push(tolerations.problem);
  return {
    image: str('helperPodImage') || str('restoreWaitImage'),
    requests,
    tolerations: tolerations.ok ? tolerations.tolerations : [],
    provisioningTimeoutMs: ms('helperPodProvisioningTimeout'),
  };
}

/** One process, no API server: no Lease to campaign for and nobody to call a webhook. */
function withStandalone(config: CoordinatorConfig, standalone: StandaloneConfig, problems: string[]): CoordinatorConfig {
  if (problems.length > 0) throw new ConfigError(problems);
  const { webhook: _unused, ...rest } = config;
  return { ...rest, standalone, leaderElection: { ...config.leaderElection, enabled: false } };
}
