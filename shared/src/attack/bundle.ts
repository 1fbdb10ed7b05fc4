// Reads the MITRE ATT&CK for ICS STIX 2.1 bundle into typed, indexed objects. One reader for every consumer: the
// API's technique details, the attack graph (embedded and Neo4j), the predictor, the simulator's labels.
// STIX object types used (ATT&CK v18): attack-pattern (technique), x-mitre-tactic, x-mitre-matrix (tactic order),
// intrusion-set (group), malware/tool (software), campaign, course-of-action (mitigation), x-mitre-asset,
// x-mitre-detection-strategy (with x_mitre_analytic_refs), x-mitre-analytic, relationship.
import { readFileSync } from 'node:fs';
import type { TechniqueDetails } from '../api.js';
import { ATTACK_BUNDLE_PATH } from '../attack-data.js';

export type EntityKind =
  | 'technique'
  | 'tactic'
  | 'group'
  | 'software'
  | 'campaign'
  | 'mitigation'
  | 'asset'
  | 'detection-strategy'
  | 'analytic';

export interface AttackEntity {
  /** STIX id, e.g. `attack-pattern--008b…`. */
  stixId: string;
  kind: EntityKind;
  /** ATT&CK id, e.g. `T0803`, `TA0107`, `G0034`, `S0603`, `C0030`, `M0801`, `A0008`, `DET0738`, `AN1881`. */
  id: string;
  name: string;
  description: string;
}

export interface Technique extends AttackEntity {
  kind: 'technique';
  /** Tactic shortnames from the kill chain phases, e.g. `inhibit-response-function`. */
  tacticShortnames: string[];
}

export interface Tactic extends AttackEntity {
  kind: 'tactic';
  shortname: string;
  /** Position in the ICS matrix, 0-based. */
  order: number;
}

export interface Analytic extends AttackEntity {
  kind: 'analytic';
  platforms: string[];
}

export interface DetectionStrategy extends AttackEntity {
  kind: 'detection-strategy';
  analyticStixIds: string[];
}

export type RelationshipType = 'uses' | 'mitigates' | 'targets' | 'detects' | 'attributed-to';

export interface Relationship {
  type: RelationshipType;
  /** STIX ids of live (not revoked, not deprecated) objects. */
  source: string;
  target: string;
  description: string;
}

interface StixObject {
  type: string;
  id: string;
  name?: string;
  description?: string;
  revoked?: boolean;
  x_mitre_deprecated?: boolean;
  external_references?: { source_name: string; external_id?: string }[];
  kill_chain_phases?: { kill_chain_name: string; phase_name: string }[];
  x_mitre_shortname?: string;
  tactic_refs?: string[];
  x_mitre_analytic_refs?: string[];
  x_mitre_platforms?: string[];
  relationship_type?: string;
  source_ref?: string;
  target_ref?: string;
}

const KIND_OF_TYPE: Record<string, EntityKind> = {
  'attack-pattern': 'technique',
  'x-mitre-tactic': 'tactic',
  'intrusion-set': 'group',
  malware: 'software',
  tool: 'software',
  campaign: 'campaign',
  'course-of-action': 'mitigation',
  'x-mitre-asset': 'asset',
  'x-mitre-detection-strategy': 'detection-strategy',
  'x-mitre-analytic': 'analytic',
};

const RELATIONSHIP_TYPES = new Set<string>(['uses', 'mitigates', 'targets', 'detects', 'attributed-to']);

export class AttackCatalog {
  /** Live entities by STIX id. */
  readonly byStixId = new Map<string, AttackEntity>();
  /** Live entities by ATT&CK id. */
  readonly byId = new Map<string, AttackEntity>();
  readonly techniques: Technique[] = [];
  /** In ICS matrix order. */
  readonly tactics: Tactic[] = [];
  readonly relationships: Relationship[] = [];
  /** Bundle version as MITRE labels it (x-mitre-collection), e.g. `18.1`. */
  readonly version: string;

  private readonly outgoing = new Map<string, Relationship[]>();
  private readonly incoming = new Map<string, Relationship[]>();

  constructor(bundle: unknown) {
    const objects = readObjects(bundle);
    let version = 'unknown';
    let tacticOrder: string[] = [];
    for (const o of objects) {
      if (o.type === 'x-mitre-collection')
        version = (o as { x_mitre_version?: string }).x_mitre_version ?? version;
      if (o.type === 'x-mitre-matrix' && !o.revoked && !o.x_mitre_deprecated)
        tacticOrder = o.tactic_refs ?? [];
    }
    this.version = version;
    for (const o of objects) {
      const kind = KIND_OF_TYPE[o.type];
      if (kind === undefined || o.revoked === true || o.x_mitre_deprecated === true) continue;
      const id = o.external_references?.find((r) => r.source_name === 'mitre-attack')?.external_id;
      if (id === undefined || o.name === undefined) continue;
      const base = { stixId: o.id, id, name: o.name, description: o.description ?? '' };
      let entity: AttackEntity;
      if (kind === 'technique') {
        const t: Technique = {
          ...base,
          kind,
          tacticShortnames: (o.kill_chain_phases ?? [])
            .filter((p) => p.kill_chain_name === 'mitre-ics-attack')
            .map((p) => p.phase_name),
        };
        this.techniques.push(t);
        entity = t;
      } else if (kind === 'tactic') {
        const t: Tactic = {
          ...base,
          kind,
          shortname: o.x_mitre_shortname ?? '',
          order: tacticOrder.indexOf(o.id),
        };
        this.tactics.push(t);
        entity = t;
      } else if (kind === 'analytic') {
        const a: Analytic = { ...base, kind, platforms: o.x_mitre_platforms ?? [] };
        entity = a;
      } else if (kind === 'detection-strategy') {
        const d: DetectionStrategy = { ...base, kind, analyticStixIds: o.x_mitre_analytic_refs ?? [] };
        entity = d;
      } else {
        entity = { ...base, kind };
      }
      this.byStixId.set(o.id, entity);
      this.byId.set(id, entity);
    }
    this.tactics.sort((a, b) => a.order - b.order);
    this.techniques.sort((a, b) => a.id.localeCompare(b.id));
    for (const o of objects) {
      if (o.type !== 'relationship' || o.revoked === true || o.x_mitre_deprecated === true) continue;
      const type = o.relationship_type ?? '';
      if (!RELATIONSHIP_TYPES.has(type) || o.source_ref === undefined || o.target_ref === undefined) continue;
      if (!this.byStixId.has(o.source_ref) || !this.byStixId.has(o.target_ref)) continue;
      const rel: Relationship = {
        type: type as RelationshipType,
        source: o.source_ref,
        target: o.target_ref,
        description: o.description ?? '',
      };
      this.relationships.push(rel);
      push(this.outgoing, rel.source, rel);
      push(this.incoming, rel.target, rel);
    }
  }

  technique(id: string): Technique | undefined {
    const e = this.byId.get(id);
    return e?.kind === 'technique' ? (e as Technique) : undefined;
  }

  /** Live entities related to `stixId` by `type`, in the given direction. */
  related(stixId: string, type: RelationshipType, direction: 'out' | 'in'): AttackEntity[] {
    const rels = (direction === 'out' ? this.outgoing : this.incoming).get(stixId) ?? [];
    const out: AttackEntity[] = [];
    for (const r of rels) {
      if (r.type !== type) continue;
      const other = this.byStixId.get(direction === 'out' ? r.target : r.source);
      if (other !== undefined) out.push(other);
    }
    return out;
  }

  /**
   * The API's TechniqueDetails. ATT&CK v18 techniques carry no detection text or platforms: detection comes from
   * the analytics of the technique's detection strategies, platforms from those analytics, mitigation from the
   * mitigations linked by `mitigates`, affected assets from the assets it `targets`.
   */
  techniqueDetails(id: string): TechniqueDetails | undefined {
    const t = this.technique(id);
    if (t === undefined) return undefined;
    const tacticNames = t.tacticShortnames.map((s) => this.tactics.find((x) => x.shortname === s)?.name ?? s);
    const analytics: Analytic[] = [];
    for (const ds of this.related(t.stixId, 'detects', 'in')) {
      for (const ref of (ds as DetectionStrategy).analyticStixIds) {
        const a = this.byStixId.get(ref);
        if (a?.kind === 'analytic') analytics.push(a as Analytic);
      }
    }
    const mitigations = this.related(t.stixId, 'mitigates', 'in').sort((a, b) => a.id.localeCompare(b.id));
    const assets = this.related(t.stixId, 'targets', 'out').sort((a, b) => a.id.localeCompare(b.id));
    return {
      id: t.id,
      name: t.name,
      description: t.description,
      tactics: tacticNames,
      detection: analytics.map((a) => a.description).join('\n\n'),
      mitigation: mitigations.map((m) => `${m.name} (${m.id})`).join('; '),
      platforms: unique(analytics.flatMap((a) => a.platforms)),
      affected_assets: assets.map((a) => a.name),
    };
  }
}

function readObjects(bundle: unknown): StixObject[] {
  if (
    typeof bundle !== 'object' ||
    bundle === null ||
    !Array.isArray((bundle as { objects?: unknown }).objects)
  ) {
    throw new Error('not a STIX bundle: expected an object with an "objects" array');
  }
  return (bundle as { objects: unknown[] }).objects.filter(
    (o): o is StixObject =>
      typeof o === 'object' &&
      o !== null &&
      typeof (o as { type?: unknown }).type === 'string' &&
      typeof (o as { id?: unknown }).id === 'string',
  );
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)].sort();
}

let shipped: AttackCatalog | undefined;

/** The catalog of the bundle shipped with the product (read once per process). */
export function shippedCatalog(): AttackCatalog {
  shipped ??= loadCatalog(ATTACK_BUNDLE_PATH);
  return shipped;
}

export function loadCatalog(path: string): AttackCatalog {
  return new AttackCatalog(JSON.parse(readFileSync(path, 'utf8')) as unknown);
}
