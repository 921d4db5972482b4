package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The decode loop, policies and solve() on small deterministic backends (hand-written distributions). */
public class GeneratorTest {
    /** Next token = (last + 1) mod V with logit 10 against 0: a peaked, fully predictable model. */
    static final class CountingBackend extends Backend {
        final List<Integer> forwardSizes = new ArrayList<>();
        final boolean flat;

        CountingBackend(int maxSeqLen, boolean flat) {
            super(8, maxSeqLen, Collections.singletonList(7));
            this.flat = flat;
        }

        @Override
        protected float[] forward(int[] ids, int position) {
            forwardSizes.add(ids.length);
            float[] logits = new float[vocabSize];
            if (!flat) {
                logits[(ids[ids.length - 1] + 1) % vocabSize] = 10f;
            }
            return logits;
        }

        @Override
        public void close() {
        }
    }

    @Test
    public void greedyStopsAtEos() throws Exception {
        CountingBackend b = new CountingBackend(64, false);
        List<Generator.Step> steps = Generator.generate(b, new int[] {0}, new Sampler(Sampler.Config.greedy()), 20,
                null, null, new Confidence.Trace(), true, null);
        assertEquals(7, steps.size());
        for (int k = 0; k < 7; k++) {
            assertEquals(k + 1, steps.get(k).tokenId);
            assertEquals(k, steps.get(k).index);
        }
        assertEquals("stop", steps.get(6).finishReason);
        assertNull(steps.get(5).finishReason);
        assertTrue(steps.get(0).signals.top1Prob > 0.99);
        assertEquals(7, b.position()); // prompt + 6 decoded; the eos token is not fed back
    }

    @Test
    public void budgetEndsWithLength() throws Exception {
        CountingBackend b = new CountingBackend(64, false);
        List<Generator.Step> steps = Generator.generate(b, new int[] {0}, new Sampler(Sampler.Config.greedy()), 3,
                null, null, new Confidence.Trace(), true, null);
        assertEquals(3, steps.size());
        assertEquals("length", steps.get(2).finishReason);
    }

    @Test
    public void sharedPromptPrefixIsNotRunTwice() throws Exception {
        CountingBackend b = new CountingBackend(64, false);
        Sampler greedy = new Sampler(Sampler.Config.greedy());
        Generator.generate(b, new int[] {3, 4, 5, 6}, greedy, 1, null, null, new Confidence.Trace(), true, null);
        b.forwardSizes.clear();
        Generator.generate(b, new int[] {3, 4, 5, 2}, greedy, 1, null, null, new Confidence.Trace(), true, null);
        assertEquals(Arrays.asList(1), b.forwardSizes); // only the differing last token
    }

    @Test
    public void lowGroupConfidenceAbortsTheTrace() throws Exception {
        CountingBackend b = new CountingBackend(64, true); // uniform over 8: token confidence = log 8 - 0
        Policies.GroupConfidenceAbort abort = new Policies.GroupConfidenceAbort(3.0);
        List<Generator.Step> steps = Generator.generate(b, new int[] {0}, new Sampler(Sampler.Config.greedy()), 20,
                Collections.singletonList(99), abort, new Confidence.Trace(4, 4), true, null);
        assertEquals(4, steps.size());
        assertEquals("early_exit", steps.get(3).finishReason);
        assertNotNull(abort.firedAt);
        assertEquals(Math.log(8), abort.firedAt, 1e-9);
    }

    @Test
    public void contextOverflowIsAnErrorNotATruncation() throws Exception {
        CountingBackend b = new CountingBackend(4, false);
        try {
            Generator.generate(b, new int[] {0, 0}, new Sampler(Sampler.Config.greedy()), 10,
                    Collections.singletonList(99), null, new Confidence.Trace(), true, null);
            fail();
        } catch (Backend.ContextOverflowException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("exceed the context of 4"));
        }
        b.rewind(1);
        assertEquals(1, b.position());
        try {
            b.rewind(3);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("cannot rewind to 3"));
        }
    }

    /** Byte-level tokenizer with one token per byte (ids 0..255) plus <|im_start|> 256 and <|im_end|> 257. */
    static Tokenizer byteTokenizer() {
        StringBuilder vocab = new StringBuilder("{");
        for (int b = 0; b < 256; b++) {
            String ch = new String(new byte[] {(byte) b}, StandardCharsets.ISO_8859_1);
            int code = byteLevelChar(b);
            vocab.append(b == 0 ? "" : ",").append("\"\\u").append(String.format("%04x", code)).append("\": ")
                    .append(b);
            assertEquals(1, ch.length());
        }
        vocab.append("}");
        return Tokenizer.fromJson("{\"model\": {\"type\": \"BPE\", \"vocab\": " + vocab + ", \"merges\": []},"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
                + " \"decoder\": {\"type\": \"ByteLevel\"}, \"added_tokens\": ["
                + "{\"id\": 256, \"content\": \"<|im_start|>\", \"special\": true},"
                + "{\"id\": 257, \"content\": \"<|im_end|>\", \"special\": true}]}");
    }

    static int byteLevelChar(int b) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            return b;
        }
        int n = 0;
        for (int k = 0; k < b; k++) {
            if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF))) {
                n++;
            }
        }
        return 256 + n;
    }

    /** Writes a fixed reply after whatever prompt it gets, then <|im_end|>. */
    static final class ScriptedBackend extends Backend {
        final int[] script;
        int promptLen = -1;

        ScriptedBackend(int[] script) {
            super(258, 512, Collections.singletonList(257));
            this.script = script;
        }

        @Override
        protected float[] forward(int[] ids, int position) {
            if (position == 0) {
                promptLen = ids.length;
            }
            int generated = position + ids.length - promptLen;
            float[] logits = new float[vocabSize];
            logits[generated < script.length ? script[generated] : 257] = 12f;
            return logits;
        }

        @Override
        public void close() {
        }
    }

    @Test
    public void solveStopsAtAStatedAnswerAndDecides() throws Exception {
        Tokenizer tok = byteTokenizer();
        Text text = new Text(tok, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                + "{% endfor %}<|im_start|>assistant\n", false, 256);
        ScriptedBackend backend = new ScriptedBackend(tok.encode("2 plus 2 makes 4.\nThe answer is 4.\nmore"));
        final List<Generator.Step> streamed = new ArrayList<>();
        SolveSpec spec = Specs.noShots();
        Reasoner.Result r = Reasoner.solve(backend, text, "What is 2+2?", spec, Answers.Kind.MATH,
                Collections.<String>emptyList(), streamed::add);
        assertEquals("4", r.answer);
        assertEquals(1, r.traces.size());
        Reasoner.Trace t = r.traces.get(0);
        assertEquals("2 plus 2 makes 4.\nThe answer is 4.\n", t.text);
        assertEquals("early_exit", t.finishReason); // the stated-answer line ends the trace, no probe
        assertFalse(t.aborted);
        assertEquals(streamed.size(), t.tokenIds.length);
        assertFalse(r.calibrated);
        assertTrue(r.pCorrect > 0.99);
        assertEquals("accept", r.decision);
        assertTrue(r.reasons.get(0).startsWith("uncalibrated"));
        assertEquals(1.0, r.features.get("has_answer"), 0.0);
        assertEquals(1.0, r.features.get("vote_share"), 0.0);
        assertEquals(spec.features, new ArrayList<>(r.features.keySet()));
    }

    @Test
    public void calibratedEscalationGivesTheReason() throws Exception {
        Tokenizer tok = byteTokenizer();
        Text text = new Text(tok, null, false, null);
        ScriptedBackend backend = new ScriptedBackend(tok.encode("I think it is 5"));
        SolveSpec spec = Specs.withCalibrator(String.format(CalibratorTest.CAL, "[]", "[]"), "greedy");
        Reasoner.Result r = Reasoner.solve(backend, text, "What is 2+3?", spec, Answers.Kind.MATH,
                Collections.<String>emptyList(), null);
        assertEquals("5", r.answer);
        assertEquals("stop", r.traces.get(0).finishReason);
        assertTrue(r.calibrated);
        assertEquals("escalate", r.decision);
        assertTrue(r.reasons.get(0), r.reasons.get(0).matches("P\\(correct\\) 0\\.\\d\\d < threshold 1\\.00"));
    }

    @Test
    public void voteStopsWhenTheLeaderCannotBeOvertaken() throws Exception {
        Tokenizer tok = byteTokenizer();
        Text text = new Text(tok, null, false, null);
        ScriptedBackend backend = new ScriptedBackend(tok.encode("The answer is 7.\n"));
        SolveSpec spec = Specs.noShots("vote").with("max_traces", 3);
        Reasoner.Result r = Reasoner.solve(backend, text, "q", spec, Answers.Kind.MATH,
                Collections.<String>emptyList(), null);
        assertEquals("7", r.answer);
        assertEquals(2, r.traces.size()); // two agreeing traces of weight ~1 beat 1 remaining trace
        assertEquals(1.0, r.features.get("vote_share"), 0.0);
    }

    private static Reasoner.Trace solveOnce(Tokenizer tok, String script, SolveSpec spec) throws Exception {
        return Reasoner.solve(new ScriptedBackend(tok.encode(script)), new Text(tok, null, false, null), "q", spec,
                Answers.Kind.MATH, Collections.<String>emptyList(), null).traces.get(0);
    }

    @Test
    public void theCalculatorChecksComputesAndPenalizesTheVote() throws Exception {
        Tokenizer tok = byteTokenizer();
        String script = "12 - 7 = 2 apples.\nThe answer is 2.";
        SolveSpec cfg = Specs.noShots("greedy");
        Reasoner.Trace checked = solveOnce(tok, script, cfg); // the default: check
        assertEquals(1, checked.statements.size());
        assertEquals("12 - 7 = 2", checked.statements.get(0).text);
        assertEquals(1, checked.falseStatements());
        assertEquals(1.0, checked.features.get("arith_errors"), 0.0);
        assertEquals(Math.exp(checked.features.get("mean_logprob")) * 0.25, checked.weight(), 0.0);

        Reasoner.Trace off = solveOnce(tok, script, cfg.with("calculator", "off"));
        assertTrue(off.statements.isEmpty());
        for (Map.Entry<String, Double> e : ArithmeticChecker.NO_ARITHMETIC.entrySet()) {
            assertEquals(e.getKey(), e.getValue(), off.features.get(e.getKey()));
        }
        assertEquals(Math.exp(off.features.get("mean_logprob")), off.weight(), 0.0);

        Reasoner.Trace computed = solveOnce(tok, script, cfg.with("calculator", "compute"));
        assertEquals("12 - 7 = 5 apples.\nThe answer is 2.", computed.text); // the model's " " kept, its "2" replaced
        assertEquals(1, computed.toolTokens);
        assertEquals(0, computed.falseStatements());
        assertTrue(computed.statements.get(0).corrected);
        assertEquals(1.0, computed.features.get("arith_errors"), 0.0); // the slip it was about to make still counts
        assertEquals(0.25, computed.errorWeight, 0.0);
    }

    @Test
    public void arithAbortEndsATraceAtItsFirstFalseStatement() throws Exception {
        Tokenizer tok = byteTokenizer();
        SolveSpec cfg = Specs.noShots().with("arith_abort", true);
        Reasoner.Trace t = solveOnce(tok, "12 - 7 = 2 apples.\nThe answer is 2.", cfg);
        assertTrue(t.aborted);
        assertNull(t.answer);
        assertEquals("early_exit", t.finishReason);
        assertEquals("12 - 7 = 2 a", t.text); // the word after the number completes the statement
        try {
            cfg.with("calculator", "off"); // the spec's rule, as a file is checked
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("needs the calculator"));
        }
    }

    @Test
    public void chatReplyIsJudgedAsOneAnswer() throws Exception {
        Tokenizer tok = byteTokenizer();
        Text text = new Text(tok, null, false, null);
        ScriptedBackend backend = new ScriptedBackend(tok.encode("Paris."));
        Confidence.Trace trace = new Confidence.Trace();
        List<Generator.Step> steps = Generator.generate(backend, text.encode("Capital of France?"),
                new Sampler(Sampler.Config.greedy()), 32, null, null, trace, true, null);
        SolveSpec spec = Specs.noShots("greedy");
        Reasoner.Result r = Reasoner.judgeReply(text, steps, trace, spec);
        assertEquals("Paris.", r.answer);
        assertEquals("accept", r.decision);
        assertEquals(r.features.get("mean_logprob"), r.features.get("answer_logprob"));
        assertEquals(7.0, r.features.get("num_tokens"), 0.0); // 6 bytes + <|im_end|>
        assertEquals(0.0, r.features.get("arith_statements"), 0.0); // checked as a solve trace is: none here
        assertEquals(spec.features, new ArrayList<>(r.features.keySet()));
    }

    /** ScriptedBackend whose model also outputs a hidden state: {@link #state} of the forward's last position. */
    static final class HiddenBackend extends Backend {
        final ScriptedBackend scripted;
        final float offset;

        HiddenBackend(int[] script, float offset) {
            super(258, 512, Collections.singletonList(257));
            this.scripted = new ScriptedBackend(script);
            this.offset = offset;
        }

        /** The hidden state at absolute position q: 3 wide, as the golden calibrator's probes read. */
        static float[] state(int q, float offset) {
            return new float[] {q / 100f, offset, 0.5f - q / 1000f};
        }

        @Override
        protected float[] forward(int[] ids, int position) {
            setHidden(state(position + ids.length - 1, offset));
            return scripted.forward(ids, position);
        }

        @Override
        public void close() {
        }
    }

    private static double[] widen(float[] x) {
        double[] d = new double[x.length];
        for (int k = 0; k < x.length; k++) {
            d[k] = x[k];
        }
        return d;
    }

    private static Reasoner.Result solveWithStates(Tokenizer tok, HiddenBackend backend, SolveSpec spec)
            throws Exception {
        return Reasoner.solve(backend, new Text(tok, null, false, null), "What is 5+7?", spec, Answers.Kind.MATH,
                Collections.<String>emptyList(), null);
    }

    @Test
    public void hiddenStatesGiveTheProbeFeaturesAndTheRoute() throws Exception {
        Tokenizer tok = byteTokenizer();
        // early-exit: the stated-answer line ends the trace; the calibrator's route threshold is 0.15, probes 3 wide.
        SolveSpec spec = Specs.withCalibrator(ProbesTest.withProbesJson(), "early-exit");
        Calibrator cal = spec.calibrator;
        SolveSpec cfg = spec.with("route_before_decode", true);

        // x1 = -1: the prompt probe's logit is positive, P(IK) above the route threshold: decoded, not routed.
        HiddenBackend sure = new HiddenBackend(tok.encode("The answer is 12.\nmore"), -1f);
        Reasoner.Result r = solveWithStates(tok, sure, cfg);
        int p = sure.scripted.promptLen;
        assertEquals("12", r.answer);
        assertFalse(r.routed);
        Reasoner.Trace t = r.traces.get(0);
        for (int i = 0; i < t.steps.size(); i++) { // step i's state predicted it: position p - 1 + i
            assertTrue(Arrays.equals(HiddenBackend.state(p - 1 + i, -1f), t.steps.get(i).hidden));
        }
        float[] prompt = HiddenBackend.state(p - 1, -1f);
        float[] one = HiddenBackend.state(p - 1 + 14, -1f); // "The answer is " is 14 tokens: "1" and "2" follow
        float[] two = HiddenBackend.state(p - 1 + 15, -1f);
        float[] answer = new float[3];
        for (int k = 0; k < 3; k++) {
            answer[k] = (one[k] + two[k]) / 2f; // numpy's float32 mean of the two rows
        }
        assertTrue(Arrays.equals(prompt, t.promptState));
        assertTrue(Arrays.equals(answer, t.answerState));
        assertTrue(Arrays.equals(prompt, r.promptState));
        assertTrue(Arrays.equals(answer, r.answerState));
        double pikLogit = cal.probes.get("pik_logit").logit(widen(prompt));
        double answerLogit = cal.probes.get("answer_state_logit").logit(widen(answer));
        assertEquals(pikLogit, r.features.get("pik_logit"), 0.0);
        assertEquals(answerLogit, r.features.get("answer_state_logit"), 0.0);
        assertEquals(cfg.features.size() + 2, r.features.size());
        double pIK = 1.0 / (1.0 + Math.exp(-pikLogit));
        assertEquals(pIK, r.pIK, 1e-15);
        assertTrue(pIK > 0.15);
        assertEquals(cal.predict(r.features), r.pCorrect, 0.0);
        assertEquals(String.format(java.util.Locale.ROOT, "not routed: P(IK) %.2f >= route threshold 0.15", pIK),
                r.reasons.get(r.reasons.size() - 1));

        // x1 = 2: P(IK) below the threshold: escalated before decoding, nothing generated.
        HiddenBackend unsure = new HiddenBackend(tok.encode("The answer is 12.\n"), 2f);
        Reasoner.Result routed = solveWithStates(tok, unsure, cfg);
        double low = 1.0 / (1.0 + Math.exp(-cal.probes.get("pik_logit").logit(
                widen(HiddenBackend.state(unsure.scripted.promptLen - 1, 2f)))));
        assertTrue(low < 0.15);
        assertTrue(routed.routed);
        assertEquals("escalate", routed.decision);
        assertTrue(routed.calibrated);
        assertNull(routed.answer);
        assertTrue(routed.traces.isEmpty());
        assertEquals(0, routed.tokensGenerated);
        assertEquals(low, routed.pIK, 1e-15);
        assertEquals(low, routed.pCorrect, 1e-15);
        assertEquals(unsure.scripted.promptLen, unsure.position()); // only the prompt ran
        assertEquals(Collections.singletonList(String.format(java.util.Locale.ROOT,
                "routed before decoding: P(IK) %.2f < route threshold 0.15", low)), routed.reasons);

        // Without the setting the same question is decoded; P(IK) is still reported, no route line.
        Reasoner.Result kept = solveWithStates(tok, new HiddenBackend(tok.encode("The answer is 12.\n"), 2f), spec);
        assertFalse(kept.routed);
        assertEquals("12", kept.answer);
        assertEquals(low, kept.pIK, 1e-15);
        assertTrue(kept.reasons.get(kept.reasons.size() - 1).startsWith("P(correct) "));
    }

    @Test
    public void toolStepsCarryNoStateAndNoAnswerFallsBackToTheLastOwnSteps() throws Exception {
        Tokenizer tok = byteTokenizer();
        SolveSpec cfg = Specs.noShots("greedy").with("calculator", "compute");
        HiddenBackend b = new HiddenBackend(tok.encode("12 - 7 = 2 apples."), 0f);
        Reasoner.Result r = solveWithStates(tok, b, cfg);
        int p = b.scripted.promptLen;
        Reasoner.Trace t = r.traces.get(0);
        assertEquals("12 - 7 = 5 apples.", t.text);
        int tool = t.text.indexOf('5');
        assertTrue(t.steps.get(tool).tool);
        assertNull(t.steps.get(tool).hidden);
        assertTrue(Arrays.equals(HiddenBackend.state(p - 1 + tool + 1, 0f), t.steps.get(tool + 1).hidden));
        assertEquals("5", t.answer); // its last number: the answer span is the tool token, so the last 4 own steps
        int n = t.steps.size();
        float[] mean = new float[3];
        for (int i = n - 4; i < n; i++) {
            float[] s = HiddenBackend.state(p - 1 + i, 0f);
            for (int k = 0; k < 3; k++) {
                mean[k] += s[k];
            }
        }
        for (int k = 0; k < 3; k++) {
            mean[k] /= 4;
        }
        assertTrue(Arrays.equals(mean, t.answerState));
        assertNull(r.pIK); // no calibrator

        // A calibrator without the prompt probe and the route setting: said in the reasons.
        SolveSpec plain = Specs.withCalibrator(String.format(CalibratorTest.CAL, "[]", "[]"), "greedy")
                .with("calculator", "compute").with("route_before_decode", true);
        Reasoner.Result noProbe = solveWithStates(tok, new HiddenBackend(tok.encode("7"), 0f), plain);
        assertEquals("not routed: the calibrator has no P(IK) probe (run `edgereason calibrate` on an artifact with "
                + "hidden-state outputs)", noProbe.reasons.get(noProbe.reasons.size() - 1));

        // A calibrator with probes on a model without hidden states: Python's error, not a guess.
        try {
            Reasoner.solve(new ScriptedBackend(tok.encode("7")), new Text(tok, null, false, null), "q",
                    Specs.withCalibrator(ProbesTest.withProbesJson(), "greedy"), Answers.Kind.MATH,
                    Collections.<String>emptyList(), null);
            fail();
        } catch (ArtifactException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("reads the prompt hidden state, which this artifact "
                    + "does not output"));
        }
    }
}
