import { describe, expect, it } from 'vitest';
import { Activation, Dense, Sequential, seededRng, softmaxCrossEntropy, type Example } from '@vigil/models';
import { ModelTrainers, SequentialDpTrainer, TrainingRequestError, modelArrays } from './local-trainer.js';
import { replyTo } from './supernode.js';

function mlp(seed: number): Sequential {
  const rng = seededRng(seed);
  return new Sequential([
    new Dense({ inputSize: 2, outputSize: 4, rng }),
    new Activation('tanh'),
    new Dense({ inputSize: 4, outputSize: 2, rng }),
  ]);
}

function data(n: number, seed: number): Example[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const c = i % 2;
    return { x: Float32Array.from([c ? 1 : -1, 0.3 * rng.normal()]), y: Float32Array.from([1 - c, c]) };
  });
}

function trainer(n = 50) {
  return new SequentialDpTrainer({
    model: mlp(1),
    loss: softmaxCrossEntropy,
    data: data(n, 2),
    validation: data(20, 3),
    dp: { clipNorm: 1, noiseMultiplier: 0.2, sampleRate: 0.5 },
    rng: seededRng(4),
  });
}

describe('SequentialDpTrainer', () => {
  it('trains from the round arrays, echoes their names, reports the real example count, and its loss falls', async () => {
    const t = trainer(50);
    let arrays = modelArrays(mlp(7));
    const names = [...arrays.keys()];
    const losses: number[] = [];
    for (let round = 0; round < 4; round++) {
      const r = await t.train(arrays, { lr: 0.2, 'local-epochs': 2 });
      expect([...r.arrays.keys()]).toEqual(names);
      expect(r.numExamples).toBe(50);
      expect(r.extra?.['dp-steps']).toBe(4);
      losses.push(r.loss);
      arrays = r.arrays;
    }
    expect(losses[3]!).toBeLessThan(losses[0]!);
    const ev = await t.evaluate(arrays, {});
    expect(ev.numExamples).toBe(20);
    expect(ev.accuracy).toBeGreaterThan(0.8);
  });

  it('routes each message to the trainer of the model its config names, Layer 2 when it names none', async () => {
    const small = trainer(50);
    const wide = new SequentialDpTrainer({
      model: new Sequential([new Dense({ inputSize: 2, outputSize: 3, rng: seededRng(5) })]),
      loss: softmaxCrossEntropy,
      data: data(30, 6).map((e) => ({ x: e.x, y: Float32Array.from([...e.y, 0]) })),
      dp: { clipNorm: 1, noiseMultiplier: 0.2, sampleRate: 0.5 },
      rng: seededRng(4),
    });
    const both = new ModelTrainers(
      new Map([
        ['fl-global', small],
        ['fl-global-l1b', wide],
      ]),
      'fl-global',
    );
    const wideArrays = modelArrays(
      new Sequential([new Dense({ inputSize: 2, outputSize: 3, rng: seededRng(8) })]),
    );

    const named = await both.train(wideArrays, { 'vigil-model': 'fl-global-l1b' });
    const unnamed = await both.train(modelArrays(mlp(7)), {});
    const evaluated = await both.evaluate(wideArrays, { 'vigil-model': 'fl-global-l1b' });

    expect(named.numExamples).toBe(30);
    expect(unnamed.numExamples).toBe(50);
    expect(evaluated.numExamples).toBe(30);
    await expect(both.train(wideArrays, {})).rejects.toThrow(/the round sent 2 arrays, the model has 4/);
    await expect(both.train(wideArrays, { 'vigil-model': 'other' })).rejects.toThrow(
      /config "vigil-model" is "other"; this node trains fl-global, fl-global-l1b/,
    );
  });

  it('refuses arrays that do not fit the model and bad settings, leaving the model unchanged', async () => {
    const t = trainer();
    const good = modelArrays(mlp(7));
    const fewer = new Map([...good].slice(1));
    const reshaped = new Map(good);
    reshaped.set('0.dense.weight', { shape: [2, 4], data: new Float32Array(8) });
    await expect(t.train(fewer, {})).rejects.toThrow(TrainingRequestError);
    await expect(t.train(reshaped, {})).rejects.toThrow(/shape \[2, 4\]/);
    await expect(t.train(good, { lr: 'fast' })).rejects.toThrow(/"lr" must be a number/);
    await expect(t.evaluate(fewer, {})).rejects.toThrow(/4 parameters/);
  });
});

describe('replies', () => {
  const instruction = {
    runId: '77',
    messageId: 'a'.repeat(64),
    srcNodeId: '1',
    dstNodeId: '12345678901234567890',
    replyToMessageId: '',
    groupId: '3',
    ttl: 100,
    messageType: 'train',
    createdAt: 1_000,
    srcTaskId: '99',
  };

  it('swap nodes and tasks, keep run, group and type, and live only as long as the instruction', () => {
    const r = replyTo(instruction, new Map(), null, 1_030);
    expect(r.metadata).toEqual({
      runId: '77',
      messageId: '',
      srcNodeId: '12345678901234567890',
      dstNodeId: '1',
      replyToMessageId: 'a'.repeat(64),
      groupId: '3',
      createdAt: 1_030,
      ttl: 70,
      messageType: 'train',
      dstTaskId: '99',
    });
    expect(r.error).toBeNull();
  });

  it('carry an error instead of content when the instruction failed', () => {
    const r = replyTo(instruction, null, 'boom', 1_010);
    expect(r.content).toBeNull();
    expect(r.error).toEqual({ code: 2n, reason: 'boom' });
  });
});
