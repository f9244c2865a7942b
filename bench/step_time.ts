// Time of one training step (forward, loss, backward, optimizer step, loss readback) of the classic
// CNN at batch 20 (SGD) and the standard CNN of shared/reference/BASELINE.md at batch 64 (Adam), on
// random data, after warm-up. Usage: npx ts-node-less: `npm run build:ts && node dist-bench/...` —
// simplest: `npx jest --testMatch '**/bench/*.ts'` is NOT used; run with `node bench/run.js step`.
import * as tn from '../lib';
const { nn, optim } = tn;

export function classicModel(): tn.nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(1, 10, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(10, 20, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(500, 10),
  );
}

/** The classic net as the seed lesson writes it: an nn.Module subclass whose forward calls the layers one by one. */
export function lessonModel(): tn.nn.Module {
  class Net extends nn.Module {
    conv1 = new nn.Conv2d(1, 10, 3);
    pool = new nn.MaxPool2d(2, { stride: 2 });
    conv2 = new nn.Conv2d(10, 20, 3);
    fc1 = new nn.Linear(20 * 5 * 5, 10);

    forward(x: tn.Tensor): tn.Tensor {
      x = this.pool.forward(tn.F.relu(this.conv1.forward(x)));
      x = this.pool.forward(tn.F.relu(this.conv2.forward(x)));
      x = x.view(x.shape[0], -1);
      return this.fc1.forward(x);
    }
  }
  return new Net();
}

export function standardModel(): tn.nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(3136, 128), new nn.ReLU(), new nn.Dropout(0.25), new nn.Linear(128, 10),
  );
}

export function timeSteps(model: tn.nn.Module, opt: tn.optim.Optimizer, batch: number, warmup: number, steps: number): number {
  const criterion = new nn.CrossEntropyLoss();
  const xs = tn.randn([batch * 8, 1, 28, 28]);
  const ys = tn.randint(0, 10, [batch * 8]);
  const run = (i: number) => {
    const idx = tn.arange((i % 8) * batch, (i % 8) * batch + batch);
    const x = xs.indexSelect(0, idx);
    const y = ys.indexSelect(0, idx);
    opt.zeroGrad();
    const loss = criterion.forward(model.forward(x), y);
    loss.backward();
    opt.step();
    loss.item();
  };
  for (let i = 0; i < warmup; i++) run(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) run(i);
  return Number(process.hrtime.bigint() - t0) / 1e6 / steps;
}

if (require.main === module) {
  const threads = Number(process.env.TENSILE_NUM_THREADS ?? tn.getNumThreads());
  tn.setNumThreads(threads);
  tn.manualSeed(0);
  const c = classicModel();
  const cms = timeSteps(c, new optim.SGD(c.parameters(), { lr: 0.001, momentum: 0.9 }), 20, 50, 500);
  const s = standardModel();
  const sms = timeSteps(s, new optim.Adam(s.parameters(), { lr: 1e-3 }), 64, 20, 100);
  console.log(JSON.stringify({ threads, classic_b20_ms: +cms.toFixed(3), classic_samples_per_s: Math.round(20000 / cms), standard_b64_ms: +sms.toFixed(3), standard_samples_per_s: Math.round(64000 / sms) }));
}
