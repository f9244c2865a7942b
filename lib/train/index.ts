// tn.train: the training loop around the PyTorch-style step, its metrics, history, charts and
// checkpoints, and the baseline models.
export { fit, evaluate, formatTestReport } from './fit';
export type { FitOptions, FitContext, Callback, Criterion, Loader, OptimizerLike, SchedulerLike, EvalResult } from './fit';
export { saveCheckpoint, loadCheckpoint } from './checkpoint';
export type { Checkpoint } from './checkpoint';
export { History } from './history';
export type { EpochLog, TestLog, BestLog } from './history';
export { ConfusionMatrix, pct } from './metrics';
export type { ClassAccuracy } from './metrics';
export { Progress, formatBar } from './progress';
export type { ProgressMode, ProgressStream } from './progress';
export { renderLearningCurves } from './chart_svg';
export { classicCNN, standardCNN, buildModel, MODEL_NAMES, MODEL_DEFAULTS } from './models';
export type { ModelName, ModelDefaults } from './models';
