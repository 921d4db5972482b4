package org.edgereason.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Solve specs for the tests, built as files are (the bundled defaults' JSON, changed, then checked): the small
 * scripted backends have a 512-token context, which the defaults' few-shot turns would fill byte by byte.
 */
final class Specs {
    private Specs() {
    }

    /** The defaults without few-shot turns. */
    static SolveSpec noShots() {
        return SolveSpec.defaults().withShots(Answers.Kind.MATH, Collections.<SolveSpec.Shot>emptyList())
                .withShots(Answers.Kind.CHOICE, Collections.<SolveSpec.Shot>emptyList());
    }

    /** {@link #noShots} with {@code strategy}. */
    static SolveSpec noShots(String strategy) {
        return noShots().with("strategy", strategy);
    }

    /**
     * {@link #noShots} with the calibrator of {@code calibratorJson} (its strategy set to {@code strategy}), tied to
     * the calibrator's artifact, as `edgereason calibrate` writes it.
     */
    static SolveSpec withCalibrator(String calibratorJson, String strategy) throws ArtifactException {
        return SolveSpec.check(calibratedJson(calibratorJson, strategy, null), "test spec", SolveSpec.FIX);
    }

    /**
     * {@link #withCalibrator}'s JSON, unchecked; {@code sha} (null: the calibrator's own) is the artifact both the
     * spec and its calibrator are tied to.
     */
    static Map<String, Object> calibratedJson(String calibratorJson, String strategy, String sha) {
        Map<String, Object> d = SolveSpec.defaultData();
        Map<String, Object> cal = Json.object(Json.parse(calibratorJson), "calibrator");
        cal.put("strategy", strategy);
        if (sha != null) {
            cal.put("artifact_sha256", sha);
        }
        d.put("calibrator", cal);
        d.put("artifact_sha256", cal.get("artifact_sha256"));
        Json.object(d.get("settings"), "settings").put("strategy", strategy);
        for (String kind : new String[] {"math", "choice"}) {
            Json.object(Json.object(d.get("prompts"), "prompts").get(kind), kind).put("shots", new ArrayList<>());
        }
        Map<String, Object> fitted = new LinkedHashMap<>();
        fitted.put("task", "builtin");
        fitted.put("kind", "math");
        fitted.put("n", 300L);
        fitted.put("seed", 1L);
        fitted.put("offset", 0L);
        fitted.put("digits", null);
        fitted.put("shots", "builtin");
        d.put("fitted_on", fitted);
        return d;
    }
}
