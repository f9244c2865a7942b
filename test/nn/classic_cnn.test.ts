// The classic FashionMNIST CNN of DESIGN.md end to end: gradients through the whole net and its
// loss, learning (it overfits a fixed batch), and flat memory over a plain loop with no dispose.
import * as tn from '../../lib';
import { gradcheck, randLeaf } from '../helpers/gradcheck';
const { nn, optim } = tn;
const F = nn.functional;

function classic(): tn.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 10, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(10, 20, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(500, 10),
  );
}

test('gradcheck through the classic CNN and cross-entropy (float64)', () => {
  const x = randLeaf([2, 1, 28, 28], 11);
  const w1 = randLeaf([10, 1, 3, 3], 12, -0.5, 0.5);
  const b1 = randLeaf([10], 13, -0.1, 0.1);
  const w2 = randLeaf([20, 10, 3, 3], 14, -0.2, 0.2);
  const b2 = randLeaf([20], 15, -0.1, 0.1);
  const w3 = randLeaf([10, 500], 16, -0.1, 0.1);
  const b3 = randLeaf([10], 17, -0.1, 0.1);
  const y = tn.tensor([3, 7]);
  const net = (xi: tn.Tensor, c1w: tn.Tensor, c1b: tn.Tensor, c2w: tn.Tensor, c2b: tn.Tensor, lw: tn.Tensor, lb: tn.Tensor) => {
    let h = F.maxPool2d(F.relu(F.conv2d(xi, c1w, c1b)), 2) as tn.Tensor;
    h = F.maxPool2d(F.relu(F.conv2d(h, c2w, c2b)), 2) as tn.Tensor;
    return F.crossEntropy(F.linear(h.flatten(1), lw, lb), y);
  };
  gradcheck(net, [x, w1, b1, w2, b2, w3, b3], { sample: 150 });
});

test('the classic CNN overfits a fixed batch of 20 (loss < 0.05 within a few hundred steps)', () => {
  tn.manualSeed(1);
  const model = classic();
  const x = tn.randn([20, 1, 28, 28]);
  const y = tn.randint(0, 10, [20]);
  const criterion = new nn.CrossEntropyLoss();
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  let loss = Infinity;
  let steps = 0;
  for (; steps < 400 && loss >= 0.05; steps++) {
    opt.zeroGrad();
    const l = criterion.forward(model.forward(x), y);
    l.backward();
    opt.step();
    loss = l.item();
  }
  expect(loss).toBeLessThan(0.05);
  expect(steps).toBeLessThan(400);
});

test('200 training steps with no dispose calls: RSS at step 200 within 10% of step 50', () => {
  tn.manualSeed(2);
  const model = classic();
  const criterion = new nn.CrossEntropyLoss();
  const opt = new optim.SGD(model.parameters(), { lr: 0.001, momentum: 0.9 });
  let rss50 = 0;
  for (let step = 1; step <= 200; step++) {
    const x = tn.randn([20, 1, 28, 28]);
    const y = tn.randint(0, 10, [20]);
    opt.zeroGrad();
    const loss = criterion.forward(model.forward(x), y);
    loss.backward();
    opt.step();
    loss.item();
    if (step === 50) rss50 = process.memoryUsage().rss;
  }
  const rss200 = process.memoryUsage().rss;
  expect(Math.abs(rss200 - rss50) / rss50).toBeLessThan(0.1);
});
