// float32 tensors as NumPy .npy bytes (format version 1.0), byte for byte what numpy.save() writes: Flower's
// ArrayRecord carries arrays this way (stype "numpy.ndarray"), and the object ids hash these bytes.
import { ObjectFormatError } from './inflatable.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;
/** numpy leaves room in the header for the growth axis to reach 21 digits (format.GROWTH_AXIS_MAX_DIGITS). */
const GROWTH_AXIS_MAX_DIGITS = 21;

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encodes a C-order float32 array as numpy.save(allow_pickle=False) does. */
export function toNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new Error(`toNpy: shape ${shapeRepr(shape)} needs ${count} values, got ${data.length}`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) header += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const hlen = header.length + 1; // + '\n'
  // numpy pads to the alignment with spaces before the '\n', a whole ALIGN of them when already aligned.
  const padding = ALIGN - ((MAGIC.length + 2 + 2 + hlen) % ALIGN);
  const total = hlen + padding;
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(total, 8);
  const head = Buffer.from(`${header}${' '.repeat(padding)}\n`, 'latin1');
  const out = new Uint8Array(prefix.length + head.length + data.length * 4);
  out.set(prefix, 0);
  out.set(head, prefix.length);
  const body = new DataView(out.buffer, prefix.length + head.length, data.length * 4);
  for (let i = 0; i < data.length; i++) body.setFloat32(i * 4, data[i]!, true);
  return out;
}

/** Decodes .npy bytes holding a little-endian float32 C-order array (what Flower's FedAvg sends for float32). */
export function fromNpy(bytes: Uint8Array): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC))
    throw new ObjectFormatError('array data is not .npy (bad magic)');
  const major = buf[6]!;
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new ObjectFormatError('truncated .npy header');
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else throw new ObjectFormatError(`unsupported .npy version ${major}`);
  if (headerStart + headerLen > buf.length) throw new ObjectFormatError('truncated .npy header');
  const header = buf.subarray(headerStart, headerStart + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new ObjectFormatError(`unreadable .npy header "${header.slice(0, 80)}"`);
  }
  if (descr !== '<f4') throw new ObjectFormatError(`array dtype ${descr} is not float32 ('<f4')`);
  if (fortran !== 'False') throw new ObjectFormatError('Fortran-order arrays are not supported');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+$/.test(s)) throw new ObjectFormatError(`bad .npy shape "${shapeText}"`);
      return Number(s);
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLen;
  if (buf.length - start !== count * 4) {
    throw new ObjectFormatError(
      `.npy data is ${buf.length - start} bytes, shape ${shapeRepr(shape)} needs ${count * 4}`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset + start, count * 4);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
  return { shape, data };
}
