package org.edgereason.demo;

import java.io.File;
import org.edgereason.core.Backend;
import org.edgereason.core.Manifest;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * A {@code .pte} from ExecuTorch's LLM export through the Android library's Module API: the program takes
 * (tokens [1, T] int64, input_pos [1] int64) and returns logits [1, V] ("last") or [1, T, V] ("all"). The KV cache
 * lives inside the program and is position-addressed, so rewinding needs no work here (as runtime/backends/pte.py).
 */
final class PteBackend extends Backend {
    private final Module module;
    private final String method;
    private final boolean allLogits;

    PteBackend(Manifest m, File modelFile) {
        super(m.vocabSize, m.maxSeqLen, m.eosIds);
        method = m.ioMethod;
        allLogits = "all".equals(m.ioLogits);
        // mmap: the weights stay in the page cache instead of being copied into the Java heap's process memory.
        module = Module.load(modelFile.getAbsolutePath(), Module.LOAD_MODE_MMAP);
        module.loadMethod(method); // load now, so a bad program fails here with its cause, not at the first token
    }

    @Override
    protected float[] forward(int[] ids, int position) {
        // export_llm bounds the dynamic token dimension at max_seq_len - 1: prefill in chunks.
        int maxChunk = maxSeqLen - 1;
        float[] logits = null;
        for (int start = 0; start < ids.length; start += maxChunk) {
            int n = Math.min(maxChunk, ids.length - start);
            long[] tokens = new long[n];
            for (int k = 0; k < n; k++) {
                tokens[k] = ids[start + k];
            }
            EValue[] out = module.execute(method,
                    EValue.from(Tensor.fromBlob(tokens, new long[] {1, n})), // [1, T]
                    EValue.from(Tensor.fromBlob(new long[] {position + start}, new long[] {1}))); // [1]
            logits = out[0].toTensor().getDataAsFloatArray(); // a copy: the program reuses its output buffer
            if (out.length > 1) { // the probes' hidden state [1, H] (exports since the probes; older: none)
                setHidden(out[1].toTensor().getDataAsFloatArray());
            }
        }
        if (allLogits && logits.length > vocabSize) {
            float[] last = new float[vocabSize];
            System.arraycopy(logits, logits.length - vocabSize, last, 0, vocabSize);
            return last;
        }
        return logits;
    }

    @Override
    public void close() {
        module.destroy();
    }
}
