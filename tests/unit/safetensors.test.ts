/**
 * The safetensors container: every kind of corruption gives its own SafetensorsError (code and a
 * message naming the problem), and F32 / F16 / BF16 values survive writing and reading exactly as
 * their formats allow. Expected half-precision values are decoded here from the IEEE definition.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isFloatDtype,
  parseSafetensorsHeader,
  parseSafetensors,
  readFloat32,
  SafetensorsError,
  writeSafetensors,
} from '../../src/model/safetensors';
import { SeededRandom } from './reference/random-model';

/** A file from a header (object or raw text) and data bytes; `claimedLength` overrides the length field. */
function fileOf(header: unknown, data: Uint8Array, claimedLength?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const headerBytes = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

function parseError(bytes: Uint8Array): SafetensorsError {
  try {
    parseSafetensors(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return e as SafetensorsError;
  }
  throw new Error('the file was accepted');
}

const f32 = (shape: number[], begin: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)],
});

const GPT2_FIXTURE = join(
  import.meta.dirname,
  '..',
  'fixtures',
  'gpt2-tiny-a',
  'model.safetensors',
);

const VALID = writeSafetensors({
  'a.weight': { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  'b.bias': { shape: [4], data: Float32Array.from([7, 8, 9, 10]) },
});
const VALID_HEADER_LENGTH = Number(new DataView(VALID.buffer).getBigUint64(0, true));

describe('corrupt safetensors files', () => {
  const cases: [string, () => Uint8Array, SafetensorsError['code'], RegExp][] = [
    ['shorter than the length field', () => VALID.slice(0, 5), 'too-short', /truncated.*5 bytes/],
    [
      'cut inside the header',
      () => VALID.slice(0, 8 + VALID_HEADER_LENGTH - 10),
      'header-length',
      new RegExp(`header claims ${VALID_HEADER_LENGTH} bytes`),
    ],
    [
      'a header length past the end of the file',
      () => fileOf({}, new Uint8Array(16), 10_000n),
      'header-length',
      /claims 10000 bytes but the file has \d+/,
    ],
    [
      'an absurd header length (2^63)',
      () => fileOf({}, new Uint8Array(16), 2n ** 63n),
      'header-length',
      /truncated or corrupt/,
    ],
    [
      'a header that is not JSON',
      () => fileOf('{"a.weight": {', new Uint8Array(0)),
      'header-json',
      /not valid JSON/,
    ],
    [
      'a header that is a JSON array',
      () => fileOf([1, 2], new Uint8Array(0)),
      'header-json',
      /not a JSON object/,
    ],
    [
      'a header that is not UTF-8',
      () => {
        const f = fileOf('{"x":1}   ', new Uint8Array(0));
        f[9] = 0xff;
        return f;
      },
      'header-json',
      /not valid JSON/,
    ],
    [
      'cut inside the data section',
      () => VALID.slice(0, VALID.length - 6),
      'offsets',
      /"b\.bias": bytes 24–40 lie outside the 34-byte data section \(truncated file\?\)/,
    ],
    [
      'offsets past the data section',
      () =>
        fileOf({ x: { dtype: 'F32', shape: [100], data_offsets: [0, 400] } }, new Uint8Array(16)),
      'offsets',
      /"x": bytes 0–400 lie outside the 16-byte/,
    ],
    [
      'offsets that run backwards',
      () => fileOf({ x: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(16)),
      'offsets',
      /"x": data_offsets \[8, 4\] end before they begin/,
    ],
    [
      'negative offsets',
      () => fileOf({ x: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(16)),
      'offsets',
      /"x": data_offsets must be two byte offsets \[begin, end\], but it is \[-4,0\]/,
    ],
    [
      'missing offsets',
      () => fileOf({ x: { dtype: 'F32', shape: [1] } }, new Uint8Array(16)),
      'offsets',
      /"x": data_offsets must be two byte offsets \[begin, end\], but it is missing/,
    ],
    [
      'overlapping tensors',
      () => fileOf({ first: f32([4], 0), second: f32([4], 8) }, new Uint8Array(24)),
      'overlap',
      /"first" and "second" overlap/,
    ],
    [
      'a gap between tensors',
      () => fileOf({ first: f32([2], 0), second: f32([2], 12) }, new Uint8Array(20)),
      'gap',
      /bytes 8–12 of the data section, between tensors "first" and "second", belong to no tensor/,
    ],
    [
      'a first tensor that does not start at byte 0',
      () => fileOf({ x: f32([2], 4) }, new Uint8Array(12)),
      'gap',
      /"x" starts at byte 4 of the data section, but the first tensor must start at 0/,
    ],
    [
      'bytes after the last tensor',
      () => fileOf({ x: f32([2], 0) }, new Uint8Array(9)),
      'trailing-bytes',
      /tensors end at byte 8 of the data section but the file has 1 more byte after/,
    ],
    [
      'a dtype the format does not have',
      () => fileOf({ x: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      'unknown-dtype',
      /"x": dtype must be one of the format's \(F32, F16, BF16, I64, …\), but it is "F33"/,
    ],
    [
      'no dtype',
      () => fileOf({ x: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      'unknown-dtype',
      /"x": dtype must be .* but it is missing/,
    ],
    [
      'metadata that is not a map of strings',
      () => fileOf({ __metadata__: { format: 1 } }, new Uint8Array(0)),
      'bad-entry',
      /"__metadata__" must map names to strings, but it is \{"format":1\}/,
    ],
    [
      'a shape that does not fit its byte range',
      () =>
        fileOf({ x: f32([2, 3], 0), y: { ...f32([2], 24), shape: [2, 3] } }, new Uint8Array(32)),
      'shape-size',
      /"y": shape \[2, 3\] of F32 needs 24 bytes, the offsets give 8/,
    ],
    [
      'a shape that is not a list of sizes',
      () =>
        fileOf({ x: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      'bad-entry',
      /"x": shape must be a list of sizes, but it is \[2,-1\]/,
    ],
    [
      'an entry that is not an object',
      () => fileOf({ x: 3 }, new Uint8Array(0)),
      'bad-entry',
      /"x": header entry is not an object/,
    ],
  ];
  for (const [name, make, code, message] of cases) {
    it(`${name}: ${code}`, () => {
      const err = parseError(make());
      expect(err.code).toBe(code);
      expect(err.name).toBe('SafetensorsError');
      expect(err.message).toMatch(message);
      expect(err.message).not.toMatch(/undefined/);
    });
  }

  it("a header length shortened by 1–6 bytes, into the header's padding, is refused", () => {
    // The JSON still parses without its trailing spaces, and every tensor would be read shifted.
    const fixture = new Uint8Array(readFileSync(GPT2_FIXTURE));
    const length = new DataView(fixture.buffer).getBigUint64(0, true);
    parseSafetensors(fixture);
    for (let k = 1; k <= 6; k++) {
      const bytes = fixture.slice();
      new DataView(bytes.buffer).setBigUint64(0, length - BigInt(k), true);
      const err = parseError(bytes);
      expect(err.code, `shortened by ${k}`).toBe('trailing-bytes');
      expect(err.message).toMatch(
        new RegExp(`file has ${k} more bytes? after it \\(is the header length field wrong\\?\\)`),
      );
    }
  });

  it('integer and boolean tensors parse (buffers), but are not read as weights', () => {
    const bytes = fileOf(
      { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, w: f32([1], 16) },
      new Uint8Array(20),
    );
    const file = parseSafetensors(bytes);
    expect(file.entries.get('ids')).toEqual({ dtype: 'I64', shape: [2], begin: 0, end: 16 });
    expect(isFloatDtype('I64')).toBe(false);
    expect(isFloatDtype('BF16')).toBe(true);
    expect(Array.from(readFloat32(file, 'w'))).toEqual([0]);
    expect(() => readFloat32(file, 'ids')).toThrow(
      expect.objectContaining({
        code: 'unsupported-dtype',
        message: 'tensor "ids" is I64, but weights must be F32, F16, BF16, F64',
      }),
    );
  });

  it('the header alone gives the file size the tensors describe (a download checks it first)', () => {
    const header = parseSafetensorsHeader(VALID.subarray(0, 8 + VALID_HEADER_LENGTH), null);
    expect(header.fileBytes).toBe(VALID.length);
    expect(header.headerLength).toBe(VALID_HEADER_LENGTH);
    expect([...header.entries.keys()]).toEqual(['a.weight', 'b.bias']);
  });

  it('the valid file those cases start from parses', () => {
    const file = parseSafetensors(VALID);
    expect([...file.entries.keys()]).toEqual(['a.weight', 'b.bias']);
    expect(Array.from(readFloat32(file, 'b.bias'))).toEqual([7, 8, 9, 10]);
  });

  it('reading a tensor the file lacks names it', () => {
    expect(() => readFloat32(parseSafetensors(VALID), 'c.weight')).toThrow(
      expect.objectContaining({ code: 'bad-entry', message: expect.stringMatching(/"c\.weight"/) }),
    );
  });
});

/** IEEE 754 binary16 from its bits, by the definition. */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * fraction * 2 ** -24; // subnormal (and ±0)
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function roundTrip(values: number[], dtype: 'F32' | 'F16'): { out: Float32Array; raw: Uint8Array } {
  const bytes = writeSafetensors(
    { x: { shape: [values.length], data: Float32Array.from(values) } },
    dtype,
  );
  const file = parseSafetensors(bytes);
  expect(file.entries.get('x')!.dtype).toBe(dtype);
  return { out: readFloat32(file, 'x'), raw: file.data };
}

describe('round trips', () => {
  it('F64: narrowed to float32, a value beyond its range to ±∞', () => {
    const data = new Uint8Array(24);
    const view = new DataView(data.buffer);
    [1 / 3, -2.5, 1e300].forEach((v, i) => view.setFloat64(8 * i, v, true));
    const file = parseSafetensors(
      fileOf({ w: { dtype: 'F64', shape: [3], data_offsets: [0, 24] } }, data),
    );
    expect(Array.from(readFloat32(file, 'w'))).toEqual([Math.fround(1 / 3), -2.5, Infinity]);
  });

  it('F32: every value, ±0, subnormals, ±∞ and NaN come back bit for bit; layout as documented', () => {
    const rng = new SeededRandom(1);
    const special = [0, -0, 1e-45, -1.1754942e-38, 3.4028234663852886e38, Infinity, -Infinity, NaN];
    const tensors = {
      'z.last': { shape: [2, 4], data: Float32Array.from(special) },
      'a.first': {
        shape: [3, 1, 5],
        data: Float32Array.from({ length: 15 }, () => rng.normal() * 1e3),
      },
      'm.empty': { shape: [0, 4], data: new Float32Array(0) },
    };
    const bytes = writeSafetensors(tensors, 'F32', { format: 'attention-lab' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'attention-lab' });
    expect([...file.entries.keys()]).toEqual(['a.first', 'm.empty', 'z.last']);
    expect(file.entries.get('a.first')).toEqual({
      dtype: 'F32',
      shape: [3, 1, 5],
      begin: 0,
      end: 60,
    });
    expect(file.entries.get('z.last')).toEqual({ dtype: 'F32', shape: [2, 4], begin: 60, end: 92 });
    for (const [name, t] of Object.entries(tensors)) {
      const back = readFloat32(file, name);
      expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(t.data.buffer));
    }
  });

  it('a file lying at an odd byte offset inside a larger buffer reads the same', () => {
    const shifted = new Uint8Array(VALID.length + 3);
    shifted.set(VALID, 3);
    const file = parseSafetensors(shifted.subarray(3));
    expect(Array.from(readFloat32(file, 'a.weight'))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(readFloat32(file, 'b.bias'))).toEqual([7, 8, 9, 10]);
  });

  it('F16: all 65 536 half values survive writing and reading, bits included', () => {
    const bits = Array.from({ length: 65536 }, (_, i) => i);
    const values = bits.map(halfValue);
    const { out, raw } = roundTrip(values, 'F16');
    const written = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let mismatches = 0;
    for (const b of bits) {
      const w = written.getUint16(2 * b, true);
      if (Number.isNaN(values[b])) {
        if (!Number.isNaN(out[b]) || (w & 0x7c00) !== 0x7c00 || (w & 0x3ff) === 0) mismatches++;
      } else if (!Object.is(out[b], values[b]) || w !== b) {
        mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('F16: rounds to nearest, ties to even, overflows to ∞ and underflows to 0 as IEEE does', () => {
    const max = 65504;
    const tiny = 2 ** -24; // smallest subnormal
    const cases: [number, number][] = [
      [1 + 2 ** -11, 1], // tie between 1 and 1 + 2⁻¹⁰: even mantissa (1)
      [1 + 3 * 2 ** -11, 1 + 2 * 2 ** -10], // tie: rounds up to the even one
      [1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -10], // just above the tie
      [1 + 2 ** -11 - 2 ** -20, 1], // just below the tie
      [2 - 2 ** -12, 2], // the carry runs into the exponent
      [65519, max],
      [65520, Infinity], // the tie above the largest half rounds to ∞
      [1e6, Infinity],
      [-1e6, -Infinity],
      [tiny / 2, 0], // tie between 0 and the smallest subnormal: even (0)
      [(tiny / 2) * 1.0001, tiny],
      [1.5 * tiny, 2 * tiny], // subnormal tie: even
      [2.5 * tiny, 2 * tiny],
      [tiny / 3, 0],
      [-tiny / 3, -0],
      [2 ** -14 - tiny / 2, 2 ** -14], // the largest subnormal's tie rounds to the smallest normal
    ];
    const { out } = roundTrip(
      cases.map(([v]) => v),
      'F16',
    );
    // toBe compares with Object.is: +0 and −0 are told apart
    cases.forEach(([v, expected], i) => expect(out[i], `F16(${v})`).toBe(expected));
  });

  it('F16: random values within half precision (2⁻¹¹ relative, 2⁻²⁵ absolute among subnormals)', () => {
    const rng = new SeededRandom(2);
    const values = Array.from({ length: 4000 }, (_, i) => rng.normal() * 10 ** ((i % 11) - 7));
    const rounded = Float32Array.from(values);
    const { out } = roundTrip(values, 'F16');
    rounded.forEach((v, i) => {
      const bound = Math.abs(v) >= 2 ** -14 ? Math.abs(v) * 2 ** -11 : 2 ** -25;
      expect(Math.abs(out[i] - v), `F16(${v})`).toBeLessThanOrEqual(bound);
    });
  });

  it('BF16: bytes written by hand read back as the upper half of a float32', () => {
    const bits = [0x3f80, 0xc000, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x3eab, 0x8000, 0x4049];
    const expected = [1, -2, Infinity, -Infinity, NaN, 2 ** -133, 0.333984375, -0, 3.140625];
    const data = new Uint8Array(2 * bits.length);
    bits.forEach((b, i) => {
      data[2 * i] = b & 0xff; // little-endian
      data[2 * i + 1] = b >> 8;
    });
    const file = parseSafetensors(
      fileOf({ w: { dtype: 'BF16', shape: [3, 3], data_offsets: [0, data.length] } }, data),
    );
    const out = readFloat32(file, 'w');
    expected.forEach((v, i) =>
      expect(Object.is(out[i], v), `BF16 0x${bits[i].toString(16)}`).toBe(true),
    );
  });

  it('F16 and BF16: all 65 536 bit patterns, aligned and at an odd byte offset, read as IEEE defines them', () => {
    const data = new Uint8Array(2 * 65536);
    for (let b = 0; b < 65536; b++) {
      data[2 * b] = b & 0xff;
      data[2 * b + 1] = b >> 8;
    }
    // BF16 by its definition: the upper 16 bits of a float32.
    const float32 = new DataView(new ArrayBuffer(4));
    const bf16Value = (bits: number) => {
      float32.setUint32(0, bits << 16);
      return float32.getFloat32(0);
    };
    const mismatches: string[] = [];
    for (const [dtype, value] of [
      ['F16', halfValue],
      ['BF16', bf16Value],
    ] as const) {
      const bytes = fileOf({ w: { dtype, shape: [65536], data_offsets: [0, data.length] } }, data);
      // The same file one byte further into a buffer: of the two, one has its data at an odd
      // offset (read through a DataView) and one at an even one (a Uint16Array view).
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      for (const file of [bytes, shifted.subarray(1)]) {
        const parsed = parseSafetensors(file);
        const out = readFloat32(parsed, 'w');
        for (let b = 0; b < 65536; b++) {
          const same = Number.isNaN(value(b)) ? Number.isNaN(out[b]) : Object.is(out[b], value(b));
          if (!same)
            mismatches.push(`${dtype} 0x${b.toString(16)} at offset ${parsed.data.byteOffset}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});
