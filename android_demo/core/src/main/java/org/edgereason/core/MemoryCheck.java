package org.edgereason.core;

import java.util.Locale;

/**
 * Whether an artifact fits the device's free memory, decided before loading: a model that does not fit gets the
 * app killed by the low-memory killer mid-load, with no message at all.
 */
public final class MemoryCheck {
    /** Activations, logits and runtime arenas on top of weights and KV cache (measured ~40 MB for SmolLM2-135M). */
    public static final long WORKING_BYTES = 64L << 20;

    private MemoryCheck() {
    }

    /** Bytes the loaded artifact needs: its weights, a float32 KV cache for the full context, working memory. */
    public static long neededBytes(Manifest m) {
        return m.modelBytes() + m.kvCacheBytes() + WORKING_BYTES;
    }

    /**
     * Null when the artifact fits in {@code availableBytes}; otherwise a message with the numbers and the fix.
     */
    public static String problem(Manifest m, long availableBytes, long totalBytes) {
        long need = neededBytes(m);
        if (need <= availableBytes) {
            return null;
        }
        return String.format(Locale.ROOT, "%s needs about %s MiB (weights %s + KV cache %s for %d tokens + working "
                + "%s) but the device has %s MiB free of %s MiB: close other apps, or export a smaller recipe "
                + "(--recipe int4) or a shorter context (--max-seq-len)", m.folder.getName(), mib(need),
                mib(m.modelBytes()), mib(m.kvCacheBytes()), m.maxSeqLen, mib(WORKING_BYTES), mib(availableBytes),
                mib(totalBytes));
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%,.0f", bytes / 1048576.0);
    }
}
