// The backends the unit tests may pick (tfjs-core registers none by itself). Which one a test
// runs on is its own choice (tf.setBackend); the cpu backend is the default until then.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
