/**
 * The library's public face: what the CLI (and any other client) uses, as `import … from
 * 'snaptape'`. The CLI imports only this file and errors/. Each group is also its own entry point
 * (`snaptape/volume`, `snaptape/backup`, …; package.json `exports`), one module under public/;
 * a new export goes into the module of its group.
 */
export * from './public/volume.js';
export * from './public/image.js';
export * from './public/subsystem.js';
export * from './public/tape.js';
export * from './public/check.js';
export * from './public/backup.js';
export * from './public/clone.js';
export * from './public/snapshot.js';
export * from './public/versions.js';
export * from './public/catalog.js';
export * from './public/library.js';
export * from './public/server.js';
export * from './public/reports.js';
export * from './public/vault.js';
