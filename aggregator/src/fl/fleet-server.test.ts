// The aggregator's Fleet API on the link port, end to end in one process: real CA, enrolled agents, mTLS, and the
// agents' real SuperNode (GrpcFleetRpc) training a small MLP with DP-SGD. Runtime: about 5 s.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enroll } from '@vigil/agent/link/identity';
import { SequentialDpTrainer, modelArrays } from '@vigil/agent/fl/local-trainer';
import { Dense, Sequential, seededRng, softmaxCrossEntropy } from '@vigil/models';
import { FleetRpcError, GrpcFleetRpc } from '@vigil/proto/flower/fleet-rpc';
import { CLIENT_OPTIONS, SERVER_MAX_RECEIVE_BYTES } from '@vigil/proto/link';
import { LinkServer } from '../link/server.js';
import { issueToken, waitFor } from '../link/testing/fixtures.js';
import { fleetNode, servedLink, type ServedLink } from '../link/testing/served.js';
import { FleetServer, nodeIdOf } from './fleet-server.js';
import { FEATURES, blobs, localModel } from './testing/local-fleet.js';
import type { Progress } from './transport.js';

describe('Fleet API on the link port', () => {
  let fx: ServedLink;
  let fleet: FleetServer;
  const lines: string[] = [];

  beforeEach(async () => {
    fleet = new FleetServer({ log: (l) => lines.push(l) });
    fx = await servedLink({ services: [fleet] });
  });
  afterEach(() => fx.cleanup());

  async function identity(facility: string) {
    const token = await issueToken(fx.store, fx.ca, facility);
    return enroll({ aggregator: fx.address, token, dataDir: join(fx.dir, facility) });
  }

  async function credentials(facility: string) {
    const id = await identity(facility);
    return grpc.credentials.createSsl(id.caPem, id.keyPem, id.certPem);
  }

  function rpc(creds: grpc.ChannelCredentials) {
    const r = new GrpcFleetRpc({
      address: fx.address,
      credentials: creds,
      channelOptions: CLIENT_OPTIONS,
    });
    fx.defer(() => r.close());
    return r;
  }

  function agent(facility: string, examples: number, seed: number, model = localModel(seed)) {
    return fleetNode(fx, facility, {
      trainer: new SequentialDpTrainer({
        model,
        loss: softmaxCrossEntropy,
        data: blobs(examples, 0, seededRng(seed)),
        dp: { clipNorm: 1, noiseMultiplier: 0.5, sampleRate: 0.5 },
        rng: seededRng(seed + 1),
      }),
      log: (l) => lines.push(l),
    });
  }

  it('serves enrolled agents as nodes named by their certificate, and runs train and evaluate on them', async () => {
    await agent('plant-a', 40, 1);
    await agent('plant-b', 64, 2);
    expect(await waitFor(() => fleet.nodes().filter((n) => n.online).length === 2, 10_000)).toBe(true);
    expect(
      fleet
        .nodes()
        .map((n) => [n.facilityId, n.nodeId])
        .sort(),
    ).toEqual([
      ['plant-a', nodeIdOf('plant-a')],
      ['plant-b', nodeIdOf('plant-b')],
    ]);
    const progress: Progress[] = [];
    fleet.onProgress((p) => progress.push(p));
    const arrays = modelArrays(localModel(9));

    const signal = AbortSignal.timeout(20_000);
    const [a, b] = await Promise.all(
      ['plant-a', 'plant-b'].map((f) =>
        fleet.train(nodeIdOf(f), { round: 1, arrays, config: { lr: 0.1, 'local-epochs': 2 } }, signal),
      ),
    );

    expect(a!.metrics['num-examples']).toBe(40);
    expect(b!.metrics['num-examples']).toBe(64);
    expect(a!.metrics.loss).toBeGreaterThan(0);
    expect([...a!.arrays.keys()]).toEqual([...arrays.keys()]);
    expect(a!.arrays.get('0.dense.weight')!.shape).toEqual([8, FEATURES]);
    expect(a!.arrays.get('0.dense.weight')!.data).not.toEqual(arrays.get('0.dense.weight')!.data);
    for (const f of ['plant-a', 'plant-b']) {
      expect(progress.filter((p) => p.nodeId === nodeIdOf(f)).map((p) => [p.round, p.phase])).toEqual([
        [1, 'sent'],
        [1, 'submitted'],
      ]);
    }
    const ev = await fleet.evaluate(nodeIdOf('plant-b'), { round: 1, arrays: b!.arrays, config: {} }, signal);
    expect(ev.metrics['num-examples']).toBe(64);
    expect(ev.metrics.accuracy).toBeGreaterThanOrEqual(0);
  }, 60_000);

  it('rejects a round on a node that went away, and on abort (round timeout)', async () => {
    const { node, stop, running } = await agent('plant-c', 20, 3);
    expect(await waitFor(() => node.id !== null && fleet.nodes().some((n) => n.online), 10_000)).toBe(true);
    const arrays = modelArrays(localModel(9));
    stop.abort();
    await running;
    await expect(
      fleet.train(nodeIdOf('plant-c'), { round: 1, arrays, config: {} }, AbortSignal.timeout(5_000)),
    ).rejects.toThrow(/not online/);

    // An online node that never answers: the round's signal ends the wait.
    const creds = await credentials('plant-d');
    const silent = rpc(creds);
    await silent.call('ActivateNode', { public_key: new Uint8Array(0), heartbeat_interval: 30 });
    const ac = new AbortController();
    const pending = fleet.train(nodeIdOf('plant-d'), { round: 2, arrays, config: {} }, ac.signal);
    ac.abort(new Error('round timeout'));
    await expect(pending).rejects.toThrow('round timeout');
  }, 30_000);

  it("refuses a call naming another facility's node, and a call without a client certificate", async () => {
    const creds = await credentials('plant-e');
    const r = rpc(creds);
    await r.call('ActivateNode', { public_key: new Uint8Array(0), heartbeat_interval: 30 });

    const other = r.call('PullMessages', { node: { node_id: nodeIdOf('plant-f') }, message_ids: [] });
    await expect(other).rejects.toBeInstanceOf(FleetRpcError);
    await expect(other).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });

    const anonymous = rpc(grpc.credentials.createSsl(Buffer.from(fx.ca.certPem)));
    await expect(
      anonymous.call('ActivateNode', { public_key: new Uint8Array(0), heartbeat_interval: 30 }),
    ).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    expect(fleet.nodes().map((n) => n.facilityId)).toEqual(['plant-e']);
  }, 30_000);

  it("carries models larger than the link's message limit, in chunks, both ways", async () => {
    // 4 -> 400000 -> 2: 2.8 M parameters, 11 MB of float32, beyond the 4 MiB a single message may carry.
    const rng = seededRng(5);
    const big = () =>
      new Sequential([
        new Dense({ inputSize: FEATURES, outputSize: 400_000, rng }),
        new Dense({ inputSize: 400_000, outputSize: 2, rng }),
      ]);
    const model = big();
    expect(model.parameterCount * 4).toBeGreaterThan(2 * SERVER_MAX_RECEIVE_BYTES);
    const { node } = await agent('plant-g', 4, 6, model);
    expect(await waitFor(() => node.id !== null && fleet.nodes().some((n) => n.online), 10_000)).toBe(true);
    const arrays = modelArrays(big());

    const res = await fleet.train(
      nodeIdOf('plant-g'),
      { round: 1, arrays, config: { 'local-epochs': 1 } },
      AbortSignal.timeout(60_000),
    );

    expect(res.metrics['num-examples']).toBe(4);
    expect(res.arrays.get('0.dense.weight')!.data.length).toBe(FEATURES * 400_000);
    expect(res.arrays.get('2.dense.weight')!.shape).toEqual([2, 400_000]);
  }, 90_000);

  it('keeps a node serving across an aggregator restart (its pulls fail, back off, and resume)', async () => {
    const { node } = await agent('plant-h', 20, 7);
    expect(await waitFor(() => node.id !== null && fleet.nodes().some((n) => n.online), 10_000)).toBe(true);
    await fx.server.shutdown();
    await new Promise((r) => setTimeout(r, 1_000));
    const restarted = new LinkServer({
      store: fx.store,
      ca: fx.ca,
      host: '127.0.0.1',
      port: fx.server.port,
      log: () => undefined,
      services: [fleet],
    });
    await restarted.start();
    fx.defer(() => restarted.shutdown());

    const res = await fleet.train(
      nodeIdOf('plant-h'),
      { round: 1, arrays: modelArrays(localModel(9)), config: {} },
      AbortSignal.timeout(30_000),
    );

    expect(res.metrics['num-examples']).toBe(20);
    expect(lines.some((l) => /retrying in \d+ ms/.test(l))).toBe(true);
  }, 60_000);
});
