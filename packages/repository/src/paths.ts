/** File-system paths as Buffers, so names that are not UTF-8 reach the kernel byte for byte. */
const SLASH = Buffer.from('/');

export function joinRaw(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}
