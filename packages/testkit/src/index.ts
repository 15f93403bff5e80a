// One generator for the sim, the tests and the fault plans; re-exported so tests keep one import.
export { seededRandom } from '@spool/protocol';
export * from './buffering-proxy.js';
export * from './chaos-args.js';
export * from './chaos-command.js';
export * from './chaos-plan.js';
export type { ChildExit } from './child-process-control.js';
export * from './collect-sse.js';
export * from './errors.js';
export * from './fault-plan.js';
export * from './fault-proxy.js';
export * from './faults.js';
export * from './free-port.js';
export * from './node-process.js';
export type { ConnectionStats, TargetAddress } from './proxy-connection.js';
export * from './proxy-events.js';
export * from './redis-server.js';
