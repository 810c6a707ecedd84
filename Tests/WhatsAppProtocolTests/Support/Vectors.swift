import Foundation
import TestVectors
import WhatsAppProtocol

/// Test vectors from independent implementations, in `Tests/Vectors`.
enum Vectors {
    static var directory: URL { VectorFiles.directory }

    /// The raw bytes of a vector file, e.g. `data("noise.json")` or `data("whatsmeow-transcripts/qr-conn1.jsonl")`.
    static func data(_ name: String) throws -> Data {
        try VectorFiles.data(name)
    }

    /// A vector file parsed as JSON (`[String: Any]`, `[Any]`, ...).
    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(name))
    }

    /// Each line of a `.jsonl` file parsed as a JSON object.
    static func jsonLines(_ name: String) throws -> [[String: Any]] {
        let text = String(decoding: try data(name), as: UTF8.self)
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw VectorError(message: "line is not a JSON object in \(name)")
            }
            return object
        }
    }
}

struct VectorError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Lower-case hex, as the vector files write it.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    Hex.encode(Array(bytes))
}

/// Bytes from a hex string; throws on odd length or a non-hex character.
func unhex(_ string: String) throws -> [UInt8] {
    guard let bytes = Hex.decode(string) else { throw VectorError(message: "not hex: \(string.prefix(16))") }
    return bytes
}
