// CRC32C (Castagnoli): the known check values, and the slicing-by-8 loop against a bit-at-a-time
// definition for every length around the 8-byte steps and every alignment.
import { crc32c } from '../../lib/io/crc32c';

// The definition: reflected polynomial 0x82F63B78, initial and final inversion.
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('known check values (the CRC catalogue and RFC 3720 B.4)', () => {
  expect(crc32c(Buffer.from('123456789', 'ascii'))).toBe(0xe3069283);
  expect(crc32c(new Uint8Array(0))).toBe(0);
  expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
});

test('matches the bit-at-a-time definition at every length 0..40 and every offset', () => {
  const buf = new Uint8Array(64);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 167 + 13) & 0xff;
  for (let offset = 0; offset < 8; offset++) {
    for (let n = 0; n <= 40; n++) {
      const view = buf.subarray(offset, offset + n);
      expect(crc32c(view)).toBe(reference(view));
    }
  }
});

test('every single-bit flip in a buffer changes the checksum', () => {
  const buf = Uint8Array.from({ length: 100 }, (_, i) => (i * 31) & 0xff);
  const want = crc32c(buf);
  for (let bit = 0; bit < buf.length * 8; bit++) {
    buf[bit >> 3] ^= 1 << (bit & 7);
    expect(crc32c(buf)).not.toBe(want);
    buf[bit >> 3] ^= 1 << (bit & 7);
  }
});
