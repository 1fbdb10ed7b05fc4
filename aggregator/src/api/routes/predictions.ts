// Predictions as the store holds them. Making a prediction needs the GNN engine (a later issue): until it is attached
// POST /api/predictions/predict answers 503 not_available.
import { createRoute } from '@hono/zod-openapi';
import { requireRole, type ApiApp, type ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import {
  PredictBody,
  PredictionIdParams,
  PredictionListSchema,
  PredictionSchema,
  PredictionsQuery,
} from '../schemas.js';
import { errors, json } from './common.js';

export function registerPredictionRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/predictions',
      tags: ['predictions'],
      request: { query: PredictionsQuery },
      responses: { 200: json(PredictionListSchema, 'Predictions, newest first'), ...errors(503) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await deps.store.listPredictions({
        limit: q.limit,
        offset: q.offset,
        ...(q.validated === undefined ? {} : { validated: q.validated === 'true' }),
      });
      return c.json({ predictions: page.items, total: page.total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/predictions/latest',
      tags: ['predictions'],
      responses: { 200: json(PredictionSchema, 'The newest prediction'), ...errors(404, 503) },
    }),
    async (c) => {
      const p = await deps.store.latestPrediction();
      if (p === null) throw new ApiError('not_found', 'no prediction has been made yet');
      return c.json(p, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/predictions/predict',
      tags: ['predictions'],
      request: { body: { required: true, content: { 'application/json': { schema: PredictBody } } } },
      responses: { 200: json(PredictionSchema, 'The new prediction'), ...errors(403, 404, 503) },
    }),
    (c) => {
      requireRole(c, 'operator');
      throw new ApiError(
        'not_available',
        'predictions cannot be made: the prediction engine is not attached',
        {
          engine: 'predict',
        },
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/predictions/{prediction_id}',
      tags: ['predictions'],
      request: { params: PredictionIdParams },
      responses: { 200: json(PredictionSchema, 'The prediction'), ...errors(404, 503) },
    }),
    async (c) => {
      const { prediction_id } = c.req.valid('param');
      const p = await deps.store.getPrediction(prediction_id);
      if (p === null) throw new ApiError('not_found', `no prediction ${prediction_id}`, { prediction_id });
      return c.json(p, 200);
    },
  );
}
