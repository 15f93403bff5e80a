export * from './errors.js';
export * from './fault-plan.js';
export * from './fault-proxy.js';
export * from './faults.js';
export type { ConnectionStats, TargetAddress } from './proxy-connection.js';
export * from './proxy-events.js';
export * from './seeded-random.js';
