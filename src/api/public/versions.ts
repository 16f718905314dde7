/** `snaptape/versions`: copy versions of a source pool into rotating target pools. */
export { createVersion, prepairVersion } from '../../techniques/versions/version-create.js';
export { restoreFromVersion } from '../../techniques/versions/version-restore.js';
