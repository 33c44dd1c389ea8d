/**
 * Reads the bearer token (and default namespace) of a kubeconfig's current context, so
 * `ferry --kubeconfig ~/.kube/config` authenticates as the same user kubectl does. Only
 * token users are supported: client certificates go through --cert/--key, and exec or
 * auth-provider plugins would need code ferry does not run.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { CliError } from '../exit-codes.js';

export interface KubeconfigIdentity {
  readonly token: string;
  /** The current context's namespace, when it sets one. */
  readonly namespace?: string;
}

interface Named<T> {
  readonly name?: string;
  readonly context?: T;
  readonly user?: T;
}

interface KubeconfigDoc {
  readonly 'current-context'?: string;
  readonly contexts?: readonly Named<{ user?: string; namespace?: string }>[];
  readonly users?: readonly Named<{ token?: string; tokenFile?: string }>[];
}

export async function readKubeconfigIdentity(file: string): Promise<KubeconfigIdentity> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read kubeconfig ${file} (${err.code ?? err.message}): check --kubeconfig`);
  });
  let doc: KubeconfigDoc;
  try {
    doc = (parse(text) ?? {}) as KubeconfigDoc;
  } catch (err) {
    throw new CliError(`kubeconfig ${file} is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  return identityOf(doc, file);
}

async function identityOf(doc: KubeconfigDoc, file: string): Promise<KubeconfigIdentity> {
  const current = doc['current-context'];
  if (current === undefined || current === '') throw new CliError(`kubeconfig ${file} has no current-context: set one with "kubectl config use-context"`);
  const context = doc.contexts?.find((c) => c.name === current)?.context;
  if (context === undefined) throw new CliError(`kubeconfig ${file}: current-context "${current}" is not among its contexts`);
  const userName = context.user ?? '';
  const user = doc.users?.find((u) => u.name === userName)?.user;
  if (user === undefined) throw new CliError(`kubeconfig ${file}: user "${userName}" of context "${current}" is not among its users`);
  const token = user.token ?? (user.tokenFile !== undefined ? await readTokenFile(resolve(dirname(file), user.tokenFile)) : undefined);
  if (token === undefined || token === '') {
    throw new CliError(
      `kubeconfig ${file}: user "${userName}" has no token (client certificates, exec and auth-provider users are not supported): pass --token, or --cert/--key`,
    );
  }
  return { token, ...(context.namespace !== undefined && context.namespace !== '' ? { namespace: context.namespace } : {}) };
}

async function readTokenFile(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read the kubeconfig user's tokenFile ${path} (${err.code ?? err.message})`);
  });
  return text.trim();
}
