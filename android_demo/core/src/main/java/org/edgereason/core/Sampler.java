package org.edgereason.core;

import java.util.Arrays;

/**
 * The one sampler of DESIGN.md section 7, ported from runtime/sampling.py so the phone draws the same tokens.
 *
 * <p>SplitMix64; uniform = (next() >>> 11) * 2^-53; candidates ordered by (logit desc, id asc); logits / temperature
 * in float64; top-k keeps the first k; softmax in float64; top-p keeps the smallest prefix whose cumulative
 * probability reaches p; the draw takes the first candidate whose cumulative mass exceeds u * total. Temperature 0
 * is greedy: argmax, lowest id on ties. Sums follow numpy's own order (pairwise for {@code sum}, running for
 * {@code cumsum}) so the normalization rounds exactly as in Python; {@code StrictMath.exp} is the same on every
 * device (numpy's exp may differ from it in the last bit, which moves a draw only at an exact boundary).
 */
public final class Sampler {
    /** Sampling settings; validated like {@code SamplingConfig.__post_init__}. */
    public static final class Config {
        public final double temperature;
        public final int topK;
        public final double topP;
        public final long seed; // unsigned 64-bit

        public Config(double temperature, int topK, double topP, long seed) {
            if (!(temperature >= 0.0) || Double.isInfinite(temperature)) {
                throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
            }
            if (topK < 0) {
                throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
            }
            if (!(topP > 0.0 && topP <= 1.0)) {
                throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
            }
            this.temperature = temperature;
            this.topK = topK;
            this.topP = topP;
            this.seed = seed;
        }

        public static Config greedy() {
            return new Config(0.0, 0, 1.0, 0L);
        }
    }

    /** 64-bit PRNG with a one-word state; Java's wrapping long arithmetic is exactly mod 2^64. */
    public static final class SplitMix64 {
        private long state;

        public SplitMix64(long seed) {
            state = seed;
        }

        public long next() {
            state += 0x9E3779B97F4A7C15L;
            long z = state;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        /** A double in [0, 1) from the top 53 bits. */
        public double uniform() {
            return (next() >>> 11) * 0x1.0p-53;
        }
    }

    private final Config config;
    private final SplitMix64 rng;

    public Sampler(Config config) {
        this.config = config;
        this.rng = new SplitMix64(config.seed);
    }

    /** Draws one token id from logits [V]; the PRNG advances once per non-greedy draw. */
    public int sample(float[] logits) {
        if (config.temperature == 0.0) {
            return greedy(logits);
        }
        int[] ids = candidates(logits, config.topK);
        int n = ids.length;
        double[] probs = new double[n];
        double first = (double) logits[ids[0]] / config.temperature;
        for (int k = 0; k < n; k++) {
            probs[k] = StrictMath.exp((double) logits[ids[k]] / config.temperature - first);
        }
        double total = pairwiseSum(probs, 0, n);
        for (int k = 0; k < n; k++) {
            probs[k] /= total;
        }
        if (config.topP < 1.0) {
            double c = 0.0;
            int keep = n;
            for (int k = 0; k < n; k++) {
                c += probs[k];
                if (c >= config.topP) { // numpy searchsorted(side="left"): first prefix reaching p
                    keep = k + 1;
                    break;
                }
            }
            n = keep;
        }
        double[] cumulative = new double[n];
        double c = 0.0;
        for (int k = 0; k < n; k++) {
            c += probs[k];
            cumulative[k] = c;
        }
        double target = rng.uniform() * cumulative[n - 1];
        for (int k = 0; k < n; k++) {
            if (cumulative[k] > target) {
                return ids[k];
            }
        }
        return ids[n - 1];
    }

    /** Argmax, the lowest id on ties. */
    public static int greedy(float[] logits) {
        int best = 0;
        for (int k = 1; k < logits.length; k++) {
            if (logits[k] > logits[best]) {
                best = k;
            }
        }
        return best;
    }

    /** Token ids ordered by (logit desc, id asc), cut to the first {@code topK} (0: all). */
    public static int[] candidates(float[] logits, int topK) {
        int v = logits.length;
        int k = topK > 0 && topK < v ? topK : v;
        if (k < v) {
            // Keep a sorted buffer of the k best seen so far: ~k·log k per improvement, cheap for a 49k vocabulary.
            int[] best = new int[k];
            int size = 0;
            for (int id = 0; id < v; id++) {
                if (size == k && !before(logits, id, best[k - 1])) {
                    continue;
                }
                int pos = size == k ? k - 1 : size++;
                while (pos > 0 && before(logits, id, best[pos - 1])) {
                    best[pos] = best[pos - 1];
                    pos--;
                }
                best[pos] = id;
            }
            return best;
        }
        // One primitive sort of (descending logit, ascending id) keys: boxing 49k Integers costs ~10x more.
        long[] keys = new long[v];
        for (int id = 0; id < v; id++) {
            int bits = Float.floatToIntBits(logits[id] + 0.0f); // + 0.0f: -0.0 sorts equal to 0.0, as in numpy
            int ascending = bits ^ ((bits >> 31) & 0x7fffffff);
            keys[id] = ((long) ~ascending << 32) | id;
        }
        Arrays.sort(keys);
        int[] out = new int[v];
        for (int r = 0; r < v; r++) {
            out[r] = (int) keys[r];
        }
        return out;
    }

    private static boolean before(float[] logits, int a, int b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    }

    /** numpy's float64 {@code add.reduce}: 8 accumulators per block of at most 128, halving above that. */
    static double pairwiseSum(double[] a, int from, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int k = 0; k < n; k++) {
                res += a[from + k];
            }
            return res;
        }
        if (n <= 128) {
            double[] r = new double[8];
            System.arraycopy(a, from, r, 0, 8);
            int k = 8;
            for (; k < n - (n % 8); k += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += a[from + k + j];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; k < n; k++) {
                res += a[from + k];
            }
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return pairwiseSum(a, from, n2) + pairwiseSum(a, from + n2, n - n2);
    }
}
