package org.edgereason.core;

/** An artifact folder that is missing, incomplete or fails its checks; the message names the fix. */
public class ArtifactException extends Exception {
    private static final long serialVersionUID = 1L;

    public ArtifactException(String message) {
        super(message);
    }

    public ArtifactException(String message, Throwable cause) {
        super(message, cause);
    }
}
