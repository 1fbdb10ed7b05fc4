import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SECTION_END, SECTION_START, writeSection } from './eval.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('EVAL.md detection section', () => {
  it('replaces only its own section and keeps the sections of other evaluations', () => {
    const file = join(dir, 'EVAL.md');
    writeFileSync(file, '# Model evaluations\n\n## Next-technique prediction\n\nfigures\n');

    writeSection(file, `${SECTION_START}\nfirst run\n${SECTION_END}`);
    writeSection(file, `${SECTION_START}\nsecond run\n${SECTION_END}`);

    const text = readFileSync(file, 'utf8');
    expect(text).toContain('## Next-technique prediction\n\nfigures');
    expect(text).toContain('second run');
    expect(text).not.toContain('first run');
    expect(text.split(SECTION_START)).toHaveLength(2);
  });
});
