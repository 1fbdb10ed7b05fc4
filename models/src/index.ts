// @vigil/models: the one training stack every Vigil model uses (layers with per-example gradients, optimisers,
// DP-SGD, privacy accountants, ONNX export).
export { seededRng, cryptoRng, type Rng } from './nn/rng.js';
export { makeParam, glorotUniform, type Layer, type Param } from './nn/layer.js';
export { Dense, type DenseOptions } from './nn/dense.js';
export { Activation, sigmoid, type ActivationKind } from './nn/activation.js';
export { Lstm, RepeatVector, type LstmOptions } from './nn/lstm.js';
export { GraphSage, meanAdjacency, type GraphSageOptions } from './nn/graph.js';
export { Skip } from './nn/skip.js';
export { linkPredictionLoss, linkProbabilities } from './nn/link.js';
export { softmaxCrossEntropy, meanSquaredError, softmax, type Loss } from './nn/loss.js';
export { Sequential, type Example } from './nn/model.js';
export { Sgd, Adam, type Optimizer, type SgdOptions, type AdamOptions } from './nn/optim.js';
export { Trainer, shuffle, type TrainerOptions } from './nn/trainer.js';
export { gradientCheck, type GradCheckResult } from './nn/gradcheck.js';
export {
  DpSgd,
  noisyClippedSum,
  distributedNoiseStd,
  type DpSgdOptions,
  type DpStepResult,
  type NoisySumOptions,
} from './dp/dpsgd.js';
export {
  rdpEpsilon,
  rdpToEpsilon,
  subsampledGaussianRdp,
  OPACUS_ORDERS,
  validateQuery,
  type AccountingQuery,
  type FractionalSeries,
} from './dp/rdp.js';
export { prvEpsilon, type PrvOptions, type PrvResult } from './dp/prv.js';
export {
  IsolationForest,
  averagePathLength,
  type IsolationTree,
  type IsolationForestOptions,
} from './iforest.js';
export {
  exportSequential,
  exportIsolationForest,
  INPUT_NAME,
  ADJACENCY_NAME,
  OUTPUT_NAME,
  PATH_LENGTH_NAME,
  SCORE_NAME,
  type SequentialExportOptions,
} from './onnx/export.js';
export { ONNX_OPSET, ONNX_ML_OPSET, ONNX_IR_VERSION } from './onnx/graph-builder.js';
export { SwappableSession } from './onnx/session.js';
