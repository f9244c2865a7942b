// Device names and codes. A device is 'cpu' or 'cuda:n' ('cuda' alone means 'cuda:0', and
// tensors report the normalised name, as str(t.device) in PyTorch); the addon numbers them
// 0 = cpu, 1 + n = cuda:n. Whether a CUDA device can be used comes from the addon's probe, asked
// once per process (the answer does not change while it runs).
import { DeviceError, ValueError } from './errors';
import { CudaProbeResult, native } from './native';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

const normalised = new Map<string, Device>([
  ['cpu', 'cpu'],
  ['cuda', 'cuda:0'],
]);

/**
 * 'cpu' | 'cuda:n' for a device name: 'cuda' becomes 'cuda:0'; anything else ('gpu', 'cuda:x',
 * 'cuda:-1') is a ValueError naming it. Cached, so that the common names cost one Map lookup.
 */
export function normalizeDevice(device: unknown, op = 'device'): Device {
  if (typeof device === 'string') {
    const known = normalised.get(device);
    if (known !== undefined) return known;
    const m = /^cuda:(0|[1-9][0-9]{0,3})$/.exec(device);
    if (m) {
      const d = `cuda:${Number(m[1])}` as Device;
      normalised.set(device, d);
      return d;
    }
  }
  throw new ValueError(`${op}: invalid device ${typeof device === 'string' ? `'${device}'` : String(device)}: expected 'cpu', 'cuda' or 'cuda:<index>'`);
}

/** True when `s` is a device name (normalisable), without throwing. */
export function isDeviceName(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  return normalised.has(s) || /^cuda:(0|[1-9][0-9]{0,3})$/.test(s);
}

/** The addon's code of a normalised device: 0 for cpu, 1 + n for cuda:n. */
export function deviceCode(device: Device): number {
  return device === 'cpu' ? 0 : 1 + cudaIndexOf(device);
}

/** The device of an addon code. */
export function deviceOfCode(code: number): Device {
  return code === 0 ? 'cpu' : (`cuda:${code - 1}` as Device);
}

/** n of a normalised 'cuda:n'. */
export function cudaIndexOf(device: Device): number {
  return device === 'cuda' ? 0 : Number(device.slice(5));
}

let probeCache: CudaProbeResult | null = null;

/** The addon's CUDA probe (compiled in, device count, or why none), asked once. */
export function cudaProbe(): CudaProbeResult {
  if (probeCache === null) probeCache = native.cudaProbe();
  return probeCache;
}

/** CUDA kernels compiled in and at least one device present. */
export function cudaAvailable(): boolean {
  const p = cudaProbe();
  return p.compiled && p.deviceCount > 0;
}

/** Why CUDA cannot be used at all, or '' when it can. */
export function cudaUnavailableReason(): string {
  const p = cudaProbe();
  if (!p.compiled) return p.message || 'this build of tensile has no CUDA kernels';
  if (p.deviceCount === 0) return p.errorName ? `${p.errorName}: ${p.message}` : p.message || 'no CUDA device found';
  return '';
}

/** Why `device` (normalised) cannot hold tensors, or '' when it can. */
export function deviceUnavailableReason(device: Device): string {
  if (device === 'cpu') return '';
  const why = cudaUnavailableReason();
  if (why) return why;
  const n = cudaProbe().deviceCount;
  if (cudaIndexOf(device) >= n) return `this machine has ${n} CUDA device${n === 1 ? '' : 's'}`;
  return '';
}

/** Throws DeviceError `${op}: device '<d>' is not available: <reason>` unless `device` can be used. */
export function checkDeviceAvailable(device: Device, op: string): void {
  if (device === 'cpu') return;
  const why = deviceUnavailableReason(device);
  if (why) throw new DeviceError(`${op}: device '${device}' is not available: ${why}`);
}
