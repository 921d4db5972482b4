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
 * The artifact folder contract (DESIGN.md section 5), read as edgereason/artifact.py reads it: the same
 * manifest.json, the same checks (every listed file present with its size, sha256 unless opted out) and the same
 * messages, so a folder copied to the phone is trusted exactly as far as on the host.
 */
public final class Manifest {
    public static final int SCHEMA_VERSION = 1;
    public static final String FILE = "manifest.json";

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

    private Manifest(File folder, Map<String, Object> d) {
        this.folder = folder;
        Map<String, Object> model = Json.object(d.get("model"), "model");
        Map<String, Object> arch = Json.object(d.get("arch"), "arch");
        Map<String, Object> tok = Json.object(d.get("tokenizer"), "tokenizer");
        Map<String, Object> io = Json.object(d.get("io"), "io");
        modelName = Json.string(model.get("name"), "model.name");
        format = Json.string(d.get("format"), "format");
        recipe = Json.string(Json.object(d.get("recipe"), "recipe").get("name"), "recipe.name");
        numLayers = (int) Json.integer(arch.get("n_layers"), "arch.n_layers");
        numKvHeads = (int) Json.integer(arch.get("n_kv_heads"), "arch.n_kv_heads");
        headDim = (int) Json.integer(arch.get("head_dim"), "arch.head_dim");
        vocabSize = (int) Json.integer(arch.get("vocab_size"), "arch.vocab_size");
        maxSeqLen = (int) Json.integer(arch.get("max_seq_len"), "arch.max_seq_len");
        tokenizerFile = tok.get("file") == null ? null : Json.string(tok.get("file"), "tokenizer.file");
        bosId = tok.get("bos_id") == null ? null : (int) Json.integer(tok.get("bos_id"), "tokenizer.bos_id");
        addBos = Boolean.TRUE.equals(tok.get("add_bos"));
        List<Integer> eos = new ArrayList<>();
        for (Object o : Json.array(tok.get("eos_ids"), "tokenizer.eos_ids")) {
            eos.add((int) Json.integer(o, "tokenizer.eos_ids[]"));
        }
        eosIds = Collections.unmodifiableList(eos);
        chatTemplate = tok.get("chat_template") == null ? null : Json.string(tok.get("chat_template"),
                "tokenizer.chat_template");
        ioMethod = Json.string(io.get("method"), "io.method");
        ioLogits = Json.string(io.get("logits"), "io.logits");
        Map<String, FileEntry> f = new LinkedHashMap<>();
        Object listed = d.get("files");
        if (listed != null) {
            for (Map.Entry<String, Object> e : Json.object(listed, "files").entrySet()) {
                Map<String, Object> entry = Json.object(e.getValue(), "files." + e.getKey());
                f.put(e.getKey(), new FileEntry(Json.integer(entry.get("bytes"), "bytes"),
                        Json.string(entry.get("sha256"), "sha256")));
            }
        }
        files = Collections.unmodifiableMap(f);
        if (!format.equals("pte") && !format.equals("onnx")) {
            throw new IllegalArgumentException("format must be \"pte\" or \"onnx\", got \"" + format + "\"");
        }
    }

    /**
     * Reads {@code folder/manifest.json}; checks every file's size, and its sha256 when {@code verifySha256}.
     *
     * @throws ArtifactException a missing folder or manifest, unreadable JSON, a missing file or a mismatch.
     */
    public static Manifest read(File folder, boolean verifySha256) throws ArtifactException {
        Manifest m = readUnverified(folder);
        m.verify(verifySha256);
        return m;
    }

    public static Manifest readUnverified(File folder) throws ArtifactException {
        if (!folder.isDirectory()) {
            throw new ArtifactException(folder + " is not an artifact folder: pass a folder made by `edgereason export`");
        }
        File path = new File(folder, FILE);
        if (!path.isFile()) {
            throw new ArtifactException(folder + " has no " + FILE + ": pass a folder made by `edgereason export`");
        }
        Map<String, Object> d;
        try {
            d = Json.object(Json.read(path),
                    FILE);
        } catch (IOException | IllegalArgumentException e) {
            throw new ArtifactException(path + " is not valid JSON (" + e.getMessage() + "): re-export the artifact",
                    e);
        }
        Object version = d.get("schema_version");
        if (!(version instanceof Long) || (Long) version != SCHEMA_VERSION) {
            throw new ArtifactException("manifest schema_version " + version + " is not " + SCHEMA_VERSION
                    + ": re-export the artifact with this edgereason version");
        }
        try {
            return new Manifest(folder, d);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new ArtifactException("manifest.json is incomplete (" + e.getMessage() + "): re-export the artifact",
                    e);
        }
    }

    /** Every listed file present with its size; sha256 too when asked (reads every byte: seconds for 100 MB). */
    public void verify(boolean sha256) throws ArtifactException {
        for (Map.Entry<String, FileEntry> e : files.entrySet()) {
            File f = new File(folder, e.getKey());
            if (!f.isFile()) {
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
