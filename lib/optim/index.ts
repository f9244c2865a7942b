// tensile's optimizers (`tn.optim`): SGD, Adam, AdamW on the Optimizer base, and the learning-rate
// schedulers under `lrScheduler`, as in torch.optim and torch.optim.lr_scheduler.
export { Optimizer } from './optimizer';
export type { OptimizerStateDict, ParamGroup, ParamGroupInput, ParamState } from './optimizer';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { Adam, AdamW } from './adam';
export type { AdamOptions } from './adam';
export * as lrScheduler from './lr_scheduler';
