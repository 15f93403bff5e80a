/** One entry of a package-lock.json v3 `packages` map (the fields this file reads or writes). */
interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

/** A package-lock.json v3. */
export interface Lockfile {
  name?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

/** A workspace package installed from its packed tarball. */
export interface PackedWorkspace {
  /** Its folder in the workspace lock, e.g. `packages/gateway`. */
  location: string;
  name: string;
  /** The `file:` spec the project installs it from, e.g. `file:../tarballs/spool-gateway-0.1.0.tgz`. */
  spec: string;
}

function requiredNames(entry: LockEntry): string[] {
  const optionalPeers = entry.peerDependenciesMeta ?? {};
  return [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers[name]?.optional),
  ];
}

/** Node's resolution over lock paths: `from/node_modules/name`, then each parent folder's. */
function resolveIn(packages: Lockfile['packages'], from: string, name: string): string | undefined {
  let folder = from;
  for (;;) {
    const candidate = folder === '' ? `node_modules/${name}` : `${folder}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (folder === '') return undefined;
    const nested = folder.lastIndexOf('/node_modules/');
    folder = nested >= 0 ? folder.slice(0, nested) : '';
  }
}

/**
 * The package-lock.json of a project that installs the given workspace packages from their tarballs:
 * every registry package they need at run time, at the version, tarball URL and integrity the
 * workspace already locked (so `npm install --offline` finds each one in npm's cache, which
 * `npm ci` filled), and the workspace packages as `file:` tarballs. Without it npm would need the
 * registry's package documents to resolve the version ranges, which `npm ci` never caches.
 */
export function offlineLockfile(workspaceLock: Lockfile, packed: readonly PackedWorkspace[]): Lockfile {
  const source = workspaceLock.packages;
  const byName = new Map(packed.map((workspace) => [workspace.name, workspace]));
  const packages: Lockfile['packages'] = {
    '': {
      name: 'spool-install-check',
      dependencies: Object.fromEntries(packed.map((w) => [w.name, w.spec])),
    },
  };
  // A workspace's own nested node_modules (a version conflict) moves under its installed folder.
  const target = (path: string): string => {
    for (const workspace of packed) {
      if (path.startsWith(`${workspace.location}/`)) {
        return `node_modules/${workspace.name}/${path.slice(workspace.location.length + 1)}`;
      }
    }
    return path;
  };
  const pending: string[] = [];
  for (const workspace of packed) {
    const { dev: _dev, devDependencies: _devDependencies, ...entry } = source[workspace.location] ?? {};
    packages[`node_modules/${workspace.name}`] = { ...entry, resolved: workspace.spec };
    pending.push(workspace.location);
  }
  const seen = new Set(pending);
  while (pending.length > 0) {
    const from = pending.pop() as string;
    for (const name of requiredNames(source[from] ?? {})) {
      if (byName.has(name)) continue;
      const path = resolveIn(source, from, name);
      if (path === undefined) {
        if (source[from]?.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`${from} needs ${name}, which the workspace lock does not have`);
      }
      if (seen.has(path)) continue;
      seen.add(path);
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = source[path] as LockEntry;
      if (entry.link) throw new Error(`${from} needs the workspace package ${name}, which is not packed`);
      packages[target(path)] = entry;
      pending.push(path);
    }
  }
  return { name: 'spool-install-check', lockfileVersion: 3, requires: true, packages };
}
