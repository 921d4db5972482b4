package org.edgereason.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.math.BigInteger;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Checked arithmetic against tests/golden/arithmetic.json, made by runtime/arith.py: the statements and pending
 * result of every text, the text compute mode writes for exact values, and the decode loop with the calculator over
 * a scripted model and SmolLM2's tokenizer (-Dedgereason.tokenizer).
 */
public class ArithmeticTest {
    private static Map<String, Object> golden;
    private static Tokenizer tokenizer;

    @BeforeClass
    public static void load() throws Exception {
        golden = Golden.load("arithmetic.json");
        File path = Golden.tokenizerJson();
        if (path != null) {
            tokenizer = Tokenizer.load(path);
        }
    }

    private static List<Object> section(Map<String, Object> in, String name) {
        List<Object> list = Json.array(in.get(name), name);
        assertFalse(name + " is empty", list.isEmpty());
        return list;
    }

    @Test
    public void statementsAndPendingMatchPython() {
        for (Object o : section(golden, "texts")) {
            Map<String, Object> c = Json.object(o, "text");
            String text = (String) c.get("text");
            List<Arithmetic.Statement> found = Arithmetic.statements(text, 0, true);
            List<Object> expected = Json.array(c.get("statements"), "statements");
            assertEquals("statements of " + text, expected.size(), found.size());
            for (int k = 0; k < found.size(); k++) {
                Map<String, Object> want = Json.object(expected.get(k), "statement");
                Arithmetic.Statement st = found.get(k);
                String at = text + " #" + k;
                assertEquals(at, want.get("text"), st.text);
                assertEquals(at, Json.integer(want.get("start"), "start"), st.start);
                assertEquals(at, Json.integer(want.get("end"), "end"), st.end);
                assertEquals(at, want.get("written"), st.written);
                assertEquals(at, want.get("value"), st.value);
                assertEquals(at, want.get("right"), st.right);
            }
            Arithmetic.Pending pending = Arithmetic.pending(text, 0);
            assertEquals("pending of " + text, c.get("pending"), pending == null ? null : pending.text);
        }
    }

    @Test
    public void offsetsAreCodePointsNotUtf16() {
        // Values printed by runtime/arith.py: the emoji, 𝟙 and 🏽 are one code point each, two UTF-16 units.
        String text = "😀 3 + 4 = 8 and 𝟙 2 × 6 = 12";
        List<Arithmetic.Statement> found = Arithmetic.statements(text, 0, true);
        assertEquals(2, found.size());
        assertEquals(2, found.get(0).start);
        assertEquals(11, found.get(0).end);
        assertEquals("3 + 4 = 8", found.get(0).text);
        assertEquals(18, found.get(1).start);
        assertEquals(28, found.get(1).end);
        assertEquals(25, found.get(1).eqEnd);
        assertEquals(1, Arithmetic.statements(text, 4, true).size()); // the window starts after "3"
        Arithmetic.Pending p = Arithmetic.pending("👍🏽 12 / 4 =", 3);
        assertEquals(" 3", p.text);
        assertEquals(11, p.eqEnd);
    }

    @Test
    public void resultTextsMatchPython() {
        for (Object o : section(golden, "results")) {
            Map<String, Object> c = Json.object(o, "result");
            Rational v = Rational.of(new BigInteger((String) c.get("numerator")),
                    new BigInteger((String) c.get("denominator")));
            assertEquals(v.toString(), c.get("text"), Arithmetic.resultText(v));
        }
    }

    /** tests/helpers.py scripted_backend: after the prompt, position p peaks at script[p - promptLen]; then eos. */
    static final class ScriptedModel extends Backend {
        private final int[] script;
        private final int promptLen;
        private final int eos;

        ScriptedModel(int[] script, int promptLen, int eos) {
            super(49152, 512, Collections.singletonList(eos));
            this.script = script;
            this.promptLen = promptLen;
            this.eos = eos;
        }

        @Override
        protected float[] forward(int[] ids, int position) {
            int at = position + ids.length - promptLen;
            float[] logits = new float[vocabSize];
            logits[at >= 0 && at < script.length ? script[at] : eos] = 10f;
            return logits;
        }

        @Override
        public void close() {
        }
    }

    @Test
    public void decodeLoopWithTheCalculatorMatchesPython() throws Exception {
        assumeTrue("no -Dedgereason.tokenizer: SmolLM2 tokenizer.json not materialized", tokenizer != null);
        Text text = new Text(tokenizer, null, false, null);
        for (Object o : section(golden, "traces")) {
            Map<String, Object> trace = Json.object(o, "trace");
            int[] script = Golden.ints(trace.get("script"));
            assertArrayEquals("script of " + trace.get("script_text"), script,
                    text.encode((String) trace.get("script_text"), false));
            int[] prompt = Golden.ints(trace.get("prompt"));
            int eos = (int) Json.integer(trace.get("eos_id"), "eos_id");
            for (Object r : section(trace, "runs")) {
                Map<String, Object> run = Json.object(r, "run");
                String mode = (String) run.get("mode");
                int budget = (int) Json.integer(run.get("max_new_tokens"), "max_new_tokens");
                String at = trace.get("script_text") + " [" + mode + ", " + budget + "]";
                ArithmeticChecker checker = new ArithmeticChecker(text, calculator(mode));
                List<Generator.Step> steps = Generator.generate(new ScriptedModel(script, prompt.length, eos), prompt,
                        new Sampler(Sampler.Config.greedy()), budget, null, null, new Confidence.Trace(), true, null,
                        checker);
                int[] fed = new int[steps.size()];
                boolean[] tool = new boolean[steps.size()];
                for (int k = 0; k < fed.length; k++) {
                    fed[k] = steps.get(k).tokenId;
                    tool[k] = steps.get(k).tool;
                    assertEquals(at, k, steps.get(k).index);
                }
                assertArrayEquals(at, Golden.ints(run.get("fed")), fed);
                List<Object> wantTool = Json.array(run.get("tool"), "tool");
                for (int k = 0; k < tool.length; k++) {
                    assertEquals(at + " tool #" + k, wantTool.get(k), tool[k]);
                }
                assertEquals(at, run.get("finish_reason"), steps.get(steps.size() - 1).finishReason);
                assertEquals(at, run.get("text"), text.decode(fed));
                List<Object> want = Json.array(run.get("statements"), "statements");
                List<Arithmetic.Statement> got = checker.statements();
                assertEquals(at, want.size(), got.size());
                for (int k = 0; k < got.size(); k++) {
                    Map<String, Object> w = Json.object(want.get(k), "statement");
                    Arithmetic.Statement st = got.get(k);
                    assertEquals(at, w.get("text"), st.text);
                    assertEquals(at, w.get("written"), st.written);
                    assertEquals(at, w.get("value"), st.value);
                    assertEquals(at, w.get("right"), st.right);
                    assertEquals(at, w.get("forced"), st.forced);
                    assertEquals(at, w.get("corrected"), st.corrected);
                }
                Map<String, Object> features = Json.object(run.get("features"), "features");
                Map<String, Double> mine = checker.features();
                assertEquals(at, features.keySet(), mine.keySet());
                assertEquals(at, Json.number(features.get("arith_statements"), "n"), mine.get("arith_statements"), 0);
                assertEquals(at, Json.number(features.get("arith_errors"), "n"), mine.get("arith_errors"), 0);
                assertEquals(at, Json.number(features.get("first_error_at"), "x"), mine.get("first_error_at"), 1e-12);
            }
        }
    }

    /** tests/test_arith.py's choice test: a 3-option question never comes back "D". */
    @Test
    public void aChoiceAnswerIsALetterOfTheQuestionsOwnOptions() throws Exception {
        assumeTrue(tokenizer != null);
        Text text = new Text(tokenizer, null, false, null);
        int[] script = text.encode("It is (B).\nThe answer is D.", false);
        SolveSpec spec = SolveSpec.defaults().with("strategy", "greedy"); // with the choice kind's few-shot turn
        List<String> three = java.util.Arrays.asList("A. red", "B. green", "C. blue");
        List<String> four = java.util.Arrays.asList("A. red", "B. green", "C. blue", "D. white");
        for (List<String> choices : java.util.Arrays.asList(three, four)) {
            int promptLen = spec.promptIds(text, "Q", Answers.Kind.CHOICE, choices).length;
            Reasoner.Result r = Reasoner.solve(new ScriptedModel(script, promptLen, 2), text, "Q", spec,
                    Answers.Kind.CHOICE, choices, null);
            assertEquals(choices.size() == 3 ? "B" : "D", r.answer);
        }
    }

    private static ArithmeticChecker.Calculator calculator(String mode) {
        for (ArithmeticChecker.Calculator c : ArithmeticChecker.Calculator.values()) {
            if (c.value.equals(mode)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown calculator mode " + mode);
    }

    @Test
    public void aToolStepNeverCountsInTheConfidence() throws Exception {
        assumeTrue(tokenizer != null);
        Text text = new Text(tokenizer, null, false, null);
        int[] script = text.encode("12 - 7 = 2 apples.", false);
        Confidence.Trace confidence = new Confidence.Trace();
        ArithmeticChecker checker = new ArithmeticChecker(text, ArithmeticChecker.Calculator.COMPUTE);
        List<Generator.Step> steps = Generator.generate(new ScriptedModel(script, 3, 2), new int[] {1, 2, 3},
                new Sampler(Sampler.Config.greedy()), 64, null, null, confidence, true, null, checker);
        int tools = 0;
        for (Generator.Step step : steps) {
            if (step.tool) {
                tools++;
                assertNull(step.groupConf);
                assertEquals(Generator.TOOL_SIGNALS, step.signals);
            }
        }
        assertEquals(1, tools);
        assertEquals(steps.size() - tools, confidence.summary().get("num_tokens"), 0.0);
    }
}
