package org.edgereason.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Log-likelihood of continuations after a shared context (runtime/likelihood.py): what the score strategy answers a
 * multiple-choice question with, without decoding. The context runs once, reusing what the cache holds; each
 * continuation is scored from it and the cache is rewound to the context between them, so n options cost one
 * context forward plus their own tokens.
 */
public final class Likelihood {
    /** One continuation's log-likelihood (runtime/likelihood.py {@code Scored}). */
    public static final class Scored {
        /** Sum of log p over the continuation's tokens (natural log). */
        public final double logprob;
        public final int numTokens;
        /** Every continuation token was the most likely one (lm-eval's {@code is_greedy}). */
        public final boolean greedy;

        Scored(double logprob, int numTokens, boolean greedy) {
            this.logprob = logprob;
            this.numTokens = numTokens;
            this.greedy = greedy;
        }
    }

    private Likelihood() {
    }

    /**
     * Each continuation's log-likelihood after {@code context}; the cache is left holding the context. A backend's
     * forward gives the last position's logits only, so a continuation's tokens after its first are stepped one by
     * one (as Python's default {@code Backend.extend} does).
     *
     * @throws IllegalArgumentException an empty context or continuation.
     * @throws Backend.ContextOverflowException the context and a continuation exceed the artifact's context, found
     *     before that continuation's forwards (the cache still holds the context).
     */
    public static List<Scored> scoreContinuations(Backend backend, int[] context, List<int[]> continuations)
            throws Exception {
        if (context.length == 0) {
            throw new IllegalArgumentException("the context and every continuation need at least one token");
        }
        for (int[] c : continuations) {
            if (c.length == 0) {
                throw new IllegalArgumentException("the context and every continuation need at least one token");
            }
        }
        float[] afterContext = backend.prefillReusing(context); // predicts each continuation's first token
        int keep = context.length;
        List<Scored> out = new ArrayList<>();
        for (int[] cont : continuations) {
            backend.checkRoom(cont.length - 1);
            float[] logits = afterContext;
            double logprob = 0.0;
            boolean greedy = true;
            for (int t = 0; t < cont.length; t++) {
                if (t > 0) {
                    logits = backend.step(cont[t - 1]);
                }
                logprob += logProb(logits, cont[t]);
                greedy = greedy && argmax(logits) == cont[t];
            }
            out.add(new Scored(logprob, cont.length, greedy));
            backend.rewind(keep);
        }
        return out;
    }

    /** log p(target) under {@code logits}, the log-softmax taken in double (likelihood.py {@code log_softmax}). */
    static double logProb(float[] logits, int target) {
        double top = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            top = Math.max(top, x);
        }
        double sum = 0.0;
        for (float x : logits) {
            sum += Math.exp(x - top);
        }
        return logits[target] - top - Math.log(sum);
    }

    /** The first index of the largest logit (numpy's argmax). */
    static int argmax(float[] logits) {
        int best = 0;
        for (int k = 1; k < logits.length; k++) {
            if (logits[k] > logits[best]) {
                best = k;
            }
        }
        return best;
    }
}
