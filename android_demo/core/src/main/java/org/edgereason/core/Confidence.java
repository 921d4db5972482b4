package org.edgereason.core;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Confidence signals, ported from runtime/confidence.py: per step from the logits already there, per trace from the
 * steps. Computed from the model's logits before temperature and top-k/top-p, so every backend and every sampling
 * setting report the same numbers for the same distribution.
 *
 * <p>Per step: top-1 probability, top-1 − top-2 margin, entropy (nats), and DeepConf's token confidence
 * C = −mean(log p) over the top-k tokens. Per trace: sliding-window group confidence, its lowest value, the tail
 * and the bottom-10% group mean. Python sums the float32 softmax terms with BLAS; this port sums in float64, which
 * agrees within the golden vectors' 1e-5.
 */
public final class Confidence {
    public static final int DEFAULT_TOP_K = 20;
    public static final int DEFAULT_WINDOW = 32;
    public static final int DEFAULT_TAIL = 32;

    private Confidence() {
    }

    /** The signals of one step's distribution and the token chosen from it. */
    public static final class StepSignals {
        public final double logprob;
        public final double top1Prob;
        public final double margin;
        public final double entropy;
        public final double tokenConf;

        public StepSignals(double logprob, double top1Prob, double margin, double entropy, double tokenConf) {
            this.logprob = logprob;
            this.top1Prob = top1Prob;
            this.margin = margin;
            this.entropy = entropy;
            this.tokenConf = tokenConf;
        }
    }

    public static StepSignals stepSignals(float[] logits, int token) {
        return stepSignals(logits, token, DEFAULT_TOP_K);
    }

    /** Signals of logits [V] and the token drawn from them; {@code topK} values enter the token confidence. */
    public static StepSignals stepSignals(float[] logits, int token, int topK) {
        float[] top = topValues(logits, topK); // ascending: the largest last
        double peak = top[top.length - 1];
        double second = top.length >= 2 ? top[top.length - 2] : peak;
        double total = 0.0;
        double weighted = 0.0;
        for (float x : logits) {
            double e = Math.exp(x - peak);
            total += e;
            weighted += e * x;
        }
        double logZ = peak + Math.log(total);
        double entropy = logZ - weighted / total;
        double p1 = Math.exp(peak - logZ);
        double p2 = Math.exp(second - logZ);
        double topSum = 0.0;
        for (float v : top) {
            topSum += v;
        }
        return new StepSignals(logits[token] - logZ, p1, p1 - p2, Math.max(entropy, 0.0),
                logZ - topSum / top.length);
    }

    /** The k largest values of x (all if fewer), ascending. */
    static float[] topValues(float[] x, int k) {
        int n = Math.min(k, x.length);
        float[] best = new float[n]; // descending while filling
        int size = 0;
        for (float v : x) {
            if (size == n && v <= best[n - 1]) {
                continue;
            }
            int pos = size == n ? n - 1 : size++;
            while (pos > 0 && v > best[pos - 1]) {
                best[pos] = best[pos - 1];
                pos--;
            }
            best[pos] = v;
        }
        float[] ascending = new float[n];
        for (int j = 0; j < n; j++) {
            ascending[j] = best[n - 1 - j];
        }
        return ascending;
    }

    /** Running per-trace statistics, updated once per step in O(1); {@link #summary()} gives the calibrator's inputs. */
    public static final class Trace {
        public final int window;
        public final int tail;
        private final ArrayDeque<Double> recent = new ArrayDeque<>();
        private double recentSum;
        public final List<Double> tokenConfs = new ArrayList<>();
        public final List<Double> groupConfs = new ArrayList<>();
        public final List<Double> logprobs = new ArrayList<>();

        public Trace() {
            this(DEFAULT_WINDOW, DEFAULT_TAIL);
        }

        public Trace(int window, int tail) {
            if (window < 1 || tail < 1) {
                throw new IllegalArgumentException("window and tail must be >= 1, got " + window + ", " + tail);
            }
            this.window = window;
            this.tail = tail;
        }

        /** Adds a step; returns the group confidence once {@code window} steps are in, else null. */
        public Double update(StepSignals s) {
            tokenConfs.add(s.tokenConf);
            logprobs.add(s.logprob);
            recent.addLast(s.tokenConf);
            recentSum += s.tokenConf;
            if (recent.size() > window) {
                recentSum -= recent.removeFirst();
            }
            if (recent.size() < window) {
                return null;
            }
            double group = recentSum / window;
            groupConfs.add(group);
            return group;
        }

        /** Trace-level features, named as in Python. Short traces use what they have. */
        public Map<String, Double> summary() {
            double[] confs = values(tokenConfs, 0.0);
            double[] groups = groupConfs.isEmpty() ? new double[] {mean(confs, 0, confs.length)}
                    : values(groupConfs, 0.0);
            Arrays.sort(groups);
            double[] lp = values(logprobs, 0.0);
            int bottom = Math.max(1, groups.length / 10);
            int tailFrom = Math.max(0, confs.length - tail);
            double minLogprob = Double.POSITIVE_INFINITY;
            for (double v : lp) {
                minLogprob = Math.min(minLogprob, v);
            }
            Map<String, Double> out = new LinkedHashMap<>();
            out.put("mean_conf", mean(confs, 0, confs.length));
            out.put("lowest_group_conf", groups[0]);
            out.put("bottom10_group_conf", mean(groups, 0, bottom));
            out.put("tail_conf", mean(confs, tailFrom, confs.length - tailFrom));
            out.put("mean_logprob", mean(lp, 0, lp.length));
            out.put("min_logprob", minLogprob);
            out.put("num_tokens", (double) tokenConfs.size());
            return out;
        }

        private static double[] values(List<Double> list, double empty) {
            if (list.isEmpty()) {
                return new double[] {empty};
            }
            double[] out = new double[list.size()];
            for (int j = 0; j < out.length; j++) {
                out[j] = list.get(j);
            }
            return out;
        }
    }

    /** numpy's mean: its pairwise sum divided by the count. */
    static double mean(double[] a, int from, int n) {
        return Sampler.pairwiseSum(a, from, n) / n;
    }
}
