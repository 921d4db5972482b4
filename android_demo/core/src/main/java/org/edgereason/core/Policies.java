package org.edgereason.core;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Early-exit policies (runtime/policies.py), called by the decode loop with each step; true ends the trace.
 *
 * <p>{@link GroupConfidenceAbort} (DeepConf online) abandons a trace whose sliding-window group confidence falls below
 * a threshold. {@link AnswerProbe} (DEER-style) appends a probe such as " So the answer is" at newline boundaries,
 * reads the answer greedily, rewinds the cache, and stops once the answer is settled; a line that already states
 * the answer ends the trace at no probe cost. {@link ArithmeticAbort} abandons a trace at its first false arithmetic
 * statement.
 */
public final class Policies {
    /** The model has written its final answer on this line: nothing after it can change the answer. */
    static final Pattern STATED = Pattern.compile("answer is\\s*:?\\s*\\$?\\s*-?\\(?[\\d" + Answers.LETTERS + "]",
            Pattern.CASE_INSENSITIVE);

    private Policies() {
    }

    /** Abort when the group confidence (mean DeepConf token confidence over the window) falls below the threshold. */
    public static final class GroupConfidenceAbort implements Generator.ExitPolicy {
        public final double threshold;
        public Double firedAt; // the group confidence that fired, for the explanation

        public GroupConfidenceAbort(double threshold) {
            this.threshold = threshold;
        }

        @Override
        public boolean shouldStop(Generator.Step step, Confidence.Trace trace) {
            if (step.groupConf != null && step.groupConf < threshold) {
                firedAt = step.groupConf;
                return true;
            }
            return false;
        }
    }

    /** Probe for a settled answer at newline boundaries; the backend's cache is unchanged after every probe. */
    public static final class AnswerProbe implements Generator.ExitPolicy {
        private final Backend backend;
        private final Text text;
        private final Answers.Kind kind;
        private final int numChoices;
        public final double threshold;
        public final int patience;
        public final int minTokens;
        /** The spec's probe text and the most tokens one greedy read of the answer may take. */
        public final String probeText;
        public final int maxAnswerTokens;
        public int numProbes;
        public int probeTokens; // tokens the probes cost (prefill + decode), for honest savings accounting
        public String settledAnswer;
        public double settledConf;
        public boolean stated; // stopped because the trace itself wrote "the answer is ..."
        private final List<String> streak = new ArrayList<>();
        private final Tokenizer.IntList line = new Tokenizer.IntList();
        private int[] probeIds;

        public AnswerProbe(Backend backend, Text text, Answers.Kind kind, int numChoices, double threshold,
                           int patience, int minTokens, String probeText, int maxAnswerTokens) {
            this.backend = backend;
            this.text = text;
            this.kind = kind;
            this.numChoices = numChoices;
            this.threshold = threshold;
            this.patience = patience;
            this.minTokens = minTokens;
            this.probeText = probeText;
            this.maxAnswerTokens = maxAnswerTokens;
        }

        @Override
        public boolean shouldStop(Generator.Step step, Confidence.Trace trace) throws Exception {
            line.add(step.tokenId);
            if (!text.decode(new int[] {step.tokenId}).contains("\n")) {
                return false;
            }
            String lineText = text.decode(line.toArray());
            line.truncate(0);
            if (STATED.matcher(lineText).find()) {
                stated = true;
                return true;
            }
            if (step.index + 1 < minTokens) {
                return false;
            }
            String[] answer = new String[1];
            double conf = probe(step.tokenId, answer);
            if (answer[0] == null || conf < threshold) {
                streak.clear();
                return false;
            }
            if (!streak.isEmpty() && !Answers.sameAnswer(streak.get(streak.size() - 1), answer[0])) {
                streak.clear();
            }
            streak.add(answer[0]);
            if (streak.size() >= patience) {
                settledAnswer = answer[0];
                settledConf = conf;
                return true;
            }
            return false;
        }

        /** Feeds the boundary token and the probe, reads an answer greedily, rewinds; returns its mean probability. */
        private double probe(int boundaryToken, String[] answerOut) throws Exception {
            if (probeIds == null) {
                probeIds = text.encode(probeText, false);
            }
            int start = backend.position();
            numProbes++;
            Tokenizer.IntList ids = new Tokenizer.IntList();
            double probSum = 0.0;
            int[] feed = new int[probeIds.length + 1];
            feed[0] = boundaryToken;
            System.arraycopy(probeIds, 0, feed, 1, probeIds.length);
            try {
                float[] logits = backend.prefill(feed);
                probeTokens += feed.length;
                for (int k = 0; k < maxAnswerTokens; k++) {
                    int token = Sampler.greedy(logits);
                    String piece = text.decode(new int[] {token});
                    if (backend.eosIds.contains(token) || piece.contains("\n")) {
                        break;
                    }
                    double max = logits[token];
                    double total = 0.0;
                    for (float x : logits) {
                        total += Math.exp(x - max);
                    }
                    probSum += 1.0 / total;
                    ids.add(token);
                    if (piece.trim().endsWith(".")) {
                        break;
                    }
                    logits = backend.step(token);
                    probeTokens++;
                }
            } catch (Backend.ContextOverflowException e) {
                answerOut[0] = null;
                return 0.0;
            } finally {
                backend.rewind(start);
            }
            answerOut[0] = Answers.extract(probeText + text.decode(ids.toArray()), kind, numChoices);
            return ids.size() > 0 ? probSum / ids.size() : 0.0;
        }
    }

    /**
     * Abandon a trace at its first false arithmetic statement (check mode: the trace's own arithmetic says it is
     * wrong; in compute mode, the first result the model was about to write wrong).
     */
    public static final class ArithmeticAbort implements Generator.ExitPolicy {
        private final ArithmeticChecker checker;
        public String firedAt; // the statement that fired, for the explanation

        public ArithmeticAbort(ArithmeticChecker checker) {
            this.checker = checker;
        }

        @Override
        public boolean shouldStop(Generator.Step step, Confidence.Trace trace) {
            for (Arithmetic.Statement st : checker.statements()) {
                if (!st.right) {
                    firedAt = st.text;
                    return true;
                }
            }
            return false;
        }
    }

    /** One policy that fires when any fires; the first that fires decides (later ones are not consulted). */
    public static Generator.ExitPolicy anyOf(final Generator.ExitPolicy... policies) {
        final List<Generator.ExitPolicy> active = new ArrayList<>();
        for (Generator.ExitPolicy p : policies) {
            if (p != null) {
                active.add(p);
            }
        }
        if (active.isEmpty()) {
            return null;
        }
        return (step, trace) -> {
            for (Generator.ExitPolicy p : active) {
                if (p.shouldStop(step, trace)) {
                    return true;
                }
            }
            return false;
        };
    }
}
