#!/usr/bin/env node
// A fake `kubectl` for the certificate Job's script (test support, never shipped): keeps
// Secrets as JSON files in $FAKE_KUBE_STATE and grants exactly what the Job's RBAC grants
// ($FAKE_KUBE_SECRET_NAMES: the Secrets it may get; $FAKE_KUBE_WEBHOOK: the webhook
// configuration it may patch). Any other command fails, so the script cannot drift from
// the RBAC without the test noticing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const state = process.env.FAKE_KUBE_STATE;
const allowedGets = new Set((process.env.FAKE_KUBE_SECRET_NAMES ?? '').split(',').filter(Boolean));
const webhook = process.env.FAKE_KUBE_WEBHOOK;
const args = process.argv.slice(2);

function fail(message, code = 1) {
  process.stderr.write(`fake kubectl: ${message}\n`);
  process.exit(code);
}

let namespace;
if (args[0] === '-n') {
  namespace = args[1];
  args.splice(0, 2);
}
const secretFile = (name) => join(state, `secret-${namespace}-${name}.json`);
const option = (prefix) => args.filter((a) => a.startsWith(prefix)).map((a) => a.slice(prefix.length));

const [verb, resource, name] = args;
if (verb === 'get' && resource === 'secret') {
  if (!allowedGets.has(name)) fail(`Forbidden: get secrets ${name} in ${namespace}`, 1);
  if (!existsSync(secretFile(name))) fail(`NotFound: secrets "${name}" not found`, 1);
  const secret = JSON.parse(readFileSync(secretFile(name), 'utf8'));
  if (args[3] === '-o') {
    const m = /^jsonpath=\{\.data\.(.+)\}$/.exec(args[4] ?? '');
    if (!m) fail(`unsupported output ${args[4]}`, 3);
    process.stdout.write(secret.data[m[1].replaceAll('\\.', '.')] ?? '');
  } else if (args.length > 3) fail(`unsupported arguments ${args.slice(3).join(' ')}`, 3);
  process.exit(0);
}
if (verb === 'create' && resource === 'secret') {
  const type = args[2];
  const secretName = args[3];
  if (existsSync(secretFile(secretName))) fail(`AlreadyExists: secrets "${secretName}" already exists`, 1);
  const data = {};
  if (type === 'tls') {
    data['tls.crt'] = readFileSync(option('--cert=')[0]).toString('base64');
    data['tls.key'] = readFileSync(option('--key=')[0]).toString('base64');
  } else if (type === 'generic') {
    for (const spec of option('--from-file=')) {
      const [key, file] = spec.split('=');
      data[key] = readFileSync(file).toString('base64');
    }
  } else fail(`unsupported secret type ${type}`, 3);
  const secretType = option('--type=')[0] ?? (type === 'tls' ? 'kubernetes.io/tls' : 'Opaque');
  writeFileSync(secretFile(secretName), JSON.stringify({ type: secretType, data }));
  process.exit(0);
}
if (verb === 'patch' && resource === 'mutatingwebhookconfiguration') {
  if (name !== webhook) fail(`Forbidden: patch mutatingwebhookconfigurations ${name}`, 1);
  if (option('--type=')[0] !== 'json') fail('expected --type=json', 3);
  const i = args.indexOf('-p');
  writeFileSync(join(state, 'webhook-patch.json'), args[i + 1]);
  process.exit(0);
}
fail(`unsupported command: ${process.argv.slice(2).join(' ')}`, 3);
