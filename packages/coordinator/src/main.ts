#!/usr/bin/env node
/**
 * ferry-coordinator. Exit codes: 0 after SIGTERM/SIGINT, 2 for a bad configuration,
 * 1 otherwise (including lost leadership: a fresh process campaigns again).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { systemClock } from './clock.js';
import { ConfigError, parseCommand, type CoordinatorConfig } from './config.js';
import type { ClusterState } from './cluster/cluster-state.js';
import { LocalClusterState } from './cluster/local-state.js';
import { Coordinator } from './coordinator.js';
import { KubeClusterState } from './cluster/kube-state.js';
import { isCoordinatorError, messageOf } from './errors.js';
import { createLogger, type Logger } from '@ferry/log';

async function main(): Promise<number> {
  let command;
  try {
    command = parseCommand(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry-coordinator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (command.kind === 'help') {
    process.stdout.write(command.text);
    return 0;
  }
  const config = command.config;
  const log = createLogger({ level: config.logLevel });
  if (config.insecure) log.warn('AgentHub runs without TLS (--insecure): any process that reaches it can act as an agent');
  const cluster = await openClusterState(config, log);
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const coordinator = new Coordinator({ config, cluster, clock: systemClock, log, onLostLeadership: () => finish(1) });
  const stop = (signal: string): void => {
    log.info('signal received', { signal });
    void coordinator.stop().then(() => closeCluster(cluster)).then(() => finish(0), () => finish(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await coordinator.start();
  } catch (err) {
    log.error('coordinator failed to start', { error: messageOf(err) });
    return isCoordinatorError(err, 'InvalidConfig') ? 2 : 1;
  }
  log.info('coordinator started', { namespace: config.namespace, healthPort: coordinator.ports.health });
  return done;
}

/** Kubernetes (in-cluster or --kubeconfig) or, with --standalone, the local directories. */
async function openClusterState(config: CoordinatorConfig, log: Logger): Promise<ClusterState> {
  if (config.standalone) {
    const local = new LocalClusterState({ ...config.standalone, clock: systemClock, log: log.child({ component: 'local-cluster' }) });
    await local.open();
    log.info('standalone mode', { stateDir: config.standalone.stateDir, manifestsDir: config.standalone.manifestsDir, podsDir: config.standalone.podsDir, node: config.standalone.nodeName });
    return local;
  }
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromCluster();
  return new KubeClusterState(kubeConfig, { systemNamespace: config.namespace });
}

async function closeCluster(cluster: ClusterState): Promise<void> {
  if (cluster instanceof LocalClusterState) await cluster.close();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferry-coordinator: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
