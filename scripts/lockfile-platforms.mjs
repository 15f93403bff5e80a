// Adds lock entries for the optional platform binaries (Biome's) that the package registry reachable
// here does not serve: `npm install` then leaves them out of package-lock.json and `npm ci` refuses
// the lock. npm never installs such an entry on a platform it does not match, so this is safe.
// Run after any `npm install`: `node scripts/lockfile-platforms.mjs package-lock.json`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2];
const lock = JSON.parse(readFileSync(path, 'utf8'));
const platforms = {
  'android-arm64': { os: ['android'], cpu: ['arm64'] },
  'android-x64': { os: ['android'], cpu: ['x64'] },
  'darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  'darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  'linux-arm64-musl': { os: ['linux'], cpu: ['arm64'], libc: ['musl'] },
  'linux-x64-musl': { os: ['linux'], cpu: ['x64'], libc: ['musl'] },
  'win32-arm64': { os: ['win32'], cpu: ['arm64'] },
  'win32-x64': { os: ['win32'], cpu: ['x64'] },
};
let added = 0;
for (const entry of Object.values(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (lock.packages[`node_modules/${name}`]) continue;
    const suffix = Object.keys(platforms).find((platform) => name.endsWith(platform));
    if (!suffix) {
      console.log('unknown platform', name);
      continue;
    }
    lock.packages[`node_modules/${name}`] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...platforms[suffix],
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log('added', added);
