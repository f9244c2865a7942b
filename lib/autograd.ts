// Reverse-mode autograd. Each differentiable op calls `record` with a backward closure that maps
// the gradient of its output to gradients of its inputs (micrograd's _backward, kept beside the
// forward in lib/ops/<family>.ts). `backward` walks the graph once in reverse topological order.
// No graph logic lives in C++.
import { checkFunction, checkOptionalTensor } from './check';
import { AutogradError, fmtShape } from './errors';
import type { Storage, Tensor } from './tensor';
import { keep, tensorCount } from './tensor';

export type BackwardFn = (grad: Tensor) => (Tensor | null | undefined)[];

export class Node {
  /** Set to null once run (unless retainGraph): this drops the saved tensors the closure holds. */
  backwardFn: BackwardFn | null;
  /**
   * Tensors that nothing outside the graph can reach and that nothing needs once this node has
   * run: an op's private buffers (max-pool indices, ...) and, from nn.Sequential, its
   * intermediate outputs (this node being their producer, it runs after all their consumers).
   * backward disposes them when it releases the node, so that their memory goes back to the
   * caching allocator at once, still warm in cache, instead of at the next garbage collection.
   */
  disposables: Tensor[] | null = null;
  /**
   * What a later op needs to take this node's backward into its own (see lib/ops/conv2d.ts: a
   * convolution offers the backward of maxPool2d(relu(its output)) as one fused native call).
   */
  fusion: object | null = null;
  /** The inputs' storage versions when the op ran: an in-place write since makes them stale. */
  readonly versions: number[];
  constructor(
    readonly name: string,
    public inputs: (Tensor | null)[],
    backwardFn: BackwardFn,
  ) {
    this.backwardFn = backwardFn;
    this.versions = inputs.map((t) => (t ? t.storage.version : 0));
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording off (PyTorch's torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  checkFunction(fn, 'noGrad', 'fn');
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function enableGrad<T>(fn: () => T): T {
  checkFunction(fn, 'enableGrad', 'fn');
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op on these inputs must record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/**
 * Attaches a node to `out` when any input requires grad. `backward` receives the gradient of
 * `out` and returns one gradient (or null) per input, each of that input's shape.
 */
export function record(name: string, out: Tensor, inputs: (Tensor | null | undefined)[], backward: BackwardFn, privates?: Tensor[]): Tensor {
  if (!needsGrad(...inputs)) return out;
  out.requiresGrad = true;
  out.gradFn = new Node(name, inputs.map((t) => t ?? null), backward);
  if (privates) out.gradFn.disposables = privates;
  return out;
}

/**
 * Hands t to its producing node for disposal when that node is released by backward (see
 * Node.disposables). Only for tensors no caller can still reach: nn.Sequential's intermediates.
 */
export function disposeWithProducer(t: Tensor): void {
  const node = t.gradFn;
  if (!node) return;
  if (node.disposables) node.disposables.push(t);
  else node.disposables = [t];
}

function topoOrder(root: Node): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  // Iterative DFS: graphs of deep nets would overflow the JS stack recursively.
  const stack: [Node, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.inputs[i]?.gradFn;
      if (child && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

/**
 * Adds g into leaf.grad. A leaf's .grad must own its memory (zeroGrad may zero it in place), yet
 * backward hands the same tensor to several inputs (add passes its gradient on unchanged) and
 * starts from the caller's gradient: so g is taken over only the first time its storage is seen
 * and when it is a plain contiguous tensor, and copied otherwise. It is also cast to the leaf's
 * dtype, as PyTorch's engine does.
 */
function accumulate(leaf: Tensor, g: Tensor, handed: Set<Storage>): void {
  if (g.dtype !== leaf.dtype) g = g.to(leaf.dtype);
  if (leaf.grad) {
    leaf.grad = keep(leaf.grad.add(g));
    return;
  }
  const own = !handed.has(g.storage) && g.isContiguous() && g.offset === 0 && g.gradFn === null;
  handed.add(g.storage);
  leaf.grad = keep(own ? g.detach() : g.clone());
}

export function runBackward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  checkOptionalTensor(grad, 'backward', 'gradient');
  if (!root.requiresGrad) {
    throw new AutogradError('backward: tensor does not require grad and has no grad_fn');
  }
  const firstSerial = tensorCount();
  if (!grad) {
    if (root.numel() !== 1) {
      throw new AutogradError(`backward: grad can be implicitly created only for scalar outputs, but the output has shape ${fmtShape(root.shape)}; pass a gradient of that shape`);
    }
    grad = root.onesLike();
  } else if (grad.shape.join(',') !== root.shape.join(',')) {
    throw new AutogradError(`backward: gradient of shape ${fmtShape(grad.shape)} does not match output of shape ${fmtShape(root.shape)}`);
  }
  noGrad(() => {
    const handed = new Set<Storage>([grad!.storage]);
    if (!root.gradFn) {
      accumulate(root, grad!, handed);
      return;
    }
    const grads = new Map<Node, Tensor>();
    grads.set(root.gradFn, grad!);
    // Gradients made during this pass are disposed as soon as nothing pending holds them, so
    // that their memory is reused by the next op while still in cache (the garbage collector
    // would free it many steps later). `held` counts the entries of `grads` that hold each
    // tensor; a tensor made before the pass (the caller's gradient, anything an op returns
    // unchanged) is never disposed. Leaf gradients are separate tensors (detach/clone/add).
    const held = new Map<Tensor, number>([[grad!, 1]]);
    const consumed: Tensor[] = [];
    const hold = (t: Tensor): void => void held.set(t, (held.get(t) ?? 0) + 1);
    const drop = (t: Tensor): void => {
      const n = (held.get(t) ?? 1) - 1;
      if (n > 0) held.set(t, n);
      else held.delete(t);
    };
    for (const node of topoOrder(root.gradFn)) {
      const g = grads.get(node);
      if (!g) continue;
      grads.delete(node);
      drop(g);
      consumed.push(g);
      const fn = node.backwardFn;
      if (!fn) {
        throw new AutogradError(
          `backward: trying to backward through the graph a second time (through ${node.name}), or to directly access saved tensors after they have already been freed. Pass { retainGraph: true } to the first backward() if you need to backward twice`,
        );
      }
      // Plain loops here and below: a closure per node per step is garbage the collector must sweep.
      const inputs = node.inputs;
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i];
        if (input && input.storage.version !== node.versions[i]) {
          throw new AutogradError(
            `backward: one of the tensors needed for gradient computation has been modified by an inplace operation: input ${i} of ${node.name}, of shape ${fmtShape(input.shape)}, is at version ${input.storage.version}; expected version ${node.versions[i]} instead`,
          );
        }
      }
      const inputGrads = fn(g);
      if (!retainGraph) {
        node.backwardFn = null;
      }
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i];
        let ig = inputGrads[i];
        if (!ig) continue;
        consumed.push(ig);
        if (!input || !input.requiresGrad) continue;
        if (ig.dtype !== input.dtype) {
          ig = ig.to(input.dtype);
          consumed.push(ig);
        }
        if (input.gradFn) {
          const prev = grads.get(input.gradFn);
          if (prev) {
            drop(prev);
            consumed.push(prev);
            ig = prev.add(ig);
          }
          grads.set(input.gradFn, ig);
          hold(ig);
        } else {
          accumulate(input, ig, handed);
        }
      }
      for (const t of consumed) if (t.serial >= firstSerial && !held.has(t)) t.dispose();
      consumed.length = 0;
      if (!retainGraph) {
        node.inputs = [];
        if (node.disposables) {
          for (const t of node.disposables) t.dispose();
          node.disposables = null;
        }
      }
    }
  });
}
