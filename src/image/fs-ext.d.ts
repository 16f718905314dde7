/**
 * Type declaration for the untyped `fs-ext` package (a native addon): only flock(2), which the
 * image lock uses to make the takeover of a stale lock atomic (src/image/image-lock.ts).
 */
declare module 'fs-ext' {
  /** flock(2) on an open fd: 'ex' waits for an exclusive lock, 'exnb' fails with EAGAIN instead, 'un' unlocks. */
  function flockSync(fd: number, operation: 'ex' | 'exnb' | 'sh' | 'shnb' | 'un'): void;
  const fsExt: { readonly flockSync: typeof flockSync };
  export default fsExt;
}
