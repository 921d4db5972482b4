package org.edgereason.core;

import java.io.Closeable;
import java.util.List;

/**
 * The backend contract of DESIGN.md section 7: tokens in, float32 logits out, over a position-addressed KV cache of
 * fixed size. Sampling, confidence and policies live in the one decode loop above ({@link Generator}), so the
 * ExecuTorch and ONNX Runtime backends of the app only implement {@link #forward}.
 *
 * <p>A backend whose model also outputs the probes' hidden state (the residual stream entering a middle layer, edgereason/specs/probes.json) sets it in {@code forward} with
 * {@link #setHidden} ({@link #hidden} reads it): the calibrator's hidden-state probes score it (runtime/backends/base.py
 * {@code Backend.hidden}).
 */
public abstract class Backend implements Closeable {
    /** More tokens than the artifact's KV cache holds. */
    public static final class ContextOverflowException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        public ContextOverflowException(String message) {
            super(message);
        }
    }

    public final int vocabSize;
    public final int maxSeqLen;
    public final List<Integer> eosIds;
    private final Tokenizer.IntList tokens = new Tokenizer.IntList();
    private float[] hidden;

    protected Backend(int vocabSize, int maxSeqLen, List<Integer> eosIds) {
        this.vocabSize = vocabSize;
        this.maxSeqLen = maxSeqLen;
        this.eosIds = eosIds;
    }

    /**
     * Runs {@code ids} at {@code position} (the cache holds that many tokens) and returns the last logits [V].
     * Entries past {@code position + ids.length} are never attended to, so reset and rewind need no work.
     */
    protected abstract float[] forward(int[] ids, int position) throws Exception;

    /**
     * The probes' hidden state at the last position of the latest forward, [H] float32 (it predicted the latest
     * logits); null when the model has no hidden-state output. Callers keep it: a backend gives a new array each time.
     */
    public float[] hidden() {
        return hidden;
    }

    /** Called by {@link #forward} with the last position's hidden state, a fresh array each forward. */
    protected final void setHidden(float[] state) {
        hidden = state;
    }

    /** Tokens in the cache. */
    public int position() {
        return tokens.size();
    }

    public void reset() {
        tokens.truncate(0);
    }

    /** Keeps only the first {@code numTokens} cached tokens (a probe's tokens are dropped this way). */
    public void rewind(int numTokens) {
        if (numTokens < 0 || numTokens > position()) {
            throw new IllegalArgumentException("cannot rewind to " + numTokens + ": the cache holds " + position()
                    + " tokens");
        }
        tokens.truncate(numTokens);
    }

    /** Appends a prompt; the logits of its last position. */
    public float[] prefill(int[] ids) throws Exception {
        if (ids.length == 0) {
            throw new IllegalArgumentException("empty prompt: give at least one token");
        }
        checkRoom(ids.length);
        float[] logits = forward(ids, position());
        for (int id : ids) {
            tokens.add(id);
        }
        return logits;
    }

    /** Appends one token; its logits. */
    public float[] step(int id) throws Exception {
        checkRoom(1);
        float[] logits = forward(new int[] {id}, position());
        tokens.add(id);
        return logits;
    }

    /**
     * {@link #prefill} a whole prompt, keeping the part the cache already holds (a shared system prompt, the previous
     * trace's prompt, a scored context); at least its last token is run, for the logits of the next
     * (runtime/backends/base.py {@code prefill_reusing}).
     */
    public float[] prefillReusing(int[] ids) throws Exception {
        int keep = Math.max(0, Math.min(commonPrefix(ids), ids.length - 1)); // none: prefill refuses it
        if (keep > 0) {
            rewind(keep);
        } else {
            reset();
        }
        int[] rest = new int[ids.length - keep];
        System.arraycopy(ids, keep, rest, 0, rest.length);
        return prefill(rest);
    }

    /** How many leading {@code ids} the cache already holds (a shared system prompt is not run twice). */
    public int commonPrefix(int[] ids) {
        int n = 0;
        while (n < ids.length && n < tokens.size() && tokens.get(n) == ids[n]) {
            n++;
        }
        return n;
    }

    public void checkRoom(int numNew) {
        if (position() + numNew > maxSeqLen) {
            throw new ContextOverflowException(position() + " cached + " + numNew + " new tokens exceed the context of "
                    + maxSeqLen + ": shorten the prompt or lower the token budget, or re-export with a larger "
                    + "--max-seq-len");
        }
    }
}
