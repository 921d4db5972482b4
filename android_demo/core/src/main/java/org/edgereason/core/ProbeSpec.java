package org.edgereason.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hidden-state probes' contract: {@code /edgereason/specs/probes.json} on the classpath, the file
 * runtime/probes.py reads (the build copies it from the repository; its values are never restated here).
 */
public final class ProbeSpec {
    static final String RESOURCE = "/edgereason/specs/probes.json";
    private static ProbeSpec loaded;

    /** Calibrator feature -> the hidden state its probe reads ("prompt" or "answer"), in the file's order. */
    public final Map<String, String> features;
    /** The model's last own tokens that stand in for the answer's when a trace has no answer span. */
    public final int fallbackTokens;
    /** The .onnx graph output that carries the probes' hidden state. */
    public final String onnxOutput;

    private ProbeSpec(Map<String, Object> d) {
        Map<String, String> f = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : Json.object(d.get("features"), RESOURCE + ": features").entrySet()) {
            f.put(e.getKey(), Json.string(e.getValue(), RESOURCE + ": features." + e.getKey()));
        }
        features = Collections.unmodifiableMap(f);
        long n = Json.integer(d.get("fallback_tokens"), RESOURCE + ": fallback_tokens");
        if (n < 1 || n > Integer.MAX_VALUE) {
            throw new IllegalStateException(RESOURCE + ": fallback_tokens must be a positive count, got " + n);
        }
        fallbackTokens = (int) n;
        onnxOutput = Json.string(d.get("onnx_output"), RESOURCE + ": onnx_output");
    }

    public static synchronized ProbeSpec get() {
        if (loaded == null) {
            loaded = new ProbeSpec(Json.object(Json.resource(RESOURCE), RESOURCE));
        }
        return loaded;
    }
}
