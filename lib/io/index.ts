// tn.save / tn.load and the safetensors codec behind them.
export { save, load, loadFile, serialize, deserialize, SAFETENSORS_DTYPE } from './safetensors';
export type { SafetensorsContents, SaveOptions, LoadOptions } from './safetensors';
export { writeFileAtomic } from './atomic';
