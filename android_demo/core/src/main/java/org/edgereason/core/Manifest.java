package org.edgereason.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.TreeMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The artifact folder contract (DESIGN.md section 5), read as edgereason/artifact.py reads it: manifest.json checked
 * against edgereason/schemas/manifest.schema.json, then the same rules across fields, then the folder holds exactly
 * the listed plain files with their sizes (and sha256 unless opted out), with the same messages in the same order,
 * so a folder copied to the phone is trusted exactly as far as on the host (tests/golden/bad_files.json holds both
 * to the same cases).
 */
public final class Manifest {
    public static final int SCHEMA_VERSION = 1;
    public static final String FILE = "manifest.json";
    static final String GENAI_CONFIG = "genai_config.json";
    private static final String FIX = "re-export the artifact";

    /** Size and sha256 of one file of the folder. */
    public static final class FileEntry {
        public final long bytes;
        public final String sha256;

        FileEntry(long bytes, String sha256) {
            this.bytes = bytes;
            this.sha256 = sha256;
        }
    }

    public final File folder;
    public final String modelName;
    public final String format; // "pte" | "onnx"
    public final String recipe;
    public final int numLayers;
    public final int numHeads;
    public final int numKvHeads;
    public final int headDim;
    public final int vocabSize;
    public final int maxSeqLen;
    public final String tokenizerFile; // null: exported without a tokenizer (token ids only)
    public final Integer bosId;
    public final boolean addBos;
    public final List<Integer> eosIds;
    public final String chatTemplate; // null: plain concatenation
    public final String ioMethod; // method name (.pte) or model file (.onnx)
    public final String ioLogits; // "last" | "all"
    public final Map<String, FileEntry> files;

    /** From data that passed the schema: every field is there with its type and bounds. */
    private Manifest(File folder, Map<String, Object> d) {
        this.folder = folder;
        Map<String, Object> arch = Json.object(d.get("arch"), "arch");
        Map<String, Object> tok = Json.object(d.get("tokenizer"), "tokenizer");
        Map<String, Object> io = Json.object(d.get("io"), "io");
        modelName = (String) Json.object(d.get("model"), "model").get("name");
        format = (String) d.get("format");
        recipe = (String) Json.object(d.get("recipe"), "recipe").get("name");
        numLayers = (int) Json.integer(arch.get("n_layers"), "arch.n_layers");
        numHeads = (int) Json.integer(arch.get("n_heads"), "arch.n_heads");
        numKvHeads = (int) Json.integer(arch.get("n_kv_heads"), "arch.n_kv_heads");
        headDim = (int) Json.integer(arch.get("head_dim"), "arch.head_dim");
        vocabSize = (int) Json.integer(arch.get("vocab_size"), "arch.vocab_size");
        maxSeqLen = (int) Json.integer(arch.get("max_seq_len"), "arch.max_seq_len");
        tokenizerFile = (String) tok.get("file");
        bosId = tok.get("bos_id") == null ? null : (int) Json.integer(tok.get("bos_id"), "tokenizer.bos_id");
        addBos = Boolean.TRUE.equals(tok.get("add_bos"));
        List<Integer> eos = new ArrayList<>();
        for (Object o : Json.array(tok.get("eos_ids"), "tokenizer.eos_ids")) {
            eos.add((int) Json.integer(o, "tokenizer.eos_ids[]"));
        }
        eosIds = Collections.unmodifiableList(eos);
        chatTemplate = (String) tok.get("chat_template");
        ioMethod = (String) io.get("method");
        ioLogits = (String) io.get("logits");
        Map<String, FileEntry> f = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : Json.object(d.get("files"), "files").entrySet()) {
            Map<String, Object> entry = Json.object(e.getValue(), e.getKey());
            f.put(e.getKey(), new FileEntry(Json.integer(entry.get("bytes"), "bytes"), (String) entry.get("sha256")));
        }
        files = Collections.unmodifiableMap(f);
    }

    /**
     * Reads and validates {@code folder/manifest.json}; checks the folder holds exactly the listed plain files, each
     * of the listed size, and with its sha256 when {@code verifySha256}.
     *
     * @throws ArtifactException a missing folder or manifest, invalid JSON or field, an unlisted, missing, linked or
     *     mismatched file.
     */
    public static Manifest read(File folder, boolean verifySha256) throws ArtifactException {
        Manifest m = readUnverified(folder);
        m.verify(verifySha256);
        return m;
    }

    /** The manifest, validated, without looking at the other files. */
    public static Manifest readUnverified(File folder) throws ArtifactException {
        if (!folder.isDirectory()) {
            throw new ArtifactException(folder + " is not an artifact folder: pass a folder made by `edgereason export`");
        }
        File path = new File(folder, FILE);
        if (!path.isFile()) {
            throw new ArtifactException(folder + " has no " + FILE + ": pass a folder made by `edgereason export`");
        }
        Object data = Schema.readJson(path, "an artifact manifest", FIX);
        return check(folder, data, folder.getName() + "/" + FILE);
    }

    /** artifact.py {@code check_manifest}: the schema, then the rules across fields, in its order. */
    static Manifest check(File folder, Object data, String label) throws ArtifactException {
        if (data instanceof Map && ((Map<?, ?>) data).containsKey("schema_version")) {
            Object v = ((Map<?, ?>) data).get("schema_version");
            // artifact.py: only an integer other than 1 is another version; any other value is left to the schema.
            if ((v instanceof Long || v instanceof java.math.BigInteger) && !Schema.same(v, 1L)) {
                throw new ArtifactException(label + ": schema_version " + Schema.head(Schema.pyStr(v), 20) + " is not "
                        + SCHEMA_VERSION + ": re-export the artifact with this edgereason version");
            }
        }
        Schema.get("manifest").validate(data, label, FIX);
        Manifest m = new Manifest(folder, Json.object(data, label));
        if (m.numHeads % m.numKvHeads != 0) {
            throw bad(label, "arch.n_kv_heads", m.numKvHeads + " does not divide arch.n_heads " + m.numHeads);
        }
        for (int k = 0; k < m.eosIds.size(); k++) {
            if (m.eosIds.get(k) >= m.vocabSize) {
                throw bad(label, "tokenizer.eos_ids[" + k + "]", m.eosIds.get(k) + " is outside the vocabulary of "
                        + m.vocabSize);
            }
        }
        if (m.bosId != null && m.bosId >= m.vocabSize) {
            throw bad(label, "tokenizer.bos_id", m.bosId + " is outside the vocabulary of " + m.vocabSize);
        }
        if (m.format.equals("onnx") && !m.ioMethod.endsWith(".onnx")) {
            throw bad(label, "io.method", Schema.pyRepr(m.ioMethod) + " is not an .onnx file name");
        }
        for (String name : m.requiredFiles()) {
            if (!m.files.containsKey(name)) {
                throw bad(label, "files", name + " is not listed, so it could not be verified");
            }
        }
        return m;
    }

    private static ArtifactException bad(String label, String field, String problem) {
        return new ArtifactException(label + ": " + field + ": " + problem + ": " + FIX);
    }

    /** Files a backend of this format opens; each must be listed (and so verified). */
    List<String> requiredFiles() {
        List<String> names = new ArrayList<>();
        names.add(format.equals("pte") ? "model.pte" : ioMethod);
        if (format.equals("onnx")) {
            names.add(GENAI_CONFIG);
        }
        if (tokenizerFile != null && !tokenizerFile.isEmpty()) {
            names.add(tokenizerFile);
        }
        return names;
    }

    /**
     * artifact.py {@code verify_files}: the folder's files are exactly the listed ones (plus the manifest), with the
     * listed sizes, and sha256 when asked (reads every byte: seconds for 100 MB).
     */
    public void verify(boolean sha256) throws ArtifactException {
        Map<String, File> present = new LinkedHashMap<>();
        try {
            walk(folder.getCanonicalFile(), "", present);
        } catch (IOException e) {
            throw new ArtifactException("cannot read " + folder + " (" + e.getMessage() + "): copy the folder again", e);
        }
        present.remove(FILE);
        for (String name : present.keySet()) {
            if (!files.containsKey(name)) {
                throw new ArtifactException(folder.getName() + ": " + name + " is in the folder but not in the manifest,"
                        + " so it cannot be verified: remove it, or re-export the artifact");
            }
        }
        for (Map.Entry<String, FileEntry> e : files.entrySet()) {
            File f = present.get(e.getKey());
            if (f == null) {
                throw new ArtifactException(folder.getName() + ": " + e.getKey()
                        + " is missing: re-export or copy the whole folder");
            }
            if (f.length() != e.getValue().bytes) {
                throw new ArtifactException(folder.getName() + ": " + e.getKey() + " is " + f.length()
                        + " bytes, manifest says " + e.getValue().bytes
                        + ": the copy is incomplete or corrupt; copy or re-export it");
            }
            if (sha256 && !sha256(f).equals(e.getValue().sha256)) {
                throw new ArtifactException(folder.getName() + ": " + e.getKey()
                        + " fails its sha256 check: the file is corrupt; copy or re-export it");
            }
        }
    }

    /**
     * artifact.py {@code folder_files}, top-down as os.walk: every plain file under {@code dir} (a canonical path) by
     * its '/'-separated name. Links are refused whatever they point at: export never writes one, and a link is how a
     * name that looks inside the folder reads a file outside it. java.nio.file's lstat needs Android API 26, so a
     * link is an entry whose canonical path is not its own, or that does not exist (a dangling or looping link).
     */
    private void walk(File dir, String prefix, Map<String, File> found) throws IOException, ArtifactException {
        String[] names = dir.list();
        if (names == null) {
            return; // unreadable: os.walk skips it too, and its listed files are then missing
        }
        List<File> entries = new ArrayList<>(); // os.walk's order: the folders, then the rest
        List<File> rest = new ArrayList<>();
        for (String name : names) {
            File f = new File(dir, name);
            (f.isDirectory() ? entries : rest).add(f);
        }
        entries.addAll(rest);
        List<File> subfolders = new ArrayList<>();
        for (File f : entries) {
            String rel = prefix + f.getName();
            if (!f.exists() || !f.getCanonicalFile().equals(f)) {
                throw new ArtifactException(folder.getName() + ": " + rel + " is a symbolic link: an artifact folder "
                        + "holds plain files only; copy the real file in (cp -L) or re-export");
            }
            if (f.isFile()) {
                found.put(rel, f);
            } else if (f.isDirectory()) {
                subfolders.add(f);
            } else {
                throw new ArtifactException(folder.getName() + ": " + rel + " is not a regular file: remove it or "
                        + "re-export");
            }
        }
        for (File sub : subfolders) {
            walk(sub, prefix + sub.getName() + "/", found);
        }
    }

    /** The model file: model.pte, or the .onnx graph named by io.method. */
    public File modelFile() {
        return new File(folder, format.equals("pte") ? "model.pte" : ioMethod);
    }

    /** Bytes of the weights (model file plus external data), what loading maps into memory. */
    public long modelBytes() {
        long total = 0;
        for (Map.Entry<String, FileEntry> e : files.entrySet()) {
            String name = e.getKey();
            if (name.endsWith(".pte") || name.endsWith(".onnx") || name.endsWith(".onnx.data")) {
                total += e.getValue().bytes;
            }
        }
        return total;
    }

    /** Bytes of a float32 KV cache for the full context: 2 (K, V) x layers x kv heads x max_seq_len x head dim. */
    public long kvCacheBytes() {
        return 2L * numLayers * numKvHeads * (long) maxSeqLen * headDim * 4L;
    }

    /** Lowercase hex sha256 of a file. */
    public static String sha256(File f) throws ArtifactException {
        try (InputStream in = new FileInputStream(f)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            StringBuilder hex = new StringBuilder();
            for (byte b : md.digest()) {
                hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
            }
            return hex.toString();
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new ArtifactException("cannot read " + f + " (" + e.getMessage() + "): copy the folder again", e);
        }
    }

    /** sha256 of the model file(s), "+"-joined in name order as runtime/__init__.py does: a calibrator's key. */
    public String modelSha256() {
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, FileEntry> e : new TreeMap<>(files).entrySet()) {
            if (e.getKey().startsWith("model.")) {
                out.append(out.length() > 0 ? "+" : "").append(e.getValue().sha256);
            }
        }
        return out.toString();
    }
}
