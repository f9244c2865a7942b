// The FashionMNIST classifier as a PyTorch user writes it: the Udacity lesson's program, line by
// line — a small CNN, CrossEntropyLoss, SGD with momentum, an explicit epoch loop printing the
// running loss, per-class test accuracy, and the trained weights saved to a file.
//
//   npm run example:fashion-mnist            (5 epochs on the bundled data, about a minute)
//   EPOCHS=1 MAX_BATCHES=200 npm run example:fashion-mnist
import * as tn from '../lib';
const { nn, optim, data } = tn;

export interface ExampleOptions {
  epochs?: number;
  /** Stop each epoch after this many batches (quick runs and tests). */
  maxBatches?: number;
  out?: string;
  log?: (line: string) => void;
}

export function main(opts: ExampleOptions = {}): { testAccuracy: number; perClass: number[] } {
  const epochs = opts.epochs ?? 5;
  const log = opts.log ?? console.log;
  tn.manualSeed(0);

  // data: images normalised with FashionMNIST's mean and std
  const transform = data.compose([data.toTensor(), data.normalize(0.286, 0.353)]);
  const trainData = new data.FashionMNIST({ train: true, transform });
  const testData = new data.FashionMNIST({ train: false, transform });
  const trainLoader = new data.DataLoader(trainData, { batchSize: 20, shuffle: true });
  const testLoader = new data.DataLoader(testData, { batchSize: 20 });
  const classes = trainData.classes;

  // the network: conv -> relu -> pool -> conv -> relu -> pool -> linear
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
  const net = new Net();
  log(net.toString());

  const criterion = new nn.CrossEntropyLoss();
  const optimizer = new optim.SGD(net.parameters(), { lr: 0.001, momentum: 0.9 });

  for (let epoch = 0; epoch < epochs; epoch++) {
    let runningLoss = 0;
    let batchI = 0;
    for (const [inputs, labels] of trainLoader) {
      // zero the parameter (weight) gradients
      optimizer.zeroGrad();
      // forward pass to get outputs
      const outputs = net.forward(inputs);
      // calculate the loss
      const loss = criterion.forward(outputs, labels);
      // backward pass to calculate the parameter gradients
      loss.backward();
      // update the parameters
      optimizer.step();
      // print loss statistics
      runningLoss += loss.item();
      batchI++;
      if (batchI % 1000 === 0) {
        log(`Epoch: ${epoch + 1}, Batch: ${batchI}, Avg. Loss: ${(runningLoss / 1000).toFixed(4)}`);
        runningLoss = 0;
      }
      if (opts.maxBatches && batchI >= opts.maxBatches) break;
    }
  }
  log('Finished Training');

  // test: overall and per-class accuracy, dropout/batchnorm (if any) in eval mode
  net.eval();
  const classCorrect = new Array(10).fill(0);
  const classTotal = new Array(10).fill(0);
  let testLoss = 0;
  tn.noGrad(() => {
    for (const [inputs, labels] of testLoader) {
      const outputs = net.forward(inputs);
      testLoss += criterion.forward(outputs, labels).item() * inputs.shape[0];
      const predicted = outputs.argmax(1).data as BigInt64Array;
      const target = labels.data as BigInt64Array;
      for (let i = 0; i < target.length; i++) {
        const label = Number(target[i]);
        classTotal[label]++;
        if (predicted[i] === target[i]) classCorrect[label]++;
      }
    }
  });
  const total = classTotal.reduce((a, b) => a + b, 0);
  log(`Test Loss: ${(testLoss / total).toFixed(6)}\n`);
  const perClass = classCorrect.map((c, i) => (classTotal[i] ? c / classTotal[i] : 0));
  perClass.forEach((acc, i) => {
    log(`Test Accuracy of ${classes[i].padStart(11)}: ${(100 * acc).toFixed(0).padStart(3)}% (${classCorrect[i]}/${classTotal[i]})`);
  });
  const testAccuracy = classCorrect.reduce((a, b) => a + b, 0) / total;
  log(`\nTest Accuracy (Overall): ${(100 * testAccuracy).toFixed(2)}% (${classCorrect.reduce((a, b) => a + b, 0)}/${total})`);

  // save the trained weights (safetensors: PyTorch's `safetensors` reads them too)
  const out = opts.out ?? 'fashion_net.safetensors';
  tn.save(net.stateDict(), out);
  log(`Saved the model to ${out}`);
  return { testAccuracy, perClass };
}

if (require.main === module) {
  main({ epochs: Number(process.env.EPOCHS ?? 5), maxBatches: process.env.MAX_BATCHES ? Number(process.env.MAX_BATCHES) : undefined });
}
