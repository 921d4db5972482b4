package org.edgereason.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Answer a reasoning question and decide whether to trust the answer (runtime/reason.py).
 *
 * <p>Strategies: greedy (one greedy trace), early-exit (one greedy trace with the abort and probe policies), vote
 * (up to N sampled traces, confidence-weighted, stopping once the leader can't be overtaken), score (a
 * multiple-choice question answered without decoding: each option's log-likelihood after the spec's scoring
 * context, {@link Likelihood}; the softmax over the options is its confidence). The decision: the
 * artifact's calibrator maps the features to P(correct); accept at or above its threshold, otherwise escalate. The
 * calculator checks every arithmetic statement a trace writes (features, an optional abort, a vote penalty) and in
 * compute mode writes each exact result for the model.
 *
 * <p>Everything a solve follows comes from a {@link SolveSpec}: the prompt (system message, few-shot turns, the
 * artifact's rendered template), the settings, the feature order, the calibrator and the uncalibrated threshold. A
 * calibrator scores only prompts like those it was fitted on, so the prompt travels in the same file as the
 * calibrator rather than in this code.
 *
 * <p>Hidden states: each trace keeps the backend's state at the last prompt token ({@link Trace#promptState}) and
 * the mean state over the tokens that wrote its answer ({@link Trace#answerState}); a calibrator with probes turns
 * the solve's two states into the features {@code pik_logit} / {@code answer_state_logit}, and with the prompt probe
 * P(IK) is known before decoding, so {@link Config#routeBeforeDecode} can escalate at zero generated tokens.
 */
public final class Reasoner {
    public enum Strategy {
        GREEDY("greedy"), EARLY_EXIT("early-exit"), VOTE("vote"), SCORE("score");

        public final String value;

        Strategy(String value) {
            this.value = value;
        }

        /** The strategy a spec names (the schema admits only these four). */
        public static Strategy of(String value) {
            for (Strategy s : values()) {
                if (s.value.equals(value)) {
                    return s;
                }
            }
            throw new IllegalArgumentException("unknown strategy " + value + ": use greedy, early-exit, vote, score");
        }
    }

    /**
     * A solve spec's {@code settings}, typed (runtime/reason.py's SolveConfig and ExitConfig). No defaults here: a
     * Config exists only inside a {@link SolveSpec}, whose check has applied SolveConfig's rules, so the phone never
     * runs a setting Python would refuse; change one with {@link SolveSpec#with}.
     */
    public static final class Config {
        public final Strategy strategy;
        public final int maxNewTokens;
        public final int maxTraces;
        public final Sampler.Config sampling;
        public final boolean abort;
        public final double abortThreshold;
        public final int abortWindow;
        public final boolean probe;
        public final double probeThreshold;
        public final int probePatience;
        public final int probeMinTokens;
        public final boolean voteEarlyStop;
        /** Abandon a trace at its first false arithmetic statement (needs the calculator on). */
        public final boolean arithAbort;
        public final ArithmeticChecker.Calculator calculator;
        /** A vote trace with a false statement counts this much of its weight. */
        public final double arithErrorWeight;
        /**
         * Escalate at zero generated tokens when the calibrator's P(IK) is below its route threshold (needs a
         * calibrator with the prompt probe).
         */
        public final boolean routeBeforeDecode;

        /** From a spec's settings that passed its schema (every field there, in range). */
        Config(Map<String, Object> s) {
            Map<String, Object> exit = Json.object(s.get("exit"), "settings.exit");
            Map<String, Object> sm = Json.object(s.get("sampling"), "settings.sampling");
            strategy = Strategy.of((String) s.get("strategy"));
            maxNewTokens = (int) Json.integer(s.get("max_new_tokens"), "max_new_tokens");
            maxTraces = (int) Json.integer(s.get("max_traces"), "max_traces");
            // seed: up to 2^64 - 1, a BigInteger above Long.MAX_VALUE; its low 64 bits are SplitMix64's state.
            sampling = new Sampler.Config(Json.number(sm.get("temperature"), "temperature"),
                    (int) Json.integer(sm.get("top_k"), "top_k"), Json.number(sm.get("top_p"), "top_p"),
                    ((Number) sm.get("seed")).longValue());
            abort = (Boolean) exit.get("abort");
            abortThreshold = Json.number(exit.get("abort_threshold"), "abort_threshold");
            abortWindow = (int) Json.integer(exit.get("abort_window"), "abort_window");
            probe = (Boolean) exit.get("probe");
            probeThreshold = Json.number(exit.get("probe_threshold"), "probe_threshold");
            probePatience = (int) Json.integer(exit.get("probe_patience"), "probe_patience");
            probeMinTokens = (int) Json.integer(exit.get("probe_min_tokens"), "probe_min_tokens");
            voteEarlyStop = (Boolean) exit.get("vote_early_stop");
            arithAbort = (Boolean) exit.get("arith_abort");
            calculator = ArithmeticChecker.Calculator.of((String) s.get("calculator"));
            arithErrorWeight = Json.number(s.get("arith_error_weight"), "arith_error_weight");
            routeBeforeDecode = (Boolean) s.get("route_before_decode");
        }
    }

    /** One reasoning trace. */
    public static final class Trace {
        public final int[] tokenIds;
        public final String text;
        public final String answer;
        public final String finishReason;
        public final boolean aborted;
        public final String abortReason; // "low confidence" or "a false statement (...)"; null when not aborted
        public final boolean settled;
        public final Map<String, Double> features;
        public final int probeTokens;
        public final List<Generator.Step> steps;
        public final List<Arithmetic.Statement> statements; // empty with the calculator off
        public final int toolTokens; // written by the calculator
        public final double errorWeight; // arith error weight when a statement is false, else 1
        /** The hidden state at the last prompt token (the first step's), or null without hidden states. */
        public final float[] promptState;
        /** The mean hidden state over the model's steps that wrote the answer ({@link #answerSpan}), or null. */
        public final float[] answerState;

        Trace(int[] tokenIds, String text, String answer, String finishReason, String abortReason, boolean settled,
              Map<String, Double> features, int probeTokens, List<Generator.Step> steps,
              List<Arithmetic.Statement> statements, double errorWeight, float[] promptState, float[] answerState) {
            this.tokenIds = tokenIds;
            this.text = text;
            this.answer = answer;
            this.finishReason = finishReason;
            this.aborted = abortReason != null;
            this.abortReason = abortReason;
            this.settled = settled;
            this.features = features;
            this.probeTokens = probeTokens;
            this.steps = steps;
            this.statements = statements;
            int tools = 0;
            for (Generator.Step step : steps) {
                tools += step.tool ? 1 : 0;
            }
            this.toolTokens = tools;
            this.errorWeight = errorWeight;
            this.promptState = promptState;
            this.answerState = answerState;
        }

        /**
         * Vote weight in [0, 1]: the geometric-mean token probability of the trace (down-weighted when its own
         * arithmetic is false).
         */
        public double weight() {
            return Math.exp(features.get("mean_logprob")) * errorWeight;
        }

        /** Statements that are false as written (those the calculator corrected are right now). */
        public int falseStatements() {
            int n = 0;
            for (Arithmetic.Statement st : statements) {
                n += st.right ? 0 : 1;
            }
            return n;
        }
    }

    /** The answer, P(correct) and the decision with its reasons. */
    public static final class Result {
        public final String answer;
        public final double pCorrect;
        public final boolean calibrated;
        public final String decision; // "accept" | "escalate"
        public final List<String> reasons;
        public final List<Trace> traces;
        public final Map<String, Double> features;
        public final int tokensGenerated;
        public final int probeTokens;
        public final double seconds;
        /**
         * The solve's hidden states: the first trace's prompt state (routed: the one P(IK) read), the winners' mean
         * answer state (or null).
         */
        public final float[] promptState;
        public final float[] answerState;
        /** The calibrator's P(IK) probe, before decoding; null without that probe. */
        public final Double pIK;
        /** Sent to the slow path before decoding (P(IK) below the route threshold): no traces, no tokens. */
        public final boolean routed;

        Result(String answer, double pCorrect, boolean calibrated, String decision, List<String> reasons,
               List<Trace> traces, Map<String, Double> features, int tokensGenerated, int probeTokens,
               double seconds, float[] promptState, float[] answerState, Double pIK, boolean routed) {
            this.answer = answer;
            this.pCorrect = pCorrect;
            this.calibrated = calibrated;
            this.decision = decision;
            this.reasons = reasons;
            this.traces = traces;
            this.features = features;
            this.tokensGenerated = tokensGenerated;
            this.probeTokens = probeTokens;
            this.seconds = seconds;
            this.promptState = promptState;
            this.answerState = answerState;
            this.pIK = pIK;
            this.routed = routed;
        }
    }

    private Reasoner() {
    }

    /**
     * Answers {@code question} as {@code spec} says (its prompt, shots and settings), with P(correct) from its
     * calibrator and an accept / escalate decision; without a calibrator the raw confidence against the spec's
     * uncalibrated threshold (said in the reasons).
     *
     * @param choices the options, listed under the question; their count bounds the letters a choice answer may be
     *     (strategy score: what is scored, so a score solve needs them and kind CHOICE)
     * @throws IllegalArgumentException more choices than letters, or a score solve without options.
     * @throws Backend.ContextOverflowException the prompt and budget (score: the context and an option) don't fit the
     *     artifact's context.
     * @throws ArtifactException the calibrator has probes but the backend gives no hidden state of their size.
     */
    public static Result solve(Backend backend, Text text, String question, SolveSpec spec, Answers.Kind kind,
                               List<String> choices, Generator.Listener listener) throws Exception {
        Config config = spec.config;
        Calibrator calibrator = spec.calibrator;
        if (choices.size() > spec.letters.length()) {
            throw new IllegalArgumentException("a question has at most " + spec.letters.length() + " choices (letters "
                    + spec.letters.charAt(0) + "-" + spec.letters.charAt(spec.letters.length() - 1) + "), got "
                    + choices.size());
        }
        int numChoices = choices.isEmpty() ? spec.letters.length() : choices.size(); // none listed: the text names them
        long start = System.nanoTime();
        boolean scoring = config.strategy == Strategy.SCORE;
        if (scoring && (kind != Answers.Kind.CHOICE || choices.isEmpty())) {
            throw new IllegalArgumentException("strategy score answers a multiple-choice question by its options: "
                    + "give the options (choices), or use another strategy");
        }
        // score: the spec's plain scoring context (no chat template), whose options' room Likelihood checks.
        int[] prompt = scoring ? text.encode(spec.scoring.contextText(question))
                : spec.promptIds(text, question, kind, choices);
        if (!scoring && prompt.length + config.maxNewTokens > backend.maxSeqLen) {
            throw new Backend.ContextOverflowException("prompt of " + prompt.length + " tokens + max new tokens "
                    + config.maxNewTokens + " exceed the context of " + backend.maxSeqLen
                    + ": shorten the question or lower max new tokens");
        }
        Double pIK = null;
        if (calibrator != null && calibrator.hasPIK()) {
            float[] state = promptState(backend, prompt);
            pIK = calibrator.pIK(state);
            if (config.routeBeforeDecode && pIK < calibrator.routeThreshold) {
                List<String> reasons = Collections.singletonList(String.format(Locale.ROOT,
                        "routed before decoding: P(IK) %.2f < route threshold %.2f", pIK, calibrator.routeThreshold));
                return new Result(null, pIK, true, "escalate", reasons, Collections.<Trace>emptyList(),
                        new LinkedHashMap<String, Double>(), 0, 0, (System.nanoTime() - start) / 1e9, state, null, pIK,
                        true);
            }
        }
        List<Trace> traces = new ArrayList<>();
        if (scoring) {
            traces.add(score(backend, text, prompt, spec, choices));
        } else if (config.strategy == Strategy.VOTE) {
            Sampler.Config base = config.sampling;
            for (int i = 0; i < config.maxTraces; i++) {
                Sampler.Config s = new Sampler.Config(base.temperature, base.topK, base.topP, base.seed + i);
                traces.add(trace(backend, text, prompt, spec, kind, numChoices, s, true, listener));
                if (config.voteEarlyStop && settledVote(traces, config.maxTraces - traces.size())) {
                    break;
                }
                if (Thread.currentThread().isInterrupted()) {
                    break;
                }
            }
        } else {
            traces.add(trace(backend, text, prompt, spec, kind, numChoices, Sampler.Config.greedy(),
                    config.strategy == Strategy.EARLY_EXIT, listener));
        }
        String route = null;
        if (config.routeBeforeDecode) {
            route = pIK != null ? String.format(Locale.ROOT, "not routed: P(IK) %.2f >= route threshold %.2f", pIK,
                    calibrator.routeThreshold) : "not routed: the calibrator has no P(IK) probe (run `edgereason "
                    + "calibrate` on an artifact with hidden-state outputs)";
        }
        return decide(traces, spec, start, pIK, route, scoring);
    }

    /**
     * reason.py {@code _prompt_state}: prefill the prompt (reusing the cached prefix, as {@link Generator#generate}
     * will) and read the last token's hidden state.
     */
    private static float[] promptState(Backend backend, int[] prompt) throws Exception {
        backend.prefillReusing(prompt);
        return backend.hidden();
    }

    /**
     * reason.py {@code _score}: the option with the highest normalized log-likelihood after the scoring context
     * ({@link SolveSpec#scoring}), as a trace that generated nothing. Its features, in the trace features' slots:
     * vote_share = the softmax over the options' scores (the natural confidence), answer_logprob = the option's
     * log-likelihood, answer_min_logprob = its margin over the runner-up, mean_logprob = min_logprob = per token,
     * num_tokens = the option's tokens. The hidden states: the context's last token (P(IK)) and the chosen option's
     * last token (the answer probe).
     */
    private static Trace score(Backend backend, Text text, int[] context, SolveSpec spec, List<String> choices)
            throws Exception {
        SolveSpec.Scoring rule = spec.scoring;
        int n = choices.size();
        String[] options = new String[n];
        String[] continuations = new String[n];
        List<int[]> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            options[i] = SolveSpec.Scoring.optionText(choices.get(i), i);
            continuations[i] = rule.continuation(options[i]);
            ids.add(text.encode(continuations[i], false));
        }
        float[] state = promptState(backend, context);
        List<Likelihood.Scored> scored = Likelihood.scoreContinuations(backend, context, ids);
        double[] scores = optionScores(rule, scored, continuations);
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (scores[i] > scores[best]) { // the first maximum, as numpy's argmax
                best = i;
            }
        }
        int[] chosen = ids.get(best);
        backend.checkRoom(chosen.length); // as Python's extend, before any forward
        for (int id : chosen) {
            backend.step(id); // the answer probe reads the state after the whole chosen option
        }
        float[] answerState = backend.hidden();
        backend.rewind(context.length);
        return new Trace(new int[0], options[best], String.valueOf(spec.letters.charAt(best)), "scored", null, false,
                scoreFeatures(spec, scored.get(best), scores, best), 0, Collections.<Generator.Step>emptyList(),
                Collections.<Arithmetic.Statement>emptyList(), 1.0, state, answerState);
    }

    /** The score trace's features (see {@link #score}); the slots a decoded trace fills and this one can't are 0. */
    private static Map<String, Double> scoreFeatures(SolveSpec spec, Likelihood.Scored top, double[] scores,
                                                     int best) {
        double sum = 0.0;
        for (double x : scores) {
            sum += Math.exp(x - scores[best]);
        }
        double[] ranked = scores.clone();
        Arrays.sort(ranked);
        int n = ranked.length;
        double perToken = top.logprob / top.numTokens;
        Map<String, Double> features = new LinkedHashMap<>();
        for (String name : spec.features) {
            features.put(name, 0.0);
        }
        features.put("vote_share", 1.0 / sum); // exp(0) / sum: the chosen option's probability
        features.put("answer_logprob", top.logprob);
        features.put("answer_min_logprob", n > 1 ? ranked[n - 1] - ranked[n - 2] : 0.0);
        features.put("mean_logprob", perToken);
        features.put("min_logprob", perToken);
        features.put("num_tokens", (double) top.numTokens);
        features.put("has_answer", 1.0);
        return features;
    }

    /** Each option's log-likelihood divided by the rule's length (its characters, tokens, or 1). */
    static double[] optionScores(SolveSpec.Scoring rule, List<Likelihood.Scored> scored, String[] continuations) {
        double[] scores = new double[scored.size()];
        for (int i = 0; i < scores.length; i++) {
            scores[i] = rule.normalized(scored.get(i).logprob, scored.get(i).numTokens, continuations[i]);
        }
        return scores;
    }

    /**
     * P(correct) and accept / escalate for a free chat reply: the whole reply is the answer, scored with its own
     * token log-probs (use the artifact's "greedy" spec: its calibrator was fitted on one greedy trace, no probes).
     * Its arithmetic is checked as that spec's solve traces are (its calculator), so the calibrator gets the same
     * inputs.
     * Its hidden states too: the prompt state is the first step's, the answer state the mean over the steps that
     * wrote the reply ({@link #answerSpan} with the reply as the answer); P(IK) is reported, never routed on.
     *
     * @throws ArtifactException the calibrator has probes but the steps carry no hidden state of their size.
     */
    public static Result judgeReply(Text text, List<Generator.Step> steps, Confidence.Trace trace, SolveSpec spec)
            throws ArtifactException {
        long start = System.nanoTime();
        int[] ids = Generator.ids(steps);
        double min = Double.POSITIVE_INFINITY;
        for (Generator.Step step : steps) {
            min = Math.min(min, step.signals.logprob);
        }
        String body = text.decode(ids);
        Map<String, Double> features = trace.summary();
        features.put("answer_logprob", features.get("mean_logprob"));
        features.put("answer_min_logprob", steps.isEmpty() ? -10.0 : min);
        String answer = body.trim().isEmpty() ? null : body.trim();
        List<Arithmetic.Statement> statements = Collections.emptyList();
        if (spec.config.calculator == ArithmeticChecker.Calculator.OFF) {
            features.putAll(ArithmeticChecker.NO_ARITHMETIC);
        } else {
            ArithmeticChecker checker = new ArithmeticChecker(text, spec.config.calculator);
            for (Generator.Step step : steps) {
                checker.push(step.tokenId, step.tool);
            }
            checker.finish();
            features.putAll(checker.features());
            statements = checker.statements();
        }
        String finish = steps.isEmpty() ? null : steps.get(steps.size() - 1).finishReason;
        List<Trace> traces = Collections.singletonList(new Trace(ids, body, answer, finish, null, false, features, 0,
                steps, statements, 1.0, promptStateOf(steps), answerState(text, steps, answer)));
        Double pIK = spec.calibrator != null ? spec.calibrator.pIK(traces.get(0).promptState) : null;
        return decide(traces, spec, start, pIK, null, false);
    }

    /**
     * The decision on finished traces; {@code route} (or null) is the route-before-decode line appended to the
     * reasons. {@code scored}: the one trace of the score strategy, whose options are its vote: its share is the
     * chosen option's probability, which is also the raw confidence.
     */
    private static Result decide(List<Trace> traces, SolveSpec spec, long start, Double pIK, String route,
                                 boolean scored) throws ArtifactException {
        Calibrator calibrator = spec.calibrator;
        Map<String, Double> totals = weights(traces);
        String answer = null;
        double best = -1.0;
        double sum = 0.0;
        for (Map.Entry<String, Double> e : totals.entrySet()) {
            sum += e.getValue();
            if (e.getValue() > best) { // first maximum, as Python's max() keeps
                best = e.getValue();
                answer = e.getKey();
            }
        }
        double share = scored ? traces.get(0).features.get("vote_share") : answer == null ? 0.0 : best / sum;
        List<Trace> winners = new ArrayList<>();
        for (Trace t : traces) {
            if (answer != null && Answers.sameAnswer(t.answer, answer)) {
                winners.add(t);
            }
        }
        if (winners.isEmpty()) {
            winners = traces;
        }
        Map<String, Double> features = new LinkedHashMap<>(); // in the spec's order, the calibrator's row
        for (String name : spec.features) {
            if (name.equals("vote_share")) {
                features.put(name, share);
            } else if (name.equals("has_answer")) {
                features.put(name, answer != null ? 1.0 : 0.0);
            } else {
                double[] values = new double[winners.size()];
                for (int k = 0; k < values.length; k++) {
                    values[k] = winners.get(k).features.get(name);
                }
                features.put(name, Confidence.mean(values, 0, values.length));
            }
        }
        float[] promptState = traces.get(0).promptState;
        List<float[]> answerStates = new ArrayList<>();
        for (Trace t : winners) {
            answerStates.add(t.answerState);
        }
        float[] answerState = meanState(answerStates);
        if (calibrator != null) {
            features.putAll(calibrator.probeFeatures(promptState, answerState));
        }
        List<String> reasons = new ArrayList<>();
        double p;
        double threshold;
        if (calibrator != null) {
            p = calibrator.predict(features);
            threshold = calibrator.threshold;
        } else {
            // Without a calibrator: score's option probability, else the winner's vote share times its
            // geometric-mean token probability.
            p = scored ? share : share * Math.exp(features.get("mean_logprob"));
            threshold = spec.uncalibratedThreshold;
            reasons.add("uncalibrated (no calibrator for this strategy: run `edgereason calibrate`); "
                    + "raw confidence used");
        }
        String decision;
        if (answer == null) {
            int aborted = 0;
            Set<String> why = new LinkedHashSet<>();
            for (Trace t : traces) {
                if (t.aborted) {
                    aborted++;
                    why.add(t.abortReason);
                }
            }
            reasons.add(aborted > 0 ? "no answer (" + aborted + " of " + traces.size() + " traces aborted: "
                    + Schema.join("; ", why) + ")" : "no answer found in the trace");
            decision = "escalate";
        } else {
            decision = p >= threshold ? "accept" : "escalate";
            reasons.add(String.format(Locale.ROOT, "P(correct) %.2f %s threshold %.2f", p, decision.equals("accept") ? ">=" : "<",
                    threshold));
        }
        if (route != null) {
            reasons.add(route);
        }
        int tokens = 0;
        int probeTokens = 0;
        for (Trace t : traces) {
            tokens += t.tokenIds.length;
            probeTokens += t.probeTokens;
        }
        return new Result(answer, p, calibrator != null, decision, Collections.unmodifiableList(reasons),
                Collections.unmodifiableList(traces), features, tokens, probeTokens,
                (System.nanoTime() - start) / 1e9, promptState, answerState, pIK, false);
    }

    /** The first step's hidden state: the one at the last prompt token. */
    private static float[] promptStateOf(List<Generator.Step> steps) {
        return steps.isEmpty() ? null : steps.get(0).hidden;
    }

    /** The mean hidden state of the steps at {@code indices} (those without one left out). */
    private static float[] meanHidden(List<Generator.Step> steps, List<Integer> indices) {
        List<float[]> states = new ArrayList<>();
        for (int i : indices) {
            states.add(steps.get(i).hidden);
        }
        return meanState(states);
    }

    /**
     * reason.py {@code _mean_state}: the element-wise mean of the states present (null: none), in float32 as numpy
     * averages float32 rows (summed in order, then divided by the count).
     */
    static float[] meanState(List<float[]> states) {
        float[] sum = null;
        int n = 0;
        for (float[] s : states) {
            if (s == null) {
                continue;
            }
            if (sum == null) {
                sum = new float[s.length];
            } else if (s.length != sum.length) {
                throw new IllegalStateException("hidden states of different sizes: " + sum.length + " and "
                        + s.length);
            }
            for (int k = 0; k < s.length; k++) {
                sum[k] += s[k];
            }
            n++;
        }
        if (sum == null) {
            return null;
        }
        for (int k = 0; k < sum.length; k++) {
            sum[k] /= n;
        }
        return sum;
    }

    private static Trace trace(Backend backend, Text text, int[] prompt, SolveSpec spec, Answers.Kind kind,
                               int numChoices, Sampler.Config sampling, boolean useExit, Generator.Listener listener)
            throws Exception {
        Config config = spec.config;
        Policies.GroupConfidenceAbort abort = useExit && config.abort
                ? new Policies.GroupConfidenceAbort(config.abortThreshold) : null;
        Policies.AnswerProbe probe = useExit && config.probe ? new Policies.AnswerProbe(backend, text, kind,
                numChoices, config.probeThreshold, config.probePatience, config.probeMinTokens, spec.probeText,
                spec.maxAnswerTokens) : null;
        ArithmeticChecker checker = config.calculator != ArithmeticChecker.Calculator.OFF
                ? new ArithmeticChecker(text, config.calculator) : null;
        Policies.ArithmeticAbort arithAbort = useExit && config.arithAbort && checker != null
                ? new Policies.ArithmeticAbort(checker) : null;
        Confidence.Trace confidence = new Confidence.Trace(config.abortWindow, Confidence.DEFAULT_TAIL);
        List<Generator.Step> steps = Generator.generate(backend, prompt, new Sampler(sampling), config.maxNewTokens,
                null, Policies.anyOf(abort, arithAbort, probe), confidence, true, listener, checker);
        int[] ids = Generator.ids(steps);
        String body = text.decode(ids);
        String abortReason = abort != null && abort.firedAt != null ? "low confidence"
                : arithAbort != null && arithAbort.firedAt != null ? "a false statement (" + arithAbort.firedAt + ")"
                : null;
        boolean aborted = abortReason != null;
        boolean settled = probe != null && probe.settledAnswer != null;
        String answer = aborted ? null : settled ? probe.settledAnswer : Answers.extract(body, kind, numChoices);
        Map<String, Double> features = confidence.summary();
        List<Integer> span = answerSpan(text, steps, answer);
        if (settled) {
            double lp = Math.log(Math.max(probe.settledConf, 1e-9));
            features.put("answer_logprob", lp);
            features.put("answer_min_logprob", lp);
        } else {
            double[] lp = answerLogprobs(steps, span, answer);
            features.put("answer_logprob", lp[0]);
            features.put("answer_min_logprob", lp[1]);
        }
        features.putAll(checker != null ? checker.features() : ArithmeticChecker.NO_ARITHMETIC);
        String finish = steps.isEmpty() ? null : steps.get(steps.size() - 1).finishReason;
        List<Arithmetic.Statement> statements = checker != null ? checker.statements()
                : Collections.<Arithmetic.Statement>emptyList();
        double errorWeight = checker != null && !checker.errors().isEmpty() ? config.arithErrorWeight : 1.0;
        return new Trace(ids, body, answer, finish, abortReason, settled, features, probe != null ? probe.probeTokens : 0,
                steps, statements, errorWeight, promptStateOf(steps), answerState(steps, span));
    }

    /** A trace's answer state: the mean hidden state over its answer span, else over its last 4 own steps. */
    static float[] answerState(List<Generator.Step> steps, List<Integer> span) {
        return meanHidden(steps, span.isEmpty() ? lastOwn(steps) : span);
    }

    static float[] answerState(Text text, List<Generator.Step> steps, String answer) {
        return answerState(steps, answerSpan(text, steps, answer));
    }

    /**
     * Mean and min log-prob of the answer's span ({@link #answerSpan}): how sure the model was when it committed to
     * the answer. No answer: -10; a span without own steps (all written by the calculator): 0.
     */
    static double[] answerLogprobs(List<Generator.Step> steps, List<Integer> span, String answer) {
        if (span.isEmpty()) {
            double v = answer == null || steps.isEmpty() ? -10.0 : 0.0;
            return new double[] {v, v};
        }
        double[] values = new double[span.size()];
        double min = Double.POSITIVE_INFINITY;
        for (int k = 0; k < values.length; k++) {
            values[k] = steps.get(span.get(k)).signals.logprob;
            min = Math.min(min, values[k]);
        }
        return new double[] {Confidence.mean(values, 0, values.length), min};
    }

    /**
     * reason.py {@code _answer_span}: indices of the model's own steps that wrote the answer's last occurrence, where
     * the model committed to it (their log-probs are a sharper signal than the whole trace's, their hidden states
     * the answer probe's input). Tool tokens (the calculator's) say nothing of the model: where they wrote the
     * answer, its last own tokens count ({@link #lastOwn}). No answer: empty.
     */
    static List<Integer> answerSpan(Text text, List<Generator.Step> steps, String answer) {
        List<Integer> span = new ArrayList<>();
        if (answer == null || steps.isEmpty()) {
            return span;
        }
        int n = steps.size();
        int[] ends = new int[n];
        String decoded = "";
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = steps.get(i).tokenId;
            int[] prefix = new int[i + 1];
            System.arraycopy(ids, 0, prefix, 0, i + 1);
            decoded = text.decode(prefix);
            ends[i] = decoded.length();
        }
        int at = decoded.lastIndexOf(answer);
        for (int i = 0; at >= 0 && i < n; i++) {
            int begin = i == 0 ? 0 : ends[i - 1];
            if (ends[i] > at && begin < at + answer.length() && !steps.get(i).tool) {
                span.add(i);
            }
        }
        return span.isEmpty() ? lastOwn(steps) : span;
    }

    /**
     * Indices of the last steps the model wrote (not the calculator), as many as probes.json's fallback_tokens:
     * reason.py's {@code _own(steps)[-FALLBACK_TOKENS:]}.
     */
    static List<Integer> lastOwn(List<Generator.Step> steps) {
        List<Integer> own = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            if (!steps.get(i).tool) {
                own.add(i);
            }
        }
        return new ArrayList<>(own.subList(Math.max(0, own.size() - ProbeSpec.get().fallbackTokens), own.size()));
    }

    private static Map<String, Double> weights(List<Trace> traces) {
        Map<String, Double> totals = new LinkedHashMap<>();
        for (Trace t : traces) {
            if (t.answer == null) {
                continue;
            }
            String key = t.answer;
            for (String k : totals.keySet()) {
                if (Answers.sameAnswer(k, t.answer)) {
                    key = k;
                    break;
                }
            }
            Double old = totals.get(key);
            totals.put(key, (old == null ? 0.0 : old) + t.weight());
        }
        return totals;
    }

    /** True when the leader beats the runner-up even if every remaining trace (weight <= 1) disagrees. */
    static boolean settledVote(List<Trace> traces, int remaining) {
        List<Double> ranked = new ArrayList<>(weights(traces).values());
        if (ranked.isEmpty()) {
            return false;
        }
        Collections.sort(ranked, Collections.<Double>reverseOrder());
        double runnerUp = ranked.size() > 1 ? ranked.get(1) : 0.0;
        return ranked.get(0) - runnerUp > remaining;
    }
}
