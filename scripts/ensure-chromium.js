#!/usr/bin/env node
// Makes sure a Chromium the browser tests can drive is present, before `vitest run --project browser`.
//
// The tests drive Debian's `chromium` package through playwright-core (never a downloaded browser
// build: `npx playwright install` and friends must not be used). Order of resolution:
//   1. POCKETREC_CHROMIUM=/path/to/chromium  (an override: must exist and be executable)
//   2. /usr/lib/chromium/chromium            (the real binary of Debian's package; /usr/bin/chromium
//                                              is a shell wrapper that adds flags, do not use it)
// If neither is there and we run as root, Debian's package is installed with apt-get. As any other
// user the script stops at once and says what to install.
//
// No dependencies, plain Node ESM. Exit code 0 when a browser is ready, 1 otherwise.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

const DEBIAN_CHROMIUM = '/usr/lib/chromium/chromium';
const INSTALL_HINT =
  "Install Debian/Ubuntu's Chromium package:  sudo apt-get install chromium\n" +
  '(or point POCKETREC_CHROMIUM at a Chromium binary). Do not use `npx playwright install`.';

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function fail(message) {
  console.error(`ensure-chromium: ${message}`);
  process.exit(1);
}

function version(path) {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : 'version unknown';
}

function run(cmd, args) {
  console.log(`ensure-chromium: $ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with status ${r.status}`);
}

const override = process.env.POCKETREC_CHROMIUM;
if (override) {
  if (!isExecutable(override)) {
    fail(`POCKETREC_CHROMIUM=${override} is not an executable file.`);
  }
  console.log(`ensure-chromium: using ${override} (${version(override)}) from POCKETREC_CHROMIUM`);
  process.exit(0);
}

if (!isExecutable(DEBIAN_CHROMIUM)) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    fail(`${DEBIAN_CHROMIUM} not found.\n${INSTALL_HINT}`);
  }
  console.log(
    `ensure-chromium: ${DEBIAN_CHROMIUM} not found; installing Debian's chromium package`,
  );
  run('apt-get', ['update']);
  run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
  if (!isExecutable(DEBIAN_CHROMIUM)) {
    fail(`apt-get finished but ${DEBIAN_CHROMIUM} is still missing.\n${INSTALL_HINT}`);
  }
}

console.log(`ensure-chromium: using ${DEBIAN_CHROMIUM} (${version(DEBIAN_CHROMIUM)})`);
