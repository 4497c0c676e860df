// The backends the unit tests may pick (tfjs-core registers none by itself). Which one a test
// runs on is its own choice (tf.setBackend); the cpu backend is the default until then.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Training tests need tfjs's gradients (tfjs-core registers none): see scripts/lib/gradients.ts.
import '../../scripts/lib/gradients';
