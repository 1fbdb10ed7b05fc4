// The per-second rows of a facility's 60-second context window: NetworkMetrics (the API's shape) plus the
// per-protocol counts the detectors use. The agent's window produces them; the link to the aggregator sends them.
import type { NetworkMetrics } from '../api.js';

/** Relative standard error of the unique-address counts (HyperLogLog with 2^10 registers: 1.04 / sqrt(1024)). */
export const UNIQUE_COUNT_STANDARD_ERROR = 0.0325;

/** Protocol classes of protocol_distribution (shares of the second's packets, 0..1). */
export const WINDOW_PROTOCOLS = ['modbus', 'mqtt', 'dns', 'http', 'tcp', 'udp', 'icmp', 'other'] as const;
export type WindowProtocol = (typeof WINDOW_PROTOCOLS)[number];

export interface FacilitySecond extends NetworkMetrics {
  /** Modbus requests of the read functions (1-4, 7, 11, 12, 17, 20, 24, 43 and the read half of 23). */
  modbus_reads: number;
  /** Modbus requests of the write functions (5, 6, 15, 16, 21, 22, 23). */
  modbus_writes: number;
  modbus_exceptions: number;
  /** Modbus requests by function code ("3": 120); exceptions by function code. */
  modbus_requests_by_function: Record<string, number>;
  modbus_exceptions_by_function: Record<string, number>;
  mqtt_connects: number;
  mqtt_publishes: number;
  dns_queries: number;
  dns_nxdomain: number;
  http_requests: number;
}
