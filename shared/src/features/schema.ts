// The per-packet feature record, defined once: models, the agent's extractor and anything that stores feature rows
// depend on this list and its order. FEATURE_SCHEMA_VERSION is a hash of the list (names, order, meaning), so a
// model trained on one schema refuses rows of another. Change the list only together with the models using it.

export interface FeatureField {
  name: string;
  description: string;
}

/** Application protocol codes in the `app_protocol` feature. */
export const APP_PROTOCOL_CODES = { none: 0, modbus: 1, mqtt: 2, dns: 3, http: 4 } as const;

/** HTTP method codes in the `http_method` feature (any other method is 9). */
export const HTTP_METHOD_CODES: Readonly<Record<string, number>> = {
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  HEAD: 5,
  OPTIONS: 6,
  PATCH: 7,
  CONNECT: 8,
};
export const HTTP_METHOD_OTHER = 9;

/**
 * The features of one packet, in order. Absent values are 0 (a packet without Modbus has all modbus_* at 0; the
 * app_protocol field tells which block is filled). Application fields describe the first PDU the packet completes.
 */
export const FEATURE_FIELDS: readonly FeatureField[] = [
  { name: 'ip_version', description: '4 or 6' },
  { name: 'ip_proto', description: 'IP protocol number (6 TCP, 17 UDP, 1/58 ICMP)' },
  { name: 'src_port', description: 'transport source port' },
  { name: 'dst_port', description: 'transport destination port' },
  { name: 'packet_size', description: 'frame length on the wire, bytes' },
  { name: 'payload_size', description: 'transport payload length, bytes' },
  {
    name: 'tcp_flags',
    description: 'TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128)',
  },
  { name: 'tcp_window', description: 'TCP window field' },
  {
    name: 'conn_state',
    description: 'TCP connection state after this packet (0 none .. 6 reset, agent TcpState)',
  },
  { name: 'new_flow', description: '1 when this packet created its flow' },
  {
    name: 'to_server',
    description: '1 when the destination port is below the source port (the usual server side)',
  },
  { name: 'app_protocol', description: 'APP_PROTOCOL_CODES of the first PDU this packet completes' },
  { name: 'app_pdus', description: 'application PDUs completed by this packet' },
  { name: 'malformed', description: '1 when that PDU was marked malformed' },
  { name: 'modbus_trans_id', description: 'MBAP transaction id' },
  { name: 'modbus_unit_id', description: 'MBAP unit id' },
  { name: 'modbus_func_code', description: 'function code without the exception bit' },
  { name: 'modbus_exception_code', description: 'exception code, 0 when none' },
  { name: 'modbus_length', description: 'quantity of registers/coils, or value count, of the PDU' },
  { name: 'modbus_address', description: 'start address' },
  { name: 'modbus_is_response', description: '1 for a response' },
  { name: 'mqtt_type', description: 'control packet type 1-15' },
  { name: 'mqtt_qos', description: 'PUBLISH QoS' },
  {
    name: 'mqtt_topic_length',
    description: 'PUBLISH topic length, or the summed SUBSCRIBE/UNSUBSCRIBE filter lengths',
  },
  { name: 'mqtt_payload_size', description: 'PUBLISH payload bytes' },
  { name: 'dns_name_length', description: 'first question name length, characters' },
  { name: 'dns_qtype', description: 'first question type' },
  { name: 'dns_rcode', description: 'response code' },
  { name: 'dns_is_response', description: '1 for a response' },
  { name: 'dns_answers', description: 'answer record count' },
  { name: 'dns_retransmission', description: '1 when the query repeats an outstanding id in its flow' },
  { name: 'http_method', description: 'HTTP_METHOD_CODES of a request' },
  { name: 'http_uri_length', description: 'request URI length' },
  { name: 'http_status', description: 'response status code' },
  { name: 'http_length', description: 'message body bytes' },
];

/** Number of features per packet record. */
export const FEATURE_COUNT = FEATURE_FIELDS.length;

/** Index of each feature by name. */
export const FEATURE_INDEX: Readonly<Record<string, number>> = Object.fromEntries(
  FEATURE_FIELDS.map((f, i) => [f.name, i]),
);

/**
 * Hash of the canonical schema text (names and descriptions in order): 64-bit FNV-1a over the UTF-16 code units,
 * 16 hex digits. Plain JS (no node:crypto) so browsers and Node compute the same version.
 */
export function schemaHash(fields: readonly FeatureField[]): string {
  const text = JSON.stringify(fields.map((f) => [f.name, f.description]));
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

export const FEATURE_SCHEMA_VERSION = schemaHash(FEATURE_FIELDS);
