package org.edgereason.core;

import java.io.File;

/**
 * An artifact's solve spec, found and trusted as runtime/spec.py's {@code load_spec} / {@code read_spec} /
 * {@code check_artifact} and runtime/__init__.py's {@code LoadedModel.spec} do, with their messages: the folder's
 * {@code solve.<strategy>.json} (written by {@code edgereason calibrate} and listed in the manifest, so reading the
 * folder has verified its bytes), else the bundled defaults with that strategy; refused when it belongs to other
 * model files (its template and calibrator are another artifact's), or when the folder still holds a calibrator
 * file of an older edgereason (fitted on a prompt nobody recorded).
 */
public final class ArtifactSpec {
    /** What {@code edgereason calibrate} wrote before solve specs: a calibrator without its prompt. */
    public static final String OLD_CALIBRATOR = "calibrator.%s.json";

    private ArtifactSpec() {
    }

    /**
     * runtime/__init__.py {@code LoadedModel.spec}: the spec a solve with {@code strategy} uses on this artifact,
     * bound to its chat template ({@link SolveSpec#bind}) when it has no rendered template, else checked against it
     * ({@link SolveSpec#checkTemplate}); {@code text} null (a tokenizer-free artifact): neither.
     *
     * @throws ArtifactException an invalid spec, another artifact's or strategy's, an old calibrator file, a
     *     template edited after it was written, or a chat template that does not copy the question verbatim.
     */
    public static SolveSpec forArtifact(Manifest manifest, Text text, String strategy) throws ArtifactException {
        SolveSpec found = load(manifest, strategy);
        if (found != null) {
            return checked(found, manifest, text, manifest.folder.getName() + "/" + String.format(SolveSpec.FILE,
                    strategy));
        }
        return checked(SolveSpec.defaults().with("strategy", strategy), manifest, text, "defaults");
    }

    private static SolveSpec checked(SolveSpec spec, Manifest manifest, Text text, String label)
            throws ArtifactException {
        String sha = manifest.modelSha256();
        checkArtifact(spec, sha, label);
        if (text == null) { // a tokenizer-free artifact: no prompt text to render
            return spec;
        }
        if (!spec.hasTemplates()) {
            return spec.bind(text, sha);
        }
        spec.checkTemplate(text, label);
        return spec;
    }

    /**
     * spec.py {@code load_spec}: the artifact's spec for {@code strategy}, or null when the folder has none.
     *
     * @throws ArtifactException it belongs to another artifact or strategy, names no artifact, or the folder holds
     *     a calibrator file of an older edgereason.
     */
    public static SolveSpec load(Manifest manifest, String strategy) throws ArtifactException {
        File old = new File(manifest.folder, String.format(OLD_CALIBRATOR, strategy));
        String name = String.format(SolveSpec.FILE, strategy);
        if (old.isFile()) {
            throw new ArtifactException(old + " is a calibrator of an older edgereason (its prompt is not recorded): "
                    + "remove it (and its manifest entry) and run `edgereason calibrate` again, which writes " + name);
        }
        File path = new File(manifest.folder, name);
        if (!path.isFile()) {
            return null;
        }
        SolveSpec spec = read(path, manifest.modelSha256());
        String label = manifest.folder.getName() + "/" + name;
        if (!spec.config.strategy.value.equals(strategy)) {
            throw new ArtifactException(label + ": settings.strategy: " + Schema.pyRepr(spec.config.strategy.value)
                    + " is not this file's strategy " + Schema.pyRepr(strategy) + ": " + SolveSpec.FIX);
        }
        if (spec.artifactSha256 == null) {
            throw new ArtifactException(label + ": artifact_sha256: an artifact's spec must name its model files: "
                    + SolveSpec.FIX);
        }
        return spec;
    }

    /**
     * spec.py {@code read_spec}: a spec file, refused if it belongs to another artifact than {@code artifactSha256}
     * (null: not checked here). A folder is refused with the file to pass instead (the artifact folder is not its
     * spec).
     */
    public static SolveSpec read(File path, String artifactSha256) throws ArtifactException {
        if (path.isDirectory()) {
            throw new ArtifactException(path + " is a folder: pass a solve spec file (`solve.<strategy>.json` in it, "
                    + "or one written by `edgereason spec FOLDER -o FILE`)");
        }
        if (!path.isFile()) {
            throw new ArtifactException(path + " does not exist: pass a solve spec (`solve.<strategy>.json` from "
                    + "`edgereason calibrate`, or one written by `edgereason spec FOLDER`)");
        }
        Object data = Schema.readJson(path, "a solve spec", SolveSpec.FIX);
        SolveSpec spec = SolveSpec.check(data, path.getName(), SolveSpec.FIX);
        if (artifactSha256 != null) {
            checkArtifact(spec, artifactSha256, path.toString());
        }
        return spec;
    }

    /** spec.py {@code check_artifact}: refuse a spec tied to other model files. */
    public static void checkArtifact(SolveSpec spec, String artifactSha256, String label) throws ArtifactException {
        if (spec.artifactSha256 != null && !spec.artifactSha256.equals(artifactSha256)) {
            throw new ArtifactException(label + " belongs to another artifact (sha256 " + prefix(spec.artifactSha256)
                    + "…, this one is " + prefix(artifactSha256) + "…): use that artifact's spec, or run `edgereason "
                    + "calibrate` on this one");
        }
    }

    /** Python's s[:12]. */
    private static String prefix(String s) {
        return Schema.head(s, 12);
    }
}
