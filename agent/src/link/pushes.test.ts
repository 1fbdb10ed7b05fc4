import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modelVersions, pushHandler } from './pushes.js';

describe('pushHandler', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-pushes-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const model = (
    payload: Buffer,
    version: string,
    sha256 = createHash('sha256').update(payload).digest('hex'),
  ) => ({
    model: { push_id: 'p', name: 'l1-autoencoder', version, payload, sha256, format: 'onnx' },
  });

  it('stores a pushed model whose sha256 matches and records its version', async () => {
    const handle = pushHandler(dir);

    await handle(model(Buffer.from('weights v1'), '1'));
    await handle(model(Buffer.from('weights v2'), '2'));

    expect(readFileSync(join(dir, 'models', 'l1-autoencoder', '2.onnx'), 'utf8')).toBe('weights v2');
    expect(modelVersions(dir)).toEqual({ 'l1-autoencoder': '2' });
  });

  it('refuses a model whose payload does not match its sha256, a path-like name, and config pushes', async () => {
    const handle = pushHandler(dir);

    await expect(handle(model(Buffer.from('weights'), '1', 'ab'.repeat(32)))).rejects.toThrow(
      /sha256 mismatch/,
    );
    await expect(handle(model(Buffer.from('w'), '../../etc'))).rejects.toThrow(/file name/);
    await expect(handle({ config: { push_id: 'c', settings_json: '{}' } })).rejects.toThrow(
      /no configuration/,
    );
    expect(modelVersions(dir)).toEqual({});
  });
});
