// Run an ONNX model in ONNX Runtime (npm onnxruntime-node) on raw float32 input; tests use it
// as the outside runtime that lowbit's exports are checked against.
// usage: node tools/ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
// Writes the first output as raw float32 (little endian). Exit 1 with a message on failure.
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.error('onnxruntime-node is not installed (npm install --ignore-scripts onnxruntime-node): ' + e.message);
  process.exit(3);
}
(async () => {
  const [model, input, dimsArg, output] = process.argv.slice(2);
  const dims = dimsArg.split(',').map(Number);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const s = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  const feeds = {};
  feeds[s.inputNames[0]] = new ort.Tensor('float32', x, dims);
  const r = await s.run(feeds);
  const y = r[s.outputNames[0]];
  fs.writeFileSync(output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
})().catch((e) => {
  console.error(e.message || String(e));
  process.exit(1);
});
