/** `snaptape/subsystem`: storage subsystems (a pool of track slots shared by mapped volumes). */
export { checkSubsystem, poolUsage, type CheckReport as SubsystemCheckReport } from '../../subsystem/subsystem-check.js';
export { initSubsystem } from '../../subsystem/track-pool.js';
