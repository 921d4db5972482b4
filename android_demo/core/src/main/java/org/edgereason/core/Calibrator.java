package org.edgereason.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * P(correct) from trace features, applying a calibrator fitted by runtime/calibrate.py: standardize, logistic
 * regression, optional isotonic map (numpy's interp), accept at or above the threshold.
 *
 * <p>The file is checked as {@code parse_calibrator} checks it: edgereason/schemas/calibrator.schema.json, then the
 * rules across fields, with its messages. It travels inside an artifact's solve spec ({@link SolveSpec}, the
 * {@code calibrator} field), next to the prompt it was fitted on: the spec ties it to the artifact's model files and
 * to its strategy, and {@link ArtifactSpec} refuses a spec of another artifact.
 *
 * <p>Hidden-state probes (runtime/probes.py): a calibrator may carry a logistic probe per feature of
 * {@link #PROBE_FEATURES}, each reading one of the solve's two hidden states ("prompt": the last prompt token's,
 * "answer": the mean over the tokens that wrote the answer). Its logit is that feature's value
 * ({@link #probeFeatures}); the prompt probe's sigmoid is P(IK) ({@link #pIK}), which {@link Reasoner} can route
 * on before decoding ({@link #routeThreshold}).
 */
public final class Calibrator {
    private static final String FIX = "run `edgereason calibrate` again";
    /** Calibrator feature -> the hidden state its probe reads (edgereason/specs/probes.json, as Python reads it). */
    public static final Map<String, String> PROBE_FEATURES = ProbeSpec.get().features;

    /** A hidden-state probe: logistic regression on the standardized state (runtime/probes.py {@code Probe}). */
    public static final class Probe {
        /** "prompt" or "answer". */
        public final String state;
        public final double[] mean;
        public final double[] scale;
        public final double[] weights;
        public final double bias;
        public final double l2;

        /** From data that passed the schema ({@code $defs/probe}). */
        Probe(Map<String, Object> d, String what) {
            state = (String) d.get("state");
            mean = Json.doubles(d.get("mean"), what + ".mean");
            scale = Json.doubles(d.get("scale"), what + ".scale");
            weights = Json.doubles(d.get("weights"), what + ".weights");
            bias = Json.number(d.get("bias"), what + ".bias");
            l2 = Json.number(d.get("l2"), what + ".l2");
        }

        /** Log-odds of "correct" for one state (as wide as the weights; {@link Calibrator#probeFeatures} checks). */
        public double logit(double[] x) {
            double z = 0.0;
            for (int k = 0; k < weights.length; k++) {
                z += (x[k] - mean[k]) / scale[k] * weights[k];
            }
            return z + bias;
        }
    }

    public final List<String> features;
    public final double[] mean;
    public final double[] scale;
    public final double[] weights;
    public final double bias;
    public final double[] isotonicX;
    public final double[] isotonicY;
    public final double threshold;
    public final double targetRisk;
    public final String artifactSha256;
    public final String strategy;
    /** Hidden-state probes by the feature their logit fills, in the file's order (empty: none). */
    public final Map<String, Probe> probes;
    /** Route before decoding when P(IK) is below this (0: never). */
    public final double routeThreshold;

    /** From data that passed the schema. */
    private Calibrator(Map<String, Object> d) {
        features = new ArrayList<>();
        for (Object o : Json.array(d.get("features"), "features")) {
            features.add((String) o);
        }
        mean = Json.doubles(d.get("mean"), "mean");
        scale = Json.doubles(d.get("scale"), "scale");
        weights = Json.doubles(d.get("weights"), "weights");
        bias = Json.number(d.get("bias"), "bias");
        threshold = Json.number(d.get("threshold"), "threshold");
        targetRisk = Json.number(d.get("target_risk"), "target_risk");
        artifactSha256 = (String) d.get("artifact_sha256");
        strategy = (String) d.get("strategy");
        isotonicX = d.containsKey("isotonic_x") ? Json.doubles(d.get("isotonic_x"), "isotonic_x") : new double[0];
        isotonicY = d.containsKey("isotonic_y") ? Json.doubles(d.get("isotonic_y"), "isotonic_y") : new double[0];
        Map<String, Probe> p = new LinkedHashMap<>();
        if (d.containsKey("probes")) {
            for (Map.Entry<String, Object> e : Json.object(d.get("probes"), "probes").entrySet()) {
                p.put(e.getKey(), new Probe(Json.object(e.getValue(), "probes." + e.getKey()), "probes." + e.getKey()));
            }
        }
        probes = Collections.unmodifiableMap(p);
        routeThreshold = d.containsKey("route_threshold") ? Json.number(d.get("route_threshold"), "route_threshold")
                : 0.0;
    }

    /**
     * calibrate.py {@code parse_calibrator}: a calibrator from JSON text.
     *
     * @param label the file's name in messages
     * @throws ArtifactException naming {@code label}, the field and the fix.
     */
    public static Calibrator parse(String text, String label) throws ArtifactException {
        return check(Schema.parse(text, label, "a calibrator", FIX), label);
    }

    /** calibrate.py {@code check_calibrator}: parsed JSON, the schema then the rules across fields. */
    static Calibrator check(Object data, String label) throws ArtifactException {
        Schema.get("calibrator").validate(data, label, FIX);
        Calibrator c = new Calibrator(Json.object(data, label));
        int n = c.features.size();
        if (new HashSet<>(c.features).size() != n) {
            throw new ArtifactException(label + ": features: a feature repeats: " + FIX);
        }
        String[] names = {"mean", "scale", "weights"};
        double[][] values = {c.mean, c.scale, c.weights};
        for (int k = 0; k < names.length; k++) {
            if (values[k].length != n) {
                throw new ArtifactException(label + ": " + names[k] + ": " + values[k].length + " values for " + n
                        + " features: " + FIX);
            }
        }
        if (c.isotonicY.length != c.isotonicX.length) {
            throw new ArtifactException(label + ": isotonic_y: " + c.isotonicY.length + " values, must be as long as "
                    + "isotonic_x (" + c.isotonicX.length + "): " + FIX);
        }
        for (int k = 1; k < c.isotonicX.length; k++) {
            if (c.isotonicX[k] < c.isotonicX[k - 1]) {
                throw new ArtifactException(label + ": isotonic_x: values must be non-decreasing: " + FIX);
            }
        }
        for (String name : c.features) {
            if (PROBE_FEATURES.containsKey(name) && !c.probes.containsKey(name)) {
                throw new ArtifactException(label + ": probes: feature " + name + " has no probe: " + FIX);
            }
        }
        for (String name : c.probes.keySet()) {
            if (!c.features.contains(name)) {
                throw new ArtifactException(label + ": probes." + name + ": a probe for a feature the calibrator does "
                        + "not read: " + FIX);
            }
        }
        Set<Integer> sizes = new TreeSet<>();
        for (Probe p : c.probes.values()) {
            sizes.add(p.weights.length);
        }
        if (sizes.size() > 1) {
            throw new ArtifactException(label + ": probes: the probes read states of different sizes " + sizes + ": "
                    + FIX);
        }
        for (Map.Entry<String, Probe> e : c.probes.entrySet()) {
            checkProbe(e.getKey(), e.getValue(), label);
        }
        return c;
    }

    /** probes.py {@code check_probe}: the three vectors of one length, the state the one its feature reads. */
    private static void checkProbe(String name, Probe p, String label) throws ArtifactException {
        int n = p.weights.length;
        String[] keys = {"mean", "scale"};
        double[][] values = {p.mean, p.scale};
        for (int k = 0; k < keys.length; k++) {
            if (values[k].length != n) {
                throw new ArtifactException(label + ": probes." + name + "." + keys[k] + ": " + values[k].length
                        + " values for " + n + " weights: " + FIX);
            }
        }
        String wanted = PROBE_FEATURES.get(name); // the schema admits only these names
        if (!p.state.equals(wanted)) {
            throw new ArtifactException(label + ": probes." + name + ".state: '" + p.state + "', but " + name
                    + " reads the '" + wanted + "' state: " + FIX);
        }
    }

    /** P(correct) of one feature row (by name; a missing feature is an error naming it). */
    public double predict(Map<String, Double> row) {
        double z = 0.0;
        for (int k = 0; k < features.size(); k++) {
            Double x = row.get(features.get(k));
            if (x == null) {
                throw new IllegalArgumentException("feature " + features.get(k) + " is missing from the trace");
            }
            z += (x - mean[k]) / scale[k] * weights[k];
        }
        double p = sigmoid(z + bias);
        return isotonicX.length > 0 ? interp(p, isotonicX, isotonicY) : p;
    }

    /**
     * calibrate.py {@code probe_features}: each probe's logit on the solve's hidden states, by feature name (empty
     * without probes). A state nobody reads may be null.
     *
     * @throws ArtifactException a state a probe reads is missing (an artifact without hidden states) or of another
     *     size.
     */
    public Map<String, Double> probeFeatures(double[] prompt, double[] answer) throws ArtifactException {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Probe> e : probes.entrySet()) {
            out.put(e.getKey(), logit(e.getKey(), e.getValue().state.equals("prompt") ? prompt : answer));
        }
        return out;
    }

    /** {@link #probeFeatures(double[], double[])} on float32 states (what a backend's hidden state is). */
    public Map<String, Double> probeFeatures(float[] prompt, float[] answer) throws ArtifactException {
        return probeFeatures(widen(prompt), widen(answer));
    }

    /** True when the calibrator has the prompt probe, so {@link #pIK} has a value. */
    public boolean hasPIK() {
        return probes.containsKey("pik_logit");
    }

    /**
     * calibrate.py {@code p_ik}: the prompt probe's probability that the answer will be right, before decoding; null
     * when the calibrator has no prompt probe.
     *
     * @throws ArtifactException the prompt state is missing or of another size.
     */
    public Double pIK(double[] prompt) throws ArtifactException {
        return hasPIK() ? sigmoid(logit("pik_logit", prompt)) : null;
    }

    /** {@link #pIK(double[])} on a float32 state. */
    public Double pIK(float[] prompt) throws ArtifactException {
        return pIK(widen(prompt));
    }

    private double logit(String name, double[] state) throws ArtifactException {
        Probe probe = probes.get(name);
        if (state == null) {
            throw new ArtifactException("the calibrator reads the " + probe.state + " hidden state, which this artifact "
                    + "does not output: re-export it (hidden states are an output of .onnx exports) or calibrate "
                    + "without probes");
        }
        if (state.length != probe.weights.length) {
            throw new ArtifactException("the " + name + " probe reads " + probe.weights.length + " values, the model's "
                    + "hidden state has " + state.length + ": " + FIX);
        }
        return probe.logit(state);
    }

    private static double[] widen(float[] x) {
        if (x == null) {
            return null;
        }
        double[] d = new double[x.length];
        for (int k = 0; k < x.length; k++) {
            d[k] = x[k];
        }
        return d;
    }

    /** stats.py {@code sigmoid}: the logit clipped to [-40, 40]. */
    static double sigmoid(double z) {
        return 1.0 / (1.0 + Math.exp(-Math.max(-40.0, Math.min(40.0, z))));
    }

    public boolean accepts(double p) {
        return p >= threshold;
    }

    /** numpy.interp: clamp outside [xs[0], xs[-1]], else linear between the bracketing points. */
    static double interp(double x, double[] xs, double[] ys) {
        int n = xs.length;
        if (x < xs[0]) {
            return ys[0];
        }
        if (x >= xs[n - 1]) {
            return ys[n - 1];
        }
        int lo = 0;
        int hi = n - 1; // invariant: xs[lo] <= x < xs[hi]
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (xs[mid] <= x) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double slope = (ys[hi] - ys[lo]) / (xs[hi] - xs[lo]);
        return slope * (x - xs[lo]) + ys[lo];
    }
}
