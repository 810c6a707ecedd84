import Foundation

/// The test vectors in `Tests/Vectors` (see its README for who produced each file), found from this
/// file's path so tests run from any working directory and need nothing outside the checkout.
public enum VectorFiles {
    /// `<package root>/Tests/Vectors`.
    public static let directory: URL = {
        // .../Tests/TestVectors/VectorFiles.swift -> .../Tests
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return tests.appendingPathComponent("Vectors")
    }()

    /// The raw bytes of a vector file, e.g. `data("noise.json")` or `data("whatsmeow-transcripts/qr-conn1.jsonl")`.
    public static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// The lines of a `.jsonl` file (empty lines dropped).
    public static func lines(_ name: String) throws -> [Substring] {
        String(decoding: try data(name), as: UTF8.self).split(separator: "\n")
    }
}
