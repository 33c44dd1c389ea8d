#!/usr/bin/env node
// Builds the addon from source with node-gyp against the headers of the node that runs this
// script (<prefix>/include/node), so nothing is downloaded: no header tarball, no prebuilt binary.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const nodedir = dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`@ferry/native: no Node headers at ${join(nodedir, 'include', 'node')}; install the headers of this node (Debian: libnode-dev or nodejs from NodeSource, official images have them)`);
  process.exit(1);
}

/** npm exports the path of its bundled node-gyp to scripts; outside npm, resolve it beside npm. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const npmCli = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  return createRequire(npmCli).resolve('node-gyp/bin/node-gyp.js');
}

const r = spawnSync(process.execPath, [nodeGyp(), 'rebuild', `--nodedir=${nodedir}`], { cwd: here, stdio: 'inherit' });
process.exit(r.status ?? 1);
