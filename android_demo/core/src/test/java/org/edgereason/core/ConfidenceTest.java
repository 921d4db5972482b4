package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Confidence signals against tests/golden/sampling.json (within its stated 1e-5), and the per-trace statistics. */
public class ConfidenceTest {
    @Test
    public void stepSignalsMatchGolden() throws Exception {
        Map<String, Object> golden = Golden.load("sampling.json");
        Map<String, float[]> logitSets = new java.util.HashMap<>();
        for (Object o : Json.array(golden.get("cases"), "cases")) {
            Map<String, Object> c = Json.object(o, "case");
            logitSets.put((String) c.get("logits_name"), Golden.floats(c.get("logits")));
        }
        Map<String, Object> extra = Json.object(golden.get("signal_logits"), "signal_logits");
        for (Map.Entry<String, Object> e : extra.entrySet()) {
            logitSets.put(e.getKey(), Golden.floats(e.getValue()));
        }
        List<Object> signals = Json.array(golden.get("signals"), "signals");
        assertEquals(10, signals.size());
        for (Object o : signals) {
            Map<String, Object> s = Json.object(o, "signal");
            float[] logits = logitSets.get((String) s.get("logits_name"));
            int token = (int) Json.integer(s.get("token"), "token");
            Confidence.StepSignals got = Confidence.stepSignals(logits, token,
                    (int) Json.integer(s.get("top_k"), "top_k"));
            String what = s.get("logits_name") + " token " + token;
            assertEquals(what + " logprob", Json.number(s.get("logprob"), ""), got.logprob, 1e-5);
            assertEquals(what + " top1_prob", Json.number(s.get("top1_prob"), ""), got.top1Prob, 1e-5);
            assertEquals(what + " margin", Json.number(s.get("margin"), ""), got.margin, 1e-5);
            assertEquals(what + " entropy", Json.number(s.get("entropy"), ""), got.entropy, 1e-5);
            assertEquals(what + " token_conf", Json.number(s.get("token_conf"), ""), got.tokenConf, 1e-5);
        }
    }

    private static Confidence.StepSignals conf(double tokenConf, double logprob) {
        return new Confidence.StepSignals(logprob, 0.5, 0.1, 1.0, tokenConf);
    }

    @Test
    public void groupConfidenceStartsWhenTheWindowFills() {
        Confidence.Trace trace = new Confidence.Trace(2, 2);
        assertNull(trace.update(conf(1, -0.1)));
        assertEquals(1.5, trace.update(conf(2, -0.2)), 1e-12);
        assertEquals(2.5, trace.update(conf(3, -0.3)), 1e-12);
        assertEquals(3.5, trace.update(conf(4, -0.4)), 1e-12);
        Map<String, Double> s = trace.summary();
        assertEquals(2.5, s.get("mean_conf"), 1e-12);
        assertEquals(1.5, s.get("lowest_group_conf"), 1e-12);
        assertEquals(1.5, s.get("bottom10_group_conf"), 1e-12); // max(1, 3 // 10) = 1 group
        assertEquals(3.5, s.get("tail_conf"), 1e-12);
        assertEquals(-0.25, s.get("mean_logprob"), 1e-12);
        assertEquals(-0.4, s.get("min_logprob"), 1e-12);
        assertEquals(4.0, s.get("num_tokens"), 0.0);
    }

    @Test
    public void shortAndEmptyTracesUseWhatTheyHave() {
        Confidence.Trace trace = new Confidence.Trace();
        Map<String, Double> empty = trace.summary();
        assertEquals(0.0, empty.get("mean_conf"), 0.0);
        assertEquals(0.0, empty.get("num_tokens"), 0.0);
        trace.update(conf(6, -1));
        trace.update(conf(8, -3));
        Map<String, Double> s = trace.summary(); // window 32 never filled: the group is the mean
        assertEquals(7.0, s.get("lowest_group_conf"), 1e-12);
        assertEquals(7.0, s.get("tail_conf"), 1e-12);
        assertEquals(-3.0, s.get("min_logprob"), 0.0);
    }
}
