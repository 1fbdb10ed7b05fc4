// The one list of application decoders. A new protocol is one file in this folder plus one line here.
import { DnsTcpDecoder, DnsUdpDecoder } from './dns.js';
import { HttpDecoder } from './http.js';
import { ModbusDecoder } from './modbus.js';
import { MqttDecoder } from './mqtt.js';
import { Counters, type Decoder } from './types.js';

export function createDecoders(): Decoder[] {
  const dns = new Counters();
  return [
    new ModbusDecoder(),
    new MqttDecoder(),
    new DnsUdpDecoder(dns),
    new DnsTcpDecoder(dns),
    new HttpDecoder(),
  ];
}
