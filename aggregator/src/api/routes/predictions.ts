// Predictions as the store holds them; POST /api/predictions/predict makes one with the served predictor
// (graph/prediction-service.ts), tied to an alert's facility when alert_id names a stored alert.
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
import { UnknownTechniqueError } from '../../graph/prediction-service.js';

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
    async (c) => {
      requireRole(c, 'operator');
      const body = c.req.valid('json');
      const alertId = body.alert_id ?? null;
      const alert = alertId === null ? null : await deps.store.getAlert(alertId);
      if (alertId !== null && alert === null)
        throw new ApiError('not_found', `no alert ${alertId}`, { alert_id: alertId });
      try {
        const p = await deps.predictions.enqueue(() =>
          deps.predictions.predict(body.current_technique, {
            alertId,
            facilityId: alert?.facility_id ?? null,
          }),
        );
        return c.json(p, 200);
      } catch (err) {
        if (err instanceof UnknownTechniqueError)
          throw new ApiError('not_found', err.message, { current_technique: body.current_technique });
        throw err;
      }
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
