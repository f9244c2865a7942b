// The two FashionMNIST models of reference/BASELINE.md, by name, with the optimizer settings the
// baseline trains them with. The CLI builds its model here, and `tensile eval` rebuilds the one a
// checkpoint names.
import * as nn from '../nn';
import { ValueError } from '../errors';

export type ModelName = 'classic' | 'standard';
export const MODEL_NAMES: readonly ModelName[] = ['classic', 'standard'];

export interface ModelDefaults {
  optimizer: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum: number;
  batchSize: number;
}

/** The baseline's training settings for each model. */
export const MODEL_DEFAULTS: Record<ModelName, ModelDefaults> = {
  classic: { optimizer: 'sgd', lr: 0.001, momentum: 0.9, batchSize: 20 },
  standard: { optimizer: 'adam', lr: 1e-3, momentum: 0.9, batchSize: 64 },
};

/**
 * classic (the Udacity exercise, 6,930 parameters): Conv2d(1,10,3) → ReLU → MaxPool2 →
 * Conv2d(10,20,3) → ReLU → MaxPool2 → Flatten → Linear(500,10).
 */
export function classicCNN(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 10, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(10, 20, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(500, 10),
  );
}

/**
 * standard (421,642 parameters): Conv2d(1,32,3,p1) → ReLU → MaxPool2 → Conv2d(32,64,3,p1) → ReLU
 * → MaxPool2 → Flatten → Linear(3136,128) → ReLU → Dropout(0.25) → Linear(128,10).
 */
export function standardCNN(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(3136, 128), new nn.ReLU(), new nn.Dropout(0.25),
    new nn.Linear(128, 10),
  );
}

export function buildModel(name: string): nn.Sequential {
  if (name === 'classic') return classicCNN();
  if (name === 'standard') return standardCNN();
  throw new ValueError(`buildModel: unknown model '${name}' (expected ${MODEL_NAMES.join(' or ')})`);
}
