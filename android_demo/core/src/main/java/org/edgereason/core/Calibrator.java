package org.edgereason.core;

import java.io.File;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * P(correct) from trace features, applying a calibrator fitted by runtime/calibrate.py: standardize, logistic
 * regression, optional isotonic map (numpy's interp), accept at or above the threshold.
 *
 * <p>The file is checked as {@code parse_calibrator} checks it: edgereason/schemas/calibrator.schema.json, then the
 * rules across fields, with its messages. The calibrator belongs to one artifact (its confidence signals are that
 * artifact's), so loading refuses a file fitted on another model file, exactly as {@code load_calibrator} does.
 */
public final class Calibrator {
    public static final String FILE = "calibrator.%s.json";
    private static final String FIX = "run `edgereason calibrate` again";

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

    private static Calibrator check(Object data, String label) throws ArtifactException {
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
        return c;
    }

    /**
     * The artifact's calibrator for {@code strategy}, or null if it has none. The manifest lists the file (the
     * calibrate command adds it), so reading the folder has verified its bytes.
     *
     * @throws ArtifactException an invalid file, or one fitted on another artifact.
     */
    public static Calibrator load(Manifest manifest, String strategy) throws ArtifactException {
        File path = new File(manifest.folder, String.format(FILE, strategy));
        if (!path.isFile()) {
            return null;
        }
        Object data = Schema.readJson(path, "a calibrator", FIX);
        Calibrator cal = check(data, manifest.folder.getName() + "/" + path.getName());
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
