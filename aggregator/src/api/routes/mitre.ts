// ATT&CK for ICS: technique details from the shipped bundle; the attack graph from the stored predictions.
import { createRoute } from '@hono/zod-openapi';
import type { Prediction } from '@vigil/shared';
import type { ApiApp, ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { GraphSchema, TechniqueDetailsSchema, TechniqueParams } from '../schemas.js';
import { errors, json } from './common.js';

/** How many recent predictions the graph shows. */
const GRAPH_PREDICTIONS = 20;

interface GraphNode {
  id: string;
  name: string;
  type: 'current' | 'predicted';
  probability: number;
}

/** Current techniques (probability 1) linked to the techniques predicted from them; a node seen as current stays so. */
export function attackGraph(predictions: readonly Prediction[]): {
  nodes: GraphNode[];
  links: { source: string; target: string; probability: number }[];
} {
  const nodes = new Map<string, GraphNode>();
  const links = new Map<string, { source: string; target: string; probability: number }>();
  for (const p of predictions) {
    nodes.set(p.current_technique, {
      id: p.current_technique,
      name: p.current_technique_name,
      type: 'current',
      probability: 1,
    });
  }
  for (const p of predictions) {
    for (const t of p.predicted_techniques) {
      const existing = nodes.get(t.technique_id);
      if (existing === undefined) {
        nodes.set(t.technique_id, {
          id: t.technique_id,
          name: t.technique_name,
          type: 'predicted',
          probability: t.probability,
        });
      } else if (existing.type === 'predicted') {
        existing.probability = Math.max(existing.probability, t.probability);
      }
      const key = `${p.current_technique}>${t.technique_id}`;
      const link = links.get(key);
      if (link === undefined)
        links.set(key, { source: p.current_technique, target: t.technique_id, probability: t.probability });
      else link.probability = Math.max(link.probability, t.probability);
    }
  }
  return { nodes: [...nodes.values()], links: [...links.values()] };
}

export function registerMitreRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/mitre/graph',
      tags: ['mitre'],
      responses: {
        200: json(GraphSchema, 'Techniques seen and predicted by the recent predictions'),
        ...errors(503),
      },
    }),
    async (c) => {
      const { items } = await deps.store.listPredictions({ limit: GRAPH_PREDICTIONS, offset: 0 });
      return c.json(attackGraph(items), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/mitre/techniques',
      tags: ['mitre'],
      responses: { 200: json(TechniqueDetailsSchema.array(), 'Every live ATT&CK for ICS technique') },
    }),
    (c) =>
      c.json(
        deps.catalog.techniques.flatMap((t) => deps.catalog.techniqueDetails(t.id) ?? []),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/mitre/technique/{technique_id}',
      tags: ['mitre'],
      request: { params: TechniqueParams },
      responses: { 200: json(TechniqueDetailsSchema, 'The technique'), ...errors(404) },
    }),
    (c) => {
      const { technique_id } = c.req.valid('param');
      const details = deps.catalog.techniqueDetails(technique_id);
      if (details === undefined)
        throw new ApiError('not_found', `no live ATT&CK for ICS technique ${technique_id}`, { technique_id });
      return c.json(details, 200);
    },
  );
}
