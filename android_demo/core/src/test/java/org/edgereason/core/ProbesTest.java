package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The hidden-state probes against tests/golden/probes.json (made by make_probes.py from runtime/calibrate.py):
 * bad_files.json's calibrator {@code valid_with_probes} on given prompt / answer states and trace features gives the
 * same probe logits, P(IK) and P(correct) as Python, to 1e-6 (tests/test_probes.py holds Python to the same file).
 */
public class ProbesTest {
    private static final double TOL = 1e-6;

    static Calibrator withProbes() throws IOException, ArtifactException {
        return Calibrator.parse(withProbesJson(), "calibrator.early-exit.json");
    }

    /** bad_files.json's calibrator {@code valid_with_probes}, as JSON text. */
    static String withProbesJson() throws IOException {
        Map<String, Object> calibrators = Json.object(Golden.load("bad_files.json").get("calibrator"), "calibrator");
        return Schema.dumps(calibrators.get("valid_with_probes"));
    }

    @Test
    public void theCalibratorWithProbesParses() throws Exception {
        Calibrator c = withProbes();
        assertEquals(2, c.probes.size());
        assertTrue(c.hasPIK());
        assertEquals("prompt", c.probes.get("pik_logit").state);
        assertEquals("answer", c.probes.get("answer_state_logit").state);
        assertEquals(3, c.probes.get("pik_logit").weights.length);
        assertEquals(0.15, c.routeThreshold, 0.0);
        Calibrator plain = Calibrator.parse(String.format(CalibratorTest.CAL, "[]", "[]"), "c.json");
        assertTrue(plain.probes.isEmpty());
        assertEquals(0.0, plain.routeThreshold, 0.0);
        assertNull(plain.pIK((double[]) null));
        assertTrue(plain.probeFeatures((double[]) null, null).isEmpty());
    }

    @Test
    public void everyGoldenCaseMatchesPython() throws Exception {
        Calibrator c = withProbes();
        Map<String, Object> golden = Golden.load("probes.json");
        List<Object> cases = Json.array(golden.get("cases"), "cases");
        assertEquals(6, cases.size());
        for (int k = 0; k < cases.size(); k++) {
            Map<String, Object> g = Json.object(cases.get(k), "case");
            String where = "case " + k;
            double[] prompt = Json.doubles(g.get("prompt"), "prompt");
            double[] answer = Json.doubles(g.get("answer"), "answer");
            Map<String, Double> logits = c.probeFeatures(prompt, answer);
            Map<String, Object> want = Json.object(g.get("probe_logits"), "probe_logits");
            assertEquals(where, want.keySet(), logits.keySet());
            for (Map.Entry<String, Object> e : want.entrySet()) {
                assertEquals(where + " " + e.getKey(), Json.number(e.getValue(), e.getKey()), logits.get(e.getKey()),
                        TOL);
            }
            assertEquals(where + " p_ik", Json.number(g.get("p_ik"), "p_ik"), c.pIK(prompt), TOL);
            Map<String, Double> row = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : Json.object(g.get("features"), "features").entrySet()) {
                row.put(e.getKey(), Json.number(e.getValue(), e.getKey()));
            }
            row.putAll(logits);
            assertEquals(where + " p_correct", Json.number(g.get("p_correct"), "p_correct"), c.predict(row), TOL);
        }
    }

    @Test
    public void aMissingOrWrongSizedStateIsRefusedAsPythonDoes() throws Exception {
        Calibrator c = withProbes();
        double[] three = {0.1, 0.2, 0.3};
        try {
            c.probeFeatures(null, three);
            fail();
        } catch (ArtifactException e) {
            assertEquals("the calibrator reads the prompt hidden state, which this artifact does not output: "
                    + "re-export it (hidden states are an output of .onnx exports) or calibrate without probes",
                    e.getMessage());
        }
        try {
            c.pIK(new float[] {0.1f, 0.2f});
            fail();
        } catch (ArtifactException e) {
            assertEquals("the pik_logit probe reads 3 values, the model's hidden state has 2: run `edgereason "
                    + "calibrate` again", e.getMessage());
        }
        try {
            c.probeFeatures(three, new double[4]);
            fail();
        } catch (ArtifactException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("the answer_state_logit probe reads 3 values"));
        }
    }
}
