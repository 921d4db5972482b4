package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/**
 * The calibrator and answer extraction against values printed by the Python reference (runtime/calibrate.py's
 * Calibrator.predict and numpy.interp; runtime/answers.py) on the same inputs.
 */
public class CalibratorTest {
    // calibrator.early-exit.json of a real smollm2-135m-int4-pte export (metrics trimmed).
    static final String CAL = "{\"features\": [\"mean_conf\", \"lowest_group_conf\", \"bottom10_group_conf\","
            + " \"tail_conf\", \"mean_logprob\", \"min_logprob\", \"num_tokens\", \"answer_logprob\","
            + " \"answer_min_logprob\", \"vote_share\", \"has_answer\"],"
            + " \"mean\": [6.539249821577523, 6.300099013231647, 6.3169910737042345, 6.6323620489141,"
            + " -0.42960788155598134, -1.6783518519750835, 55.885714285714286, -1.0945316563459833,"
            + " -1.1392026177486805, 0.919047619047619, 0.919047619047619],"
            + " \"scale\": [0.6950122377163789, 0.7544669877773584, 0.7449556183566636, 0.8513109078451504,"
            + " 0.1530142304394156, 0.3259674918187576, 66.44902296543738, 2.667466733329123, 2.6608999689859494,"
            + " 0.27276197126894586, 0.27276197126894586],"
            + " \"weights\": [0.36571579983177255, -0.04965832926922222, -0.07513435326977745, -0.23351105358774163,"
            + " 0.11245358135824506, 0.23867797351957382, -0.18996523071150798, 0.3254446123066293,"
            + " 0.3575460645684252, 0.09989471786106086, 0.09989471786106086],"
            + " \"bias\": -2.3089531351026773, \"threshold\": 1.000000001, \"target_risk\": 0.1,"
            + " \"artifact_sha256\": \"970b0abc00000000000000000000000000000000000000000000000000000000\","
            + " \"strategy\": \"early-exit\", \"isotonic_x\": %s,"
            + " \"isotonic_y\": %s, \"metrics\": {\"heldout_selective_accuracy\": null}, \"version\": 1}";

    static Map<String, Double> row(double... v) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int k = 0; k < v.length; k++) {
            m.put(SolveSpec.defaults().features.get(k), v[k]);
        }
        return m;
    }

    static final Map<String, Double> CONFIDENT = row(6.8, 6.1, 6.2, 7.0, -0.3, -1.5, 40, -0.2, -0.4, 1, 1);
    static final Map<String, Double> LOST = row(5.0, 4.0, 4.2, 5.5, -0.9, -3.0, 300, -10, -10, 0, 0);

    @Test
    public void logisticMatchesPython() throws ArtifactException {
        Calibrator c = Calibrator.parse(String.format(CAL, "[]", "[]"), "calibrator.early-exit.json");
        assertEquals(0.15334526826201494, c.predict(CONFIDENT), 1e-12);
        assertEquals(0.0006078209691834497, c.predict(LOST), 1e-12);
        assertFalse(c.accepts(0.99)); // threshold above 1: this calibrator accepts nothing
    }

    @Test
    public void isotonicMatchesPython() throws ArtifactException {
        String xs = "[0.0, 0.05, 0.05, 0.1, 0.2, 0.9]";
        String ys = "[0.0, 0.1, 0.2, 0.3, 0.5, 0.95]";
        Calibrator c = Calibrator.parse(String.format(CAL, xs, ys), "calibrator.early-exit.json");
        assertEquals(0.40669053652402987, c.predict(CONFIDENT), 1e-12);
        assertEquals(0.0012156419383668993, c.predict(LOST), 1e-12);
        double[] x = Json.doubles(Json.parse(xs), "x");
        double[] y = Json.doubles(Json.parse(ys), "y");
        double[][] cases = {{-1, 0.0}, {0, 0.0}, {0.03, 0.06}, {0.05, 0.2}, {0.07, 0.24000000000000002},
            {0.5, 0.6928571428571428}, {0.9, 0.95}, {1.0, 0.95}};
        for (double[] c2 : cases) {
            assertEquals("interp(" + c2[0] + ")", c2[1], Calibrator.interp(c2[0], x, y), 1e-15);
        }
    }

    @Test
    public void answersMatchPython() {
        assertEquals("1000", Answers.extractMath("The answer is 1,000."));
        assertEquals("0.75", Answers.extractMath("so \\boxed{\\frac{3}{4}} and 5")); // the box's fraction, not its last digit
        assertEquals("42", Answers.extractMath("#### 42\nThe answer is 7"));
        assertEquals("3.5", Answers.extractMath("x = 3.50 dollars"));
        assertNull(Answers.extractMath("no numbers"));
        assertEquals("-12", Answers.extractMath("answer: -$12.0"));
        assertEquals("B", Answers.extractChoice("The answer is (B).", 5));
        assertEquals("C", Answers.extractChoice("I pick\nC\n", 5));
        assertEquals("E", Answers.extractChoice("(D) seems right but the answer is e", 5));
        assertNull(Answers.extractChoice("nothing", 5));
        assertEquals("1000", Answers.normalizeNumber("1,000"));
        assertEquals("5.5", Answers.normalizeNumber("$5.50"));
        assertEquals("12", Answers.normalizeNumber("12.0"));
        assertEquals("1.2345e-05", Answers.normalizeNumber("0.000012345"));
        assertEquals("1.23457e+06", Answers.normalizeNumber("1234567.5"));
        assertNull(Answers.normalizeNumber("abc"));
        assertEquals("3", Answers.normalizeNumber("3."));
        assertTrue(Answers.sameAnswer("3", "3.0"));
        assertTrue(Answers.sameAnswer("A", "A"));
        assertFalse(Answers.sameAnswer("A", "B"));
        assertFalse(Answers.sameAnswer(null, "1"));
    }
}
