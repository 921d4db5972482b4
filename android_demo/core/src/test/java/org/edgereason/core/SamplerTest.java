package org.edgereason.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The sampler against tests/golden/sampling.json: the same PRNG outputs and the same drawn tokens as Python. */
public class SamplerTest {
    @Test
    public void splitMix64MatchesGolden() throws Exception {
        List<Object> vectors = Json.array(Golden.load("sampling.json").get("splitmix64"), "splitmix64");
        assertEquals(3, vectors.size());
        for (Object o : vectors) {
            Map<String, Object> v = Json.object(o, "vector");
            Sampler.SplitMix64 rng = new Sampler.SplitMix64(Long.parseUnsignedLong((String) v.get("seed")));
            for (Object expected : Json.array(v.get("next"), "next")) {
                assertEquals((String) expected, Long.toUnsignedString(rng.next()));
            }
        }
    }

    @Test
    public void drawsMatchGoldenForEveryCase() throws Exception {
        List<Object> cases = Json.array(Golden.load("sampling.json").get("cases"), "cases");
        assertEquals(24, cases.size());
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            Sampler.Config cfg = new Sampler.Config(Json.number(c.get("temperature"), "t"),
                    (int) Json.integer(c.get("top_k"), "k"), Json.number(c.get("top_p"), "p"),
                    Long.parseUnsignedLong((String) c.get("seed")));
            Sampler sampler = new Sampler(cfg);
            float[] logits = Golden.floats(c.get("logits"));
            List<Object> draws = Json.array(c.get("draws"), "draws");
            int[] expected = new int[draws.size()];
            int[] got = new int[draws.size()];
            for (int k = 0; k < expected.length; k++) {
                expected[k] = (int) Json.integer(draws.get(k), "draw");
                got[k] = sampler.sample(logits);
            }
            assertArrayEquals(c.get("logits_name") + " T=" + cfg.temperature + " k=" + cfg.topK + " p=" + cfg.topP
                    + " seed=" + c.get("seed"), expected, got);
        }
    }

    @Test
    public void candidatesOrderByLogitThenId() {
        float[] logits = {1f, 3f, 3f, -2f, 0.5f, 3f, -1f, 2f};
        assertArrayEquals(new int[] {1, 2, 5, 7, 0, 4, 6, 3}, Sampler.candidates(logits, 0));
        assertArrayEquals(new int[] {1, 2}, Sampler.candidates(logits, 2));
        assertArrayEquals(new int[] {1, 2, 5, 7}, Sampler.candidates(logits, 4));
        // -0.0 equals 0.0 as in numpy, so the lower id comes first.
        assertArrayEquals(new int[] {1, 0, 2}, Sampler.candidates(new float[] {-0.0f, 0.5f, 0.0f}, 0));
        assertArrayEquals(new int[] {1, 0}, Sampler.candidates(new float[] {-0.0f, 0.5f, 0.0f}, 2));
    }

    @Test
    public void greedyTakesLowestIdOnTies() {
        assertEquals(1, Sampler.greedy(new float[] {1f, 3f, 3f, 2f}));
    }

    @Test
    public void pairwiseSumIsNumpysOrder() {
        // 1e16 + 1 + 1 ... : a running sum loses every 1, numpy's 8-way blocks keep some; the value pins the order.
        double[] a = new double[20];
        a[0] = 1e16;
        for (int k = 1; k < a.length; k++) {
            a[k] = 1.0;
        }
        double running = 0.0;
        for (double v : a) {
            running += v;
        }
        assertEquals(1e16, running, 0.0);
        assertEquals(1.0000000000000016e16, Sampler.pairwiseSum(a, 0, a.length), 0.0);
    }

    @Test
    public void badConfigsNameTheRange() {
        try {
            new Sampler.Config(-1.0, 0, 1.0, 0L);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(">= 0, got -1.0"));
        }
        try {
            new Sampler.Config(1.0, 0, 0.0, 0L);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("(0, 1]"));
        }
    }
}
