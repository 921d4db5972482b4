package org.edgereason.demo;

import android.content.Context;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.edgereason.core.ArtifactException;
import org.edgereason.core.Manifest;

/**
 * The sideloaded artifact folders: {@code adb push <folder> /sdcard/Android/data/<package>/files/artifacts/}
 * (what `edgereason android push` runs). That folder needs no storage permission on any API level.
 */
final class Artifacts {
    /** One folder of the listing: its manifest, or why it cannot be used. */
    static final class Entry {
        final File folder;
        final Manifest manifest; // null when unusable
        final String problem; // null when usable

        Entry(File folder, Manifest manifest, String problem) {
            this.folder = folder;
            this.manifest = manifest;
            this.problem = problem;
        }

        @Override
        public String toString() {
            if (manifest == null) {
                return folder.getName() + "\n✗ " + problem;
            }
            return folder.getName() + "\n" + manifest.modelName + " · ." + manifest.format + " · " + manifest.recipe
                    + " · " + Math.round(manifest.modelBytes() / 1048576.0) + " MiB · context " + manifest.maxSeqLen;
        }
    }

    private Artifacts() {
    }

    static File root(Context context) {
        return new File(context.getExternalFilesDir(null), "artifacts");
    }

    /** Every subfolder, with its manifest read and sizes checked (sha256 is checked on load: it reads every byte). */
    static List<Entry> list(Context context) {
        File[] folders = root(context).listFiles();
        List<Entry> out = new ArrayList<>();
        if (folders == null) {
            return out;
        }
        Arrays.sort(folders);
        for (File f : folders) {
            if (!f.isDirectory() || f.getName().startsWith(".")) {
                continue; // hidden: a copy still being pushed (edgereason android push renames it when complete)
            }
            try {
                out.add(new Entry(f, Manifest.read(f, false), null));
            } catch (ArtifactException e) {
                out.add(new Entry(f, null, e.getMessage()));
            }
        }
        return out;
    }
}
