package org.edgereason.core;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The one decode loop (runtime/generate.py): prefill, then decode until eos, the token budget or an exit policy,
 * with confidence signals on every step from the logits before temperature and top-k/top-p. With an arithmetic
 * checker in compute mode, the calculator's exact results are fed as tool steps. Each model step keeps the backend's
 * hidden state that predicted it (null without that output), for the calibrator's hidden-state probes.
 */
public final class Generator {
    /** The signals a tool step carries: the calculator wrote it, so it says nothing about the model's confidence. */
    public static final Confidence.StepSignals TOOL_SIGNALS = new Confidence.StepSignals(0.0, 1.0, 1.0, 0.0, 0.0);

    /** One generated token; the last one of a trace carries its finish reason. */
    public static final class Step {
        public final int index;
        public final int tokenId;
        public final Confidence.StepSignals signals;
        public final Double groupConf; // null until the window fills, and on tool steps
        public final double elapsedMs; // from the start of prefill: the first step's is the TTFT
        public final String finishReason; // null | "stop" | "length" | "early_exit" | "cancelled"
        /** Written by the calculator, not drawn from the model: TOOL_SIGNALS, not counted in the confidence. */
        public final boolean tool;
        /**
         * The backend's hidden state that predicted this token ({@link Backend#hidden}; the first step's is the last
         * prompt token's), or null: a tool step, or a model without that output.
         */
        public final float[] hidden;

        Step(int index, int tokenId, Confidence.StepSignals signals, Double groupConf, double elapsedMs,
             String finishReason, boolean tool, float[] hidden) {
            this.index = index;
            this.tokenId = tokenId;
            this.signals = signals;
            this.groupConf = groupConf;
            this.elapsedMs = elapsedMs;
            this.finishReason = finishReason;
            this.tool = tool;
            this.hidden = hidden;
        }

        Step finish(String reason) {
            return new Step(index, tokenId, signals, groupConf, elapsedMs, reason, tool, hidden);
        }
    }

    /**
     * Called with each step (finish reason still null) and the trace so far; true stops the trace. Tool steps are
     * shown to the policy too (a line's text includes them), but cannot end the trace.
     */
    public interface ExitPolicy {
        boolean shouldStop(Step step, Confidence.Trace trace) throws Exception;
    }

    /** Receives every step as it is decoded (the app streams and tints tokens from here). */
    public interface Listener {
        void onStep(Step step);
    }

    private Generator() {
    }

    /** The token ids of decoded steps, in order (what {@link Text#decode} turns into the trace's text). */
    public static int[] ids(List<Step> steps) {
        int[] ids = new int[steps.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = steps.get(k).tokenId;
        }
        return ids;
    }

    /** Decodes one trace without the calculator. */
    public static List<Step> generate(Backend backend, int[] promptIds, Sampler sampler, int maxNewTokens,
                                      List<Integer> stopIds, ExitPolicy exitPolicy, Confidence.Trace trace,
                                      boolean reusePrefix, Listener listener) throws Exception {
        return generate(backend, promptIds, sampler, maxNewTokens, stopIds, exitPolicy, trace, reusePrefix, listener,
                null);
    }

    /**
     * Decodes one trace. With {@code reusePrefix}, the part of the prompt already cached (a shared system prompt,
     * the previous vote trace's prompt) is kept and only the rest is run. An interrupt of the calling thread ends the
     * trace with finish reason "cancelled" (the app's stop button).
     *
     * <p>{@code arithmetic} (or null) checks each statement as it is written; in compute mode, where the model's next
     * token is not the calculator's, the rest of the exact result is fed in one prefill as tool steps. The model's
     * own token is drawn, then replaced, so a sampler's random stream is the same with and without the calculator.
     * A tool step ends the trace only at the budget ("length"). The checker's finish is called when the trace ends.
     *
     * @throws Backend.ContextOverflowException the prompt plus the decoded tokens exceed the context.
     */
    public static List<Step> generate(Backend backend, int[] promptIds, Sampler sampler, int maxNewTokens,
                                      List<Integer> stopIds, ExitPolicy exitPolicy, Confidence.Trace trace,
                                      boolean reusePrefix, Listener listener, ArithmeticChecker arithmetic)
            throws Exception {
        Set<Integer> stops = new HashSet<>(stopIds == null ? backend.eosIds : stopIds);
        long start = System.nanoTime();
        if (!reusePrefix) {
            backend.reset();
        }
        float[] logits = backend.prefillReusing(promptIds); // after a reset: the whole prompt
        float[] hidden = backend.hidden(); // read now: an exit policy's probe runs the backend before the next step
        List<Step> steps = new ArrayList<>();
        int index = 0;
        while (index < maxNewTokens) {
            int token = sampler.sample(logits);
            Integer wanted = null;
            if (arithmetic != null) {
                wanted = arithmetic.expected(Math.min(maxNewTokens - index, backend.maxSeqLen - backend.position()));
            }
            if (wanted != null && token != wanted) {
                int[] tools = arithmetic.takeRest();
                for (int k = 0; k < tools.length; k++) {
                    arithmetic.push(tools[k], true);
                    Step step = new Step(index + k, tools[k], TOOL_SIGNALS, null, (System.nanoTime() - start) / 1e6,
                            null, true, null);
                    if (exitPolicy != null) {
                        exitPolicy.shouldStop(step, trace); // seen, but a tool step never ends the trace
                    }
                    boolean last = index + k == maxNewTokens - 1; // the result fits the budget: only its last token
                    if (last) {
                        arithmetic.finish();
                        step = step.finish("length");
                    }
                    emit(steps, step, listener);
                    if (last) {
                        return steps;
                    }
                }
                index += tools.length;
                logits = backend.prefill(tools);
                hidden = backend.hidden();
                continue;
            }
            Confidence.StepSignals signals = Confidence.stepSignals(logits, token);
            Step step = new Step(index, token, signals, trace.update(signals), (System.nanoTime() - start) / 1e6,
                    null, false, hidden);
            if (arithmetic != null) {
                arithmetic.push(token, false);
            }
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
                if (arithmetic != null) {
                    arithmetic.finish();
                }
                emit(steps, step.finish(reason), listener);
                return steps;
            }
            emit(steps, step, listener);
            logits = backend.step(token);
            hidden = backend.hidden();
            index++;
        }
        return steps;
    }

    private static void emit(List<Step> steps, Step step, Listener listener) {
        steps.add(step);
        if (listener != null) {
            listener.onStep(step);
        }
    }
}
