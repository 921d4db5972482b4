package org.edgereason.core;

import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/** Locates the repository's golden vectors (tests/golden) and the tokenizer.json the tests compare against. */
final class Golden {
    private Golden() {
    }

    /** tests/golden, from -Dedgereason.golden (set by scripts/test_core.sh). */
    static File dir() {
        String path = System.getProperty("edgereason.golden");
        if (path == null) {
            throw new IllegalStateException("set -Dedgereason.golden=<repo>/tests/golden (scripts/test_core.sh does)");
        }
        return new File(path);
    }

    static Map<String, Object> load(String name) throws IOException {
        return Json.object(Json.read(new File(dir(), name)), name);
    }

    /** The SmolLM2 tokenizer.json from -Dedgereason.tokenizer, or null when the model was not materialized. */
    static File tokenizerJson() {
        String path = System.getProperty("edgereason.tokenizer");
        return path == null || path.isEmpty() ? null : new File(path);
    }

    static float[] floats(Object list) {
        double[] d = Json.doubles(list, "logits");
        float[] f = new float[d.length];
        for (int k = 0; k < d.length; k++) {
            f[k] = (float) d[k];
        }
        return f;
    }

    /** A golden file's list of token ids. */
    static int[] ints(Object list) {
        List<Object> l = Json.array(list, "ids");
        int[] out = new int[l.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = (int) Json.integer(l.get(k), "id");
        }
        return out;
    }
}
