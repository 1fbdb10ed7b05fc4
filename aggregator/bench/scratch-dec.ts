import protobuf from 'protobufjs';
import { join } from 'node:path';
import { PROTO_ROOT } from '@vigil/proto';
import { alertToPb, alertFromPb } from '@vigil/proto/codec';
import { loadLink, type AgentMessage, type PbAlert } from '@vigil/proto/link';
import { encodeAlertMessage } from '@vigil/agent/link/wire';
import { sampleAlert } from '../src/link/testing/fixtures.js';
const TL = Number(process.env.TL ?? 1);
const N = TL > 1 ? 2000 : 20000; const B = TL > 1 ? 100 : 2000;
const root = new protobuf.Root(); root.resolvePath = (_o, t) => join(PROTO_ROOT, t);
root.loadSync('vigil/v1/link.proto', { keepCase: true });
const AM = root.lookupType('vigil.v1.AgentMessage');
const connect = loadLink().link.Connect as unknown as { requestDeserialize(b: Buffer): AgentMessage };
const wire: Buffer[] = [];
for (let i = 0; i < N; i += B) wire.push(encodeAlertMessage(i / B + 1, Array.from({ length: B }, (_, j) => alertToPb(sampleAlert(i + j, { timelinePoints: TL })))));
const m = (f: () => void): string => { const c0 = process.cpuUsage(); f(); const c = process.cpuUsage(c0); return ((c.user + c.system) / N).toFixed(1); };
for (let r = 0; r < 3; r++) {
  let a: PbAlert[] = []; let b: PbAlert[] = [];
  const t1 = m(() => { a = wire.flatMap((w) => { const x = connect.requestDeserialize(w); return 'alerts' in x && x.alerts ? x.alerts.alerts : []; }); });
  const t2 = m(() => { b = wire.flatMap((w) => (AM.decode(w) as unknown as { alerts: { alerts: PbAlert[] } }).alerts.alerts); });
  const v1 = m(() => { for (const x of a) alertFromPb(x, 'p'); });
  const v2 = m(() => { for (const x of b) alertFromPb(x, 'p'); });
  console.log(`decode+toObject ${t1}  decode ${t2}  validate(obj) ${v1} validate(msg) ${v2}`);
}
