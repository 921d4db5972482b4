package org.edgereason.demo;

import android.app.Activity;
import android.graphics.Color;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.text.SpannableStringBuilder;
import android.text.Spanned;
import android.text.style.BackgroundColorSpan;
import android.text.style.StyleSpan;
import android.view.inputmethod.EditorInfo;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.RadioButton;
import android.widget.RadioGroup;
import android.widget.ScrollView;
import android.widget.Spinner;
import android.widget.TextView;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.edgereason.core.Answers;
import org.edgereason.core.Arithmetic;
import org.edgereason.core.ArtifactException;
import org.edgereason.core.ChatTemplate;
import org.edgereason.core.Confidence;
import org.edgereason.core.Generator;
import org.edgereason.core.Reasoner;
import org.edgereason.core.Sampler;
import org.edgereason.core.Schema;
import org.edgereason.core.SolveSpec;
import org.edgereason.core.Tokenizer;

/**
 * Chat and solve on the loaded artifact. Tokens stream tinted by their top-1 probability (the calculator's in blue);
 * each answer ends with P(correct), accept / escalate and the reasons, and each trace's false arithmetic statements.
 * The stats line shows TTFT and decode tok/s. A solve follows the artifact's solve spec for the chosen strategy
 * ({@link Session#spec}): its prompt with few-shot turns, settings and calibrator, as {@code edgereason solve} does.
 */
public class ChatActivity extends Activity {
    private static final int MAX_CHAT_TOKENS = 256;

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final Handler ui = new Handler(Looper.getMainLooper());
    private final List<Map<String, Object>> history = new ArrayList<>();
    private final SpannableStringBuilder transcript = new SpannableStringBuilder();
    private TextView transcriptView;
    private ScrollView scroll;
    private TextView stats;
    private EditText input;
    private RadioButton solveMode;
    private Spinner strategy;
    private Future<?> running;
    private Session session;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        session = Session.current;
        if (session == null) { // process restarted: the model is gone, go back to the list
            finish();
            return;
        }
        LinearLayout root = new LinearLayout(this);
        root.setOrientation(LinearLayout.VERTICAL);
        int pad = (int) (8 * getResources().getDisplayMetrics().density);
        root.setPadding(pad, pad, pad, pad);
        TextView title = new TextView(this);
        title.setText(session.manifest.folder.getName() + " (" + session.manifest.format + ", "
                + session.manifest.recipe + ")");
        root.addView(title);
        RadioGroup modes = new RadioGroup(this);
        modes.setOrientation(RadioGroup.HORIZONTAL);
        RadioButton chat = new RadioButton(this);
        chat.setText("Chat");
        chat.setId(1);
        solveMode = new RadioButton(this);
        solveMode.setText("Solve");
        solveMode.setId(2);
        modes.addView(chat);
        modes.addView(solveMode);
        modes.check(1);
        root.addView(modes);
        strategy = new Spinner(this);
        ArrayAdapter<String> strategies = new ArrayAdapter<>(this, android.R.layout.simple_spinner_item,
                strategyNames());
        strategies.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        strategy.setAdapter(strategies);
        root.addView(strategy);
        stats = new TextView(this);
        root.addView(stats);
        scroll = new ScrollView(this);
        transcriptView = new TextView(this);
        transcriptView.setTextIsSelectable(true);
        scroll.addView(transcriptView);
        root.addView(scroll, new LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f));
        input = new EditText(this);
        input.setHint("Message, or a math question in Solve mode");
        input.setImeOptions(EditorInfo.IME_ACTION_SEND);
        root.addView(input);
        LinearLayout buttons = new LinearLayout(this);
        Button send = new Button(this);
        send.setText("Send");
        send.setOnClickListener(v -> send());
        Button stop = new Button(this);
        stop.setText("Stop");
        stop.setOnClickListener(v -> {
            if (running != null) {
                running.cancel(true); // interrupts the decode loop, which ends the trace as "cancelled"
            }
        });
        Button clear = new Button(this);
        clear.setText("New chat");
        clear.setOnClickListener(v -> {
            history.clear();
            transcript.clear();
            transcriptView.setText(transcript);
        });
        buttons.addView(send);
        buttons.addView(stop);
        buttons.addView(clear);
        root.addView(buttons);
        setContentView(root);
    }

    /** Every strategy, the default spec's first (the one a solve without a choice uses). */
    private static List<String> strategyNames() {
        List<String> names = new ArrayList<>();
        names.add(SolveSpec.defaults().config.strategy.value);
        for (Reasoner.Strategy s : Reasoner.Strategy.values()) {
            if (!names.contains(s.value)) {
                names.add(s.value);
            }
        }
        return names;
    }

    @Override
    protected void onDestroy() {
        worker.shutdownNow();
        super.onDestroy();
    }

    private void send() {
        final String question = input.getText().toString().trim();
        if (question.isEmpty() || (running != null && !running.isDone())) {
            return;
        }
        input.setText("");
        append("\n" + (solveMode.isChecked() ? "Problem: " : "You: ") + question + "\n", true);
        final boolean solve = solveMode.isChecked();
        final String strategyName = (String) strategy.getSelectedItem();
        running = worker.submit(() -> {
            try {
                if (solve) {
                    runSolve(question, strategyName);
                } else {
                    runChat(question);
                }
            } catch (Throwable t) { // shown, never swallowed: a decode failure is the user's only clue
                final String message = Session.describe(t);
                ui.post(() -> append("\n[error] " + message + "\n", true));
            }
        });
    }

    /**
     * Streams tokens into the transcript, tinted by confidence. Stats per trace: TTFT is the first token's time
     * (prefill included); decode tok/s counts the tokens after it, over their wall time (probes included).
     */
    private final class Streamer implements Generator.Listener {
        final Tokenizer.StreamDecoder decoder = session.text.stream();
        double ttftMs;
        double previousMs;
        double decodeMs;
        int decodeTokens;
        int count;

        @Override
        public void onStep(Generator.Step step) {
            final String piece = decoder.push(step.tokenId);
            final int color = step.tool ? TOOL_TINT : tint(step.signals.top1Prob);
            count++;
            if (step.index == 0) { // a new trace: its elapsed time starts again at its own prefill
                ttftMs = step.elapsedMs;
            } else {
                decodeTokens++;
                decodeMs += step.elapsedMs - previousMs;
            }
            previousMs = step.elapsedMs;
            final String line = statsLine();
            ui.post(() -> {
                int start = transcript.length();
                transcript.append(piece);
                transcript.setSpan(new BackgroundColorSpan(color), start, transcript.length(),
                        Spanned.SPAN_EXCLUSIVE_EXCLUSIVE);
                transcriptView.setText(transcript);
                stats.setText(line);
                scroll.post(() -> scroll.fullScroll(ScrollView.FOCUS_DOWN));
            });
        }

        String statsLine() {
            return String.format(Locale.ROOT, "TTFT %.0f ms · %d tokens · decode %.1f tok/s", ttftMs, count,
                    decodeMs > 0 ? decodeTokens / (decodeMs / 1000.0) : 0.0);
        }
    }

    /** A token the calculator wrote (compute mode): it says nothing of the model's confidence. */
    static final int TOOL_TINT = Color.argb(70, 0, 160, 255);

    /** Green (sure) to red (unsure), translucent so the text stays readable. */
    static int tint(double top1Prob) {
        if (top1Prob >= 0.9) {
            return Color.argb(60, 0, 200, 0);
        }
        if (top1Prob >= 0.6) {
            return Color.argb(70, 200, 200, 0);
        }
        if (top1Prob >= 0.3) {
            return Color.argb(80, 255, 140, 0);
        }
        return Color.argb(90, 255, 0, 0);
    }

    /**
     * A greedy reply to the conversation, judged as one greedy trace: the artifact's greedy spec scores it (its
     * calibrator, calculator and confidence window), the whole reply being the answer. A chat follows no spec (as
     * {@code edgereason serve}'s chat completions), so a refused spec leaves the reply unjudged, with the refusal, rather
     * than unanswered or judged by a guess.
     */
    private void runChat(String message) throws Exception {
        SolveSpec spec = null;
        String refused = null;
        try {
            spec = session.spec(Reasoner.Strategy.GREEDY.value);
        } catch (ArtifactException e) {
            refused = e.getMessage();
        }
        history.add(ChatTemplate.message("user", message));
        int[] prompt = session.text.promptIds(history);
        Streamer streamer = new Streamer();
        ui.post(() -> append("Model: ", true));
        Confidence.Trace trace = spec == null ? new Confidence.Trace()
                : new Confidence.Trace(spec.config.abortWindow, Confidence.DEFAULT_TAIL);
        int budget = Math.min(MAX_CHAT_TOKENS, session.backend.maxSeqLen - prompt.length);
        if (budget < 1) {
            history.clear();
            throw new IllegalStateException("the conversation fills the context of " + session.backend.maxSeqLen
                    + " tokens: tap New chat");
        }
        List<Generator.Step> steps = Generator.generate(session.backend, prompt, new Sampler(Sampler.Config.greedy()),
                budget, null, null, trace, true, streamer);
        history.add(ChatTemplate.message("assistant", session.text.decode(Generator.ids(steps))));
        String judged = "not judged: " + refused;
        if (spec != null) {
            Reasoner.Result verdict = Reasoner.judgeReply(session.text, steps, trace, spec);
            judged = verdictLine(verdict) + arithmeticLines(verdict.traces);
        }
        final String summary = judged + "\n" + streamer.statsLine();
        ui.post(() -> append("\n" + summary + "\n", false));
    }

    private void runSolve(String question, String strategyName) throws Exception {
        SolveSpec spec = session.spec(strategyName);
        final Streamer streamer = new Streamer();
        Reasoner.Result r = Reasoner.solve(session.backend, session.text, question, spec, Answers.Kind.MATH,
                Collections.<String>emptyList(), step -> {
                    streamer.onStep(step);
                    if (step.finishReason != null) {
                        final String end = "  [" + step.finishReason + "]\n";
                        ui.post(() -> append(end, false));
                    }
                });
        final String summary = "Answer: " + (r.answer == null ? "(none)" : r.answer) + "\n" + verdictLine(r) + "\n"
                + String.format(Locale.ROOT, "%d traces · %d tokens + %d probe tokens · %.1f s", r.traces.size(),
                r.tokensGenerated, r.probeTokens, r.seconds) + arithmeticLines(r.traces) + "\n" + streamer.statsLine();
        ui.post(() -> append(summary + "\n", true));
    }

    private static String verdictLine(Reasoner.Result r) {
        String pIK = r.pIK == null ? "" : String.format(Locale.ROOT, " · P(IK) %.2f (hidden-state probe on the prompt, "
                + "before decoding)", r.pIK);
        return String.format(Locale.ROOT, "P(correct) %.2f%s → %s: %s", r.pCorrect, r.calibrated ? "" : " (raw)",
                r.decision.toUpperCase(Locale.ROOT), Schema.join("; ", r.reasons)) + pIK;
    }

    /**
     * "trace 1 arithmetic: 2 statements, 1 false: 12 - 7 = 2 (true value 5)" for each trace that wrote any, as
     * `edgereason run --show-confidence` summarizes them.
     */
    private static String arithmeticLines(List<Reasoner.Trace> traces) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < traces.size(); k++) {
            Reasoner.Trace t = traces.get(k);
            if (t.statements.isEmpty()) {
                continue;
            }
            b.append(String.format(Locale.ROOT, "\ntrace %d arithmetic: %d statement%s, %d false", k + 1,
                    t.statements.size(), t.statements.size() == 1 ? "" : "s", t.falseStatements()));
            String sep = ": ";
            for (Arithmetic.Statement st : t.statements) {
                if (!st.right) {
                    b.append(sep).append(st.text.replace('\n', ' ')).append(st.value == null
                            ? " (undefined: division by zero)" : " (true value " + st.value + ")");
                    sep = "; ";
                }
            }
            if (t.toolTokens > 0) {
                b.append(String.format(Locale.ROOT, " · %d tokens by the calculator", t.toolTokens));
            }
        }
        return b.toString();
    }

    private void append(String text, boolean bold) {
        int start = transcript.length();
        transcript.append(text);
        if (bold) {
            transcript.setSpan(new StyleSpan(android.graphics.Typeface.BOLD), start, transcript.length(),
                    Spanned.SPAN_EXCLUSIVE_EXCLUSIVE);
        }
        transcriptView.setText(transcript);
        scroll.post(() -> scroll.fullScroll(ScrollView.FOCUS_DOWN));
    }
}
