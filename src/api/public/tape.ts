/** `snaptape/tape`: AWSTAPE/HET virtual tapes with IBM standard labels. */
export { extractDataSet } from '../../tape/extract-data-set.js';
export { initTape } from '../../tape/init-tape.js';
export { listTape, type TapeListing } from '../../tape/list-tape.js';
export { putHostFile } from '../../tape/put-host-file.js';
