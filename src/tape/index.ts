/**
 * The face of tape/: AWSTAPE and HET tapes: reading, writing, labels, indexes. It re-exports what
 * other folders use; a module inside tape/ imports its neighbours directly.
 */
export {
  AWS_HEADER_BYTES,
  FLAG1_BZIP2,
  FLAG1_COMPRESSION_MASK,
  FLAG1_END_OF_RECORD,
  FLAG1_KNOWN_BITS,
  FLAG1_NEW_RECORD,
  FLAG1_TAPEMARK,
  FLAG1_ZLIB,
  MAX_BLOCK_BYTES,
  MAX_CHUNK_DATA_BYTES,
  blockHeaderBytes,
  decodeAwsBlockHeader,
  tapemarkHeaderBytes,
  type AwsBlockHeader,
} from './aws-block-header.js';
export { extractDataSet } from './extract-data-set.js';
export { decompressBlock, type BlockCompression } from './het-decompress.js';
export { initTape } from './init-tape.js';
export { formatLabelDate } from './label-date.js';
export { DATA_STATES, LABEL_TRANSITIONS, nextLabelState, type LabelEvent, type LabelState } from './label-sequence.js';
export { listTape, type TapeListing } from './list-tape.js';
export { MappedTapeWriter, writeTapeFrame, type DataBlockAddress } from './mapped-tape-writer.js';
export { putHostFile } from './put-host-file.js';
export { decodeStandardLabel, labelIdOf, userLabelText, type DataSetLabel1, type StandardLabel } from './standard-labels.js';
export { readTapeContents } from './tape-contents.js';
export { type TapeFileSpec } from './tape-file-spec.js';
export { checkTapeNotBeingWritten, lockTape } from './tape-lock.js';
export { planTape, type TapePlan } from './tape-plan.js';
export { TapeReader } from './tape-reader.js';
export { WHOLE_FILE, fbaPositionOf, fbaTapeRegion } from './tape-region.js';
export { verifyTapeAgainstPlan, type TapeVerification } from './tape-verify.js';
