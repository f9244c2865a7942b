// A forward written op by op (a Module subclass, as the seed lesson writes its net) leaves every
// intermediate to the garbage collector: nothing disposes them. lib/tensor.ts runs a young-
// generation collection every few MiB of such garbage, so the blocks the next ops get back from
// the native cache are recent (in cache) and the footprint stays small. Left to V8's external-
// memory pressure alone, this loop peaked at 22 MiB allocated and 24 MiB reserved (38 MiB under
// Jest); with a collection every 6 MiB, at 10 and 12.
import * as tn from '../../lib';
import { native } from '../../lib/native';

class Net extends tn.nn.Module {
  conv1 = new tn.nn.Conv2d(1, 10, 3);
  pool = new tn.nn.MaxPool2d(2, { stride: 2 });
  conv2 = new tn.nn.Conv2d(10, 20, 3);
  fc1 = new tn.nn.Linear(20 * 5 * 5, 10);

  forward(x: tn.Tensor): tn.Tensor {
    x = this.pool.forward(tn.F.relu(this.conv1.forward(x)));
    x = this.pool.forward(tn.F.relu(this.conv2.forward(x)));
    return this.fc1.forward(x.view(x.shape[0], -1));
  }
}

test("the lesson's Module subclass trains with a small, flat native footprint and no dispose calls", () => {
  tn.manualSeed(0);
  const net = new Net();
  const opt = new tn.optim.SGD(net.parameters(), { lr: 0.001, momentum: 0.9 });
  const ce = new tn.nn.CrossEntropyLoss();
  const x = tn.randn([20, 1, 28, 28]);
  const y = tn.randint(0, 10, [20]);
  let peak = 0;
  const reservedAt: number[] = [];
  for (let i = 0; i < 400; i++) {
    opt.zeroGrad();
    const loss = ce.forward(net.forward(x), y);
    loss.backward();
    opt.step();
    loss.item();
    const s = native.allocatorStats();
    if (i >= 50) peak = Math.max(peak, s.allocated);
    if (i === 200 || i === 399) reservedAt.push(s.reserved);
  }
  expect(peak).toBeLessThan(14 * 2 ** 20);
  // flat: the second half reserves (almost) nothing new
  expect(reservedAt[1] - reservedAt[0]).toBeLessThanOrEqual(2 * 2 ** 20);
});
