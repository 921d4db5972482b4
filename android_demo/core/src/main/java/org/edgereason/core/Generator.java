package org.edgereason.core;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The one decode loop (runtime/generate.py): prefill, then decode until eos, the token budget or an exit policy,
 * with confidence signals on every step from the logits before temperature and top-k/top-p.
 */
public final class Generator {
    /** One generated token; the last one of a trace carries its finish reason. */
    public static final class Step {
        public final int index;
        public final int tokenId;
        public final Confidence.StepSignals signals;
        public final Double groupConf; // null until the window fills
        public final double elapsedMs; // from the start of prefill: the first step's is the TTFT
        public final String finishReason; // null | "stop" | "length" | "early_exit" | "cancelled"

        Step(int index, int tokenId, Confidence.StepSignals signals, Double groupConf, double elapsedMs,
             String finishReason) {
            this.index = index;
            this.tokenId = tokenId;
            this.signals = signals;
            this.groupConf = groupConf;
            this.elapsedMs = elapsedMs;
            this.finishReason = finishReason;
        }

        Step finish(String reason) {
            return new Step(index, tokenId, signals, groupConf, elapsedMs, reason);
        }
    }

    /** Called with each step (finish reason still null) and the trace so far; true stops the trace. */
    public interface ExitPolicy {
        boolean shouldStop(Step step, Confidence.Trace trace) throws Exception;
    }

    /** Receives every step as it is decoded (the app streams and tints tokens from here). */
    public interface Listener {
        void onStep(Step step);
    }

    private Generator() {
    }

    /**
     * Decodes one trace. With {@code reusePrefix}, the part of the prompt already cached (a shared system prompt,
     * the previous vote trace's prompt) is kept and only the rest is run. An interrupt of the calling thread ends the
     * trace with finish reason "cancelled" (the app's stop button).
     *
     * @throws Backend.ContextOverflowException the prompt plus the decoded tokens exceed the context.
     */
    public static List<Step> generate(Backend backend, int[] promptIds, Sampler sampler, int maxNewTokens,
                                      List<Integer> stopIds, ExitPolicy exitPolicy, Confidence.Trace trace,
                                      boolean reusePrefix, Listener listener) throws Exception {
        Set<Integer> stops = new HashSet<>(stopIds == null ? backend.eosIds : stopIds);
        long start = System.nanoTime();
        int keep = reusePrefix ? Math.min(backend.commonPrefix(promptIds), promptIds.length - 1) : 0;
        if (keep > 0) {
            backend.rewind(keep); // at least one prompt token is run, for the logits of the next
        } else {
            backend.reset();
        }
        int[] rest = new int[promptIds.length - keep];
        System.arraycopy(promptIds, keep, rest, 0, rest.length);
        float[] logits = backend.prefill(rest);
        List<Step> steps = new ArrayList<>();
        for (int index = 0; index < maxNewTokens; index++) {
            int token = sampler.sample(logits);
            Confidence.StepSignals signals = Confidence.stepSignals(logits, token);
            Step step = new Step(index, token, signals, trace.update(signals), (System.nanoTime() - start) / 1e6,
                    null);
            String reason = null;
            if (stops.contains(token)) {
                reason = "stop";
            } else if (exitPolicy != null && exitPolicy.shouldStop(step, trace)) {
                reason = "early_exit";
            } else if (index == maxNewTokens - 1) {
                reason = "length";
            } else if (Thread.currentThread().isInterrupted()) {
                reason = "cancelled";
            }
            if (reason != null) {
                step = step.finish(reason);
            }
            steps.add(step);
            if (listener != null) {
                listener.onStep(step);
            }
            if (reason != null) {
                break;
            }
            logits = backend.step(token);
        }
        return steps;
    }
}
