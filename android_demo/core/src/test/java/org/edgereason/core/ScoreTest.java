package org.edgereason.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The score strategy against tests/golden/score.json (made by make_score_vectors.py from runtime/reason.py's solve
 * over recorded logits): each case's context and option ids, each option's log-likelihood, greedy flag and score,
 * the choice, the features, P(IK) and P(correct) to 1e-6, the decision and its reasons, as Python (tests/test_reason.py
 * holds Python to the same file). The backend replays the file's forwards by token prefix, so a forward Python never
 * ran fails the test: the context is run once and the cache rewound to it between the options, as Python does.
 */
public class ScoreTest {
    private static final double TOL = 1e-6;

    /** Replays recorded forwards: the logits (sparse, zero elsewhere) and hidden state after each token prefix. */
    static final class RecordedBackend extends Backend {
        private final Map<String, Map<String, Object>> table = new HashMap<>();
        private final int[] cache;

        RecordedBackend(Map<String, Object> golden, List<Object> forwards, int maxSeqLen) {
            super((int) Json.integer(golden.get("vocab_size"), "vocab_size"), maxSeqLen,
                    Collections.singletonList((int) Json.integer(golden.get("eos_id"), "eos_id")));
            for (Object o : forwards) {
                Map<String, Object> f = Json.object(o, "forward");
                table.put(Arrays.toString(Golden.ints(f.get("tokens"))), f);
            }
            cache = new int[maxSeqLen];
        }

        @Override
        protected float[] forward(int[] ids, int position) {
            System.arraycopy(ids, 0, cache, position, ids.length);
            String prefix = Arrays.toString(Arrays.copyOf(cache, position + ids.length));
            Map<String, Object> f = table.get(prefix);
            if (f == null) {
                throw new AssertionError("a forward Python's solve never ran, ending at " + prefix);
            }
            float[] logits = new float[vocabSize];
            for (Object pair : Json.array(f.get("logits"), "logits")) {
                List<Object> p = Json.array(pair, "logit");
                logits[(int) Json.integer(p.get(0), "id")] = (float) Json.number(p.get(1), "logit");
            }
            setHidden(Golden.floats(f.get("hidden")));
            return logits;
        }

        @Override
        public void close() {
        }
    }

    /** One golden case, ready to solve. */
    static final class Case {
        final Map<String, Object> g;
        final String name;
        final Text text;
        final SolveSpec spec;
        final RecordedBackend backend;
        final List<String> choices = new ArrayList<>();

        Case(Map<String, Object> golden, Object raw, int maxSeqLen) throws ArtifactException {
            g = Json.object(raw, "case");
            name = (String) g.get("name");
            Tokenizer tok = Tokenizer.fromJson(Schema.dumps(golden.get("tokenizer")));
            text = new Text(tok, null, (Boolean) g.get("add_bos"), (int) Json.integer(g.get("bos_id"), "bos_id"));
            spec = SolveSpec.check(g.get("spec"), "score.json " + name, SolveSpec.FIX);
            backend = new RecordedBackend(golden, Json.array(g.get("forwards"), "forwards"), maxSeqLen);
            for (Object c : Json.array(g.get("choices"), "choices")) {
                choices.add((String) c);
            }
        }

        Reasoner.Result solve() throws Exception {
            return Reasoner.solve(backend, text, question(), spec, Answers.Kind.CHOICE, choices, null);
        }

        String question() {
            return (String) g.get("question");
        }

        int[] contextIds() {
            return Golden.ints(g.get("context_ids"));
        }

        List<Object> options() {
            return g.get("options") == null ? null : Json.array(g.get("options"), "options");
        }
    }

    static List<Case> cases() throws IOException, ArtifactException {
        Map<String, Object> golden = Golden.load("score.json");
        int maxSeqLen = (int) Json.integer(golden.get("max_seq_len"), "max_seq_len");
        List<Case> out = new ArrayList<>();
        for (Object c : Json.array(golden.get("cases"), "cases")) {
            out.add(new Case(golden, c, maxSeqLen));
        }
        return out;
    }

    @Test
    public void everyGoldenSolveMatchesPython() throws Exception {
        List<Case> cases = cases();
        assertTrue(cases.size() >= 6);
        for (Case c : cases) {
            assertArrayEquals(c.name, c.contextIds(), c.text.encode(c.spec.scoring.contextText(c.question())));
            Reasoner.Result r = c.solve();
            Map<String, Object> want = Json.object(c.g.get("result"), "result");
            assertEquals(c.name, want.get("answer"), r.answer);
            assertEquals(c.name, want.get("text"), r.traces.isEmpty() ? null : r.traces.get(0).text);
            assertEquals(c.name, want.get("calibrated"), r.calibrated);
            assertEquals(c.name, want.get("decision"), r.decision);
            assertEquals(c.name, want.get("reasons"), new ArrayList<Object>(r.reasons));
            assertEquals(c.name, want.get("routed"), r.routed);
            assertEquals(c.name, Json.integer(want.get("tokens_generated"), "tokens"), r.tokensGenerated);
            assertEquals(c.name + " p_correct", Json.number(want.get("p_correct"), "p"), r.pCorrect, TOL);
            if (want.get("p_ik") == null) {
                assertNull(c.name, r.pIK);
            } else {
                assertEquals(c.name + " p_ik", Json.number(want.get("p_ik"), "p_ik"), r.pIK, TOL);
            }
            Map<String, Object> features = Json.object(want.get("features"), "features");
            assertEquals(c.name, features.keySet(), r.features.keySet());
            for (Map.Entry<String, Object> e : features.entrySet()) {
                assertEquals(c.name + " " + e.getKey(), Json.number(e.getValue(), e.getKey()),
                        r.features.get(e.getKey()), TOL);
            }
            assertState(c.name + " prompt state", want.get("prompt_state"), r.promptState);
            assertState(c.name + " answer state", want.get("answer_state"), r.answerState);
            if (!r.routed) {
                assertEquals(c.name, "scored", r.traces.get(0).finishReason);
                assertEquals(c.name, c.contextIds().length, c.backend.position()); // the cache holds the context
            }
        }
    }

    @Test
    public void everyOptionScoresAsInPython() throws Exception {
        for (Case c : cases()) {
            List<Object> options = c.options();
            if (options == null) { // routed before decoding: no option was scored
                continue;
            }
            List<int[]> ids = new ArrayList<>();
            String[] continuations = new String[options.size()];
            for (int i = 0; i < options.size(); i++) {
                Map<String, Object> o = Json.object(options.get(i), "option");
                assertEquals(c.name, o.get("option"), SolveSpec.Scoring.optionText(c.choices.get(i), i));
                continuations[i] = c.spec.scoring.continuation((String) o.get("option"));
                ids.add(c.text.encode(continuations[i], false));
                assertArrayEquals(c.name + " option " + i, Golden.ints(o.get("ids")), ids.get(i));
            }
            List<Likelihood.Scored> scored = Likelihood.scoreContinuations(c.backend, c.contextIds(), ids);
            assertEquals(c.contextIds().length, c.backend.position());
            double[] scores = Reasoner.optionScores(c.spec.scoring, scored, continuations);
            for (int i = 0; i < options.size(); i++) {
                Map<String, Object> o = Json.object(options.get(i), "option");
                String where = c.name + " option " + i;
                assertEquals(where, Json.number(o.get("logprob"), "logprob"), scored.get(i).logprob, TOL);
                assertEquals(where, Json.integer(o.get("num_tokens"), "num_tokens"), scored.get(i).numTokens);
                assertEquals(where, o.get("greedy"), scored.get(i).greedy);
                assertEquals(where, Json.number(o.get("score"), "score"), scores[i], TOL);
            }
        }
    }

    @Test
    public void aScoreSolveWithoutOptionsIsRefusedAsPythonRefusesIt() throws Exception {
        Case c = cases().get(0);
        String words = "strategy score answers a multiple-choice question by its options: give the options (choices), "
                + "or use another strategy";
        for (Answers.Kind kind : Answers.Kind.values()) {
            List<String> choices = kind == Answers.Kind.CHOICE ? Collections.<String>emptyList() : c.choices;
            try {
                Reasoner.solve(c.backend, c.text, c.question(), c.spec, kind, choices, null);
                fail(kind + ": solved");
            } catch (IllegalArgumentException e) {
                assertEquals(words, e.getMessage());
            }
        }
        assertEquals(0, c.backend.position()); // refused before any forward
    }

    @Test
    public void anOptionPastTheContextIsRefusedBeforeItsForwards() throws Exception {
        Map<String, Object> golden = Golden.load("score.json");
        Object first = Json.array(golden.get("cases"), "cases").get(0);
        int contextLength = Golden.ints(Json.object(first, "case").get("context_ids")).length;
        Case c = new Case(golden, first, contextLength + 1); // room for an option of 2 tokens, not 3
        List<int[]> ids = Collections.singletonList(c.text.encode(" Mars", false));
        assertEquals(3, ids.get(0).length);
        try {
            Likelihood.scoreContinuations(c.backend, c.contextIds(), ids);
            fail("scored past the context");
        } catch (Backend.ContextOverflowException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith(contextLength + " cached + 2 new tokens exceed the "
                    + "context of " + (contextLength + 1)));
        }
        assertEquals(contextLength, c.backend.position()); // still holding the context
        try {
            Likelihood.scoreContinuations(c.backend, c.contextIds(), Collections.singletonList(new int[0]));
            fail("scored an empty option");
        } catch (IllegalArgumentException e) {
            assertEquals("the context and every continuation need at least one token", e.getMessage());
        }
    }

    private static void assertState(String where, Object want, float[] got) {
        if (want == null) {
            assertNull(where, got);
        } else {
            assertArrayEquals(where, Golden.floats(want), got, 0f);
        }
    }
}
