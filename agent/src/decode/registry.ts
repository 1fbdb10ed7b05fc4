// The one list of application decoders. A new protocol is one file in this folder plus one line here.
import { ModbusDecoder } from './modbus.js';
import type { Decoder } from './types.js';

export function createDecoders(): Decoder[] {
  return [new ModbusDecoder()];
}
