package org.edgereason.demo;

import android.app.ActivityManager;
import android.content.Context;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import org.edgereason.core.ArtifactException;
import org.edgereason.core.ArtifactSpec;
import org.edgereason.core.Backend;
import org.edgereason.core.Manifest;
import org.edgereason.core.MemoryCheck;
import org.edgereason.core.SolveSpec;
import org.edgereason.core.Text;
import org.pytorch.executorch.ExecutorchRuntimeException;
import org.pytorch.executorch.Module;

/**
 * One loaded artifact: verified, checked against free memory, then opened with the backend its format names.
 * Held statically so the chat screen survives rotation without reloading 100 MB of weights.
 */
final class Session {
    static Session current;

    final Manifest manifest;
    final Backend backend;
    final Text text;
    /** Solve specs by strategy, once read: the folder was verified on load and does not change while loaded. */
    private final Map<String, SolveSpec> specs = new HashMap<>();

    private Session(Manifest manifest, Backend backend, Text text) {
        this.manifest = manifest;
        this.backend = backend;
        this.text = text;
    }

    /** Receives the loading stage for the progress line. */
    interface Progress {
        void stage(String what);
    }

    /**
     * Verifies, checks memory, loads.
     *
     * @throws LoadException with a message for the user: the checksum, memory or backend problem and its cause.
     */
    static Session open(Context context, Manifest m, boolean verifySha256, Progress progress) throws LoadException {
        try {
            if (verifySha256) {
                progress.stage("checking sha256 of " + m.files.size() + " files…");
                m.verify(true);
            }
        } catch (ArtifactException e) {
            throw new LoadException(e.getMessage(), e);
        }
        ActivityManager am = (ActivityManager) context.getSystemService(Context.ACTIVITY_SERVICE);
        ActivityManager.MemoryInfo info = new ActivityManager.MemoryInfo();
        am.getMemoryInfo(info);
        String tooBig = MemoryCheck.problem(m, info.availMem, info.totalMem);
        if (tooBig != null) {
            throw new LoadException(tooBig, null);
        }
        Text text;
        try {
            progress.stage("reading the tokenizer…");
            text = Text.load(m);
        } catch (IOException | IllegalArgumentException e) {
            throw new LoadException(m.folder.getName() + ": the tokenizer cannot be used (" + e.getMessage() + ")", e);
        }
        progress.stage("loading " + m.modelFile().getName() + " with "
                + (m.format.equals("pte") ? "ExecuTorch" : "ONNX Runtime") + "…");
        Backend backend;
        try {
            int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
            backend = m.format.equals("pte") ? new PteBackend(m, m.modelFile())
                    : new OnnxBackend(m, m.modelFile(), threads);
        } catch (Throwable t) { // native errors (UnsatisfiedLinkError) are Errors, and they are what the user needs
            throw new LoadException("loading " + m.modelFile().getName() + " failed: " + describe(t), t);
        }
        return new Session(m, backend, text);
    }

    /**
     * The solve spec a solve with {@code strategy} follows, as the Python runtime's {@code LoadedModel.spec} picks
     * it: the folder's {@code solve.<strategy>.json} (from {@code edgereason calibrate}, with its calibrator), else
     * the bundled defaults with that strategy, uncalibrated, bound to this artifact's chat template.
     *
     * @throws ArtifactException the spec is broken, another artifact's or strategy's, or the folder holds an older
     *     edgereason's calibrator file: the same one line Python refuses it with (a solve never runs on a guess).
     */
    synchronized SolveSpec spec(String strategy) throws ArtifactException {
        SolveSpec spec = specs.get(strategy);
        if (spec == null) {
            spec = ArtifactSpec.forArtifact(manifest, text, strategy);
            specs.put(strategy, spec);
        }
        return spec;
    }

    /** The real cause of a failure: the innermost message, ExecuTorch's detailed error, not an error number. */
    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String message = c.getMessage();
            if (c instanceof ExecutorchRuntimeException) {
                message = ((ExecutorchRuntimeException) c).getDetailedError() + executorchLog();
            } else if (c instanceof UnsatisfiedLinkError) {
                message = "native library missing for this device's ABI (" + message
                        + "): install an APK built with the arm64-v8a libraries";
            } else if (c instanceof OutOfMemoryError) {
                message = "out of memory: close other apps or use a smaller artifact";
            }
            b.append(b.length() > 0 ? "; caused by " : "").append(c.getClass().getSimpleName()).append(": ")
                    .append(message);
        }
        return b.toString();
    }

    /** The last lines of ExecuTorch's own log ("Missing operator ...", "Invalid program ..."). */
    private static String executorchLog() {
        String[] lines = Module.readLogBufferStatic();
        StringBuilder b = new StringBuilder();
        for (int k = Math.max(0, lines.length - 5); k < lines.length; k++) {
            b.append("\n  ").append(lines[k]);
        }
        return b.toString();
    }

    void close() {
        try {
            backend.close();
        } catch (IOException e) {
            android.util.Log.w("edgereason", "closing the backend failed", e);
        }
    }

    /** A load that failed, with a message for the user. */
    static final class LoadException extends Exception {
        private static final long serialVersionUID = 1L;

        LoadException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
