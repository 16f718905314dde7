/**
 * The face of workload/: host load generated against a volume for drills, experiments and benches.
 * It re-exports what other folders use; a module inside workload/ imports its neighbours directly.
 */
export { HostLoad, parseLoadSpec, type HostLoadSpec, type HostLoadStats } from './host-load.js';
