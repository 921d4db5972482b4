package org.edgereason.core;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * P(correct) from trace features, applying a calibrator fitted by runtime/calibrate.py: standardize, logistic
 * regression, optional isotonic map (numpy's interp), accept at or above the threshold.
 *
 * <p>The calibrator belongs to one artifact (its confidence signals are that artifact's), so loading refuses a file
 * fitted on another model file, exactly as {@code load_calibrator} does.
 */
public final class Calibrator {
    public static final String FILE = "calibrator.%s.json";

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

    Calibrator(Map<String, Object> d) {
        features = new ArrayList<>();
        for (Object o : Json.array(d.get("features"), "features")) {
            features.add(Json.string(o, "feature name"));
        }
        mean = Json.doubles(d.get("mean"), "mean");
        scale = Json.doubles(d.get("scale"), "scale");
        weights = Json.doubles(d.get("weights"), "weights");
        bias = Json.number(d.get("bias"), "bias");
        threshold = Json.number(d.get("threshold"), "threshold");
        targetRisk = Json.number(d.get("target_risk"), "target_risk");
        artifactSha256 = Json.string(d.get("artifact_sha256"), "artifact_sha256");
        strategy = d.containsKey("strategy") ? Json.string(d.get("strategy"), "strategy") : "early-exit";
        isotonicX = d.containsKey("isotonic_x") ? Json.doubles(d.get("isotonic_x"), "isotonic_x") : new double[0];
        isotonicY = d.containsKey("isotonic_y") ? Json.doubles(d.get("isotonic_y"), "isotonic_y") : new double[0];
        int n = features.size();
        if (mean.length != n || scale.length != n || weights.length != n || isotonicX.length != isotonicY.length) {
            throw new IllegalArgumentException("features, mean, scale and weights differ in length");
        }
    }

    public static Calibrator fromJson(String json) {
        return new Calibrator(Json.object(Json.parse(json), "calibrator"));
    }

    /**
     * The artifact's calibrator for {@code strategy}, or null if it has none.
     *
     * @throws ArtifactException an unreadable file, or one fitted on another artifact.
     */
    public static Calibrator load(Manifest manifest, String strategy) throws ArtifactException {
        File path = new File(manifest.folder, String.format(FILE, strategy));
        if (!path.isFile()) {
            return null;
        }
        Calibrator cal;
        try {
            cal = new Calibrator(Json.object(Json.read(path), path.getName()));
        } catch (IOException | IllegalArgumentException e) {
            throw new ArtifactException(path + " is not a calibrator file (" + e.getMessage()
                    + "): run `edgereason calibrate` again", e);
        }
        String sha = manifest.modelSha256();
        if (!cal.artifactSha256.equals(sha)) {
            throw new ArtifactException(path + " was fitted on another artifact (sha256 "
                    + prefix(cal.artifactSha256) + "…, this one is " + prefix(sha)
                    + "…): run `edgereason calibrate` on this artifact");
        }
        return cal;
    }

    private static String prefix(String s) {
        return s.substring(0, Math.min(12, s.length()));
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
        double p = 1.0 / (1.0 + Math.exp(-Math.max(-40.0, Math.min(40.0, z + bias))));
        return isotonicX.length > 0 ? interp(p, isotonicX, isotonicY) : p;
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
