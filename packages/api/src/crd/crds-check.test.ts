import { describe, expect, it } from 'vitest';
import * as api from '../index.js';
import { diffFiles, renderFiles } from '../../../../test/checks/crds.mjs';

describe('deploy/crds and docs/crds.md are rendered from packages/api/src/crd', () => {
  it('the files in the tree are current (else: build packages/api and run node test/checks/crds.mjs --write)', () => {
    const files = renderFiles(api);
    expect(files.map((f) => f.path)).toContain('deploy/crds/backups.ferry.dev.yaml');
    expect(diffFiles(files)).toEqual([]);
  });

  it('notices a change of the source', () => {
    const changed = { ...api, CRD_DEFINITIONS: api.CRD_DEFINITIONS.map((d) => (d.kind === 'Backup' ? { ...d, shortNames: ['fbk'] } : d)) };
    expect(diffFiles(renderFiles(changed))).toEqual(['deploy/crds/backups.ferry.dev.yaml is out of date', 'docs/crds.md is out of date']);
  });

  it('refuses a printer column that points at no field or at a field of another type', () => {
    const broken = (column: api.PrinterColumn) => ({
      ...api,
      CRD_DEFINITIONS: api.CRD_DEFINITIONS.map((d) => (d.kind === 'Restore' ? { ...d, printerColumns: [...d.printerColumns, column] } : d)),
    });
    expect(() => renderFiles(broken({ name: 'X', type: 'string', jsonPath: '.status.phaes', description: 'typo' }))).toThrow(/\.status\.phaes is not a field/);
    expect(() => renderFiles(broken({ name: 'X', type: 'date', jsonPath: '.status.phase', description: 'wrong type' }))).toThrow(/is string, column says date/);
  });
});
