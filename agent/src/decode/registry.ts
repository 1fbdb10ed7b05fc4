// The one list of application decoders. A new protocol is:
//   1. `decode/<protocol>.ts`: a class implementing Decoder (types.ts) with its constants beside it, and its event
//      interface (extends EventBase, field names as in the JSONL output);
//   2. its name added to `Protocol` and its event to `DecodedEvent` in types.ts;
//   3. `decode/<protocol>.test.ts`, and its tshark fields in the oracle test (cli/decode.oracle.test.ts);
//   4. one line below.
// TCP decoders frame PDUs with pduLength() and get them reassembled; UDP decoders get one datagram per decode().
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
