/** `snaptape/versions`: copy versions of a source pool into rotating target pools. */
export { createVersion, prepairVersion, unprepairVersion } from '../../techniques/versions/version-create.js';
export { joinPool, leavePool, type PprChange } from '../../techniques/versions/pool-membership.js';
export { volumeFacts } from '../../techniques/versions/volume-facts.js';
export { restoreFromVersion } from '../../techniques/versions/version-restore.js';
