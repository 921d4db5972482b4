package org.edgereason.demo;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import android.util.Log;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.edgereason.core.Backend;
import org.edgereason.core.Json;
import org.edgereason.core.Manifest;
import org.edgereason.core.ProbeSpec;

/**
 * The ONNX Runtime GenAI builder's graph run with our own loop (as runtime/backends/onnx.py): inputs input_ids
 * [1, T], attention_mask [1, P + T], past_key_values.{i}.key/value; outputs logits [1, T, V] and present.{i}.*,
 * and in newer exports the probes' hidden state [1, T, H] (the residual stream entering a middle layer, which the calibrator's probes read: its
 * last row becomes {@link #hidden()}; older artifacts have no such output and hidden() stays null).
 *
 * <p>One [1, KV, max_seq_len, D] direct buffer per layer and per K/V is passed both as the past input and as the
 * pinned present output, so GroupQueryAttention writes new entries in place (past_present_share_buffer, as ORT
 * GenAI runs it) instead of copying the whole cache every step. The graph has no position_ids and a symbolic head
 * size, so names and shapes come from genai_config.json.
 */
final class OnnxBackend extends Backend {
    /** The graph's hidden-state output (edgereason/specs/probes.json; genai_config.json does not name it). */
    static final String HIDDEN_OUTPUT = ProbeSpec.get().onnxOutput;

    private final OrtEnvironment env;
    private final OrtSession session;
    private final Map<String, OnnxTensor> cache = new HashMap<>(); // past names -> buffers
    private final Map<String, OnnxTensor> pinned = new HashMap<>(); // present names -> the same buffers
    private final List<OnnxTensor> owned = new ArrayList<>();
    private final String inputIdsName;
    private final String maskName;
    private final String logitsName;
    private final Set<String> requested = new LinkedHashSet<>(); // logits, and hidden_states when the graph has it
    private final boolean hasHidden;

    OnnxBackend(Manifest m, File modelFile, int numThreads) throws OrtException, IOException {
        super(m.vocabSize, m.maxSeqLen, m.eosIds);
        Map<String, Object> decoder = Json.object(Json.object(Json.object(
                Json.read(new File(m.folder, "genai_config.json")), "genai_config").get("model"), "model")
                .get("decoder"), "model.decoder");
        int layers = (int) Json.integer(decoder.get("num_hidden_layers"), "num_hidden_layers");
        int kvHeads = (int) Json.integer(decoder.get("num_key_value_heads"), "num_key_value_heads");
        int headSize = (int) Json.integer(decoder.get("head_size"), "head_size");
        Map<String, Object> in = Json.object(decoder.get("inputs"), "inputs");
        Map<String, Object> out = Json.object(decoder.get("outputs"), "outputs");
        inputIdsName = (String) in.get("input_ids");
        maskName = (String) in.get("attention_mask");
        logitsName = (String) out.get("logits");
        env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(numThreads);
        opts.setInterOpNumThreads(1);
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        session = env.createSession(modelFile.getAbsolutePath(), opts); // model.onnx.data is found next to it
        requested.add(logitsName);
        hasHidden = session.getOutputNames().contains(HIDDEN_OUTPUT);
        if (hasHidden) {
            requested.add(HIDDEN_OUTPUT);
        }
        long[] shape = {1, kvHeads, maxSeqLen, headSize}; // [1, KV, S, D]
        int floats = kvHeads * maxSeqLen * headSize;
        for (int i = 0; i < layers; i++) {
            String[][] names = {
                {String.format((String) in.get("past_key_names"), i), String.format((String) out.get("present_key_names"), i)},
                {String.format((String) in.get("past_value_names"), i),
                    String.format((String) out.get("present_value_names"), i)}};
            for (String[] pair : names) {
                FloatBuffer buffer = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder())
                        .asFloatBuffer(); // direct: ORT uses this memory itself, no copy
                OnnxTensor t = OnnxTensor.createTensor(env, buffer, shape);
                owned.add(t);
                cache.put(pair[0], t);
                pinned.put(pair[1], t);
            }
        }
    }

    @Override
    protected float[] forward(int[] ids, int position) throws OrtException {
        int n = ids.length;
        long[] tokens = new long[n];
        for (int k = 0; k < n; k++) {
            tokens[k] = ids[k];
        }
        long[] mask = new long[position + n];
        java.util.Arrays.fill(mask, 1L);
        try (OnnxTensor inputIds = OnnxTensor.createTensor(env, LongBuffer.wrap(tokens), new long[] {1, n});
             OnnxTensor attention = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, position + n})) {
            Map<String, OnnxTensor> inputs = new HashMap<>(cache);
            inputs.put(inputIdsName, inputIds);
            inputs.put(maskName, attention);
            try (OrtSession.Result result = session.run(inputs, requested, pinned)) {
                float[] last = null;
                for (Map.Entry<String, OnnxValue> e : result) { // by name, whatever order the result keeps
                    if (e.getKey().equals(logitsName)) {
                        last = lastRow((OnnxTensor) e.getValue(), vocabSize); // [1, T, V]
                    } else if (hasHidden && e.getKey().equals(HIDDEN_OUTPUT)) {
                        OnnxTensor hidden = (OnnxTensor) e.getValue(); // [1, T, H]
                        long[] shape = hidden.getInfo().getShape();
                        setHidden(lastRow(hidden, (int) shape[shape.length - 1]));
                    }
                }
                if (last == null) {
                    throw new IllegalStateException("ONNX Runtime returned no " + logitsName + " output");
                }
                return last;
            }
        }
    }

    /** The last {@code width} values of a [.., T, width] float tensor: its last position, a fresh array. */
    private static float[] lastRow(OnnxTensor tensor, int width) {
        FloatBuffer all = tensor.getFloatBuffer(); // a copy
        float[] last = new float[width];
        all.position(all.limit() - width);
        all.get(last);
        return last;
    }

    @Override
    public void close() {
        for (OnnxTensor t : owned) {
            t.close();
        }
        try {
            session.close();
        } catch (OrtException e) {
            Log.w("edgereason", "closing the ONNX Runtime session failed", e); // nothing left for the user to do
        }
    }
}
