import Foundation

/// Test vectors from independent implementations live in `../shared/vectors`, next to the checkout.
enum Vectors {
    /// `<package root>/../shared/vectors`, found from this file's path so tests run from any directory.
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath)
        // .../Tests/WhatsAppProtocolTests/Support/Vectors.swift -> package root
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }()

    /// The raw bytes of a vector file, e.g. `data("noise.json")` or `data("whatsmeow-transcripts/qr-conn1.jsonl")`.
    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
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
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Bytes from a hex string; throws on odd length or a non-hex character.
func unhex(_ string: String) throws -> [UInt8] {
    let chars = Array(string.utf8)
    guard chars.count % 2 == 0 else { throw VectorError(message: "odd-length hex") }
    func nibble(_ c: UInt8) throws -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: throw VectorError(message: "bad hex character")
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(chars.count / 2)
    var i = 0
    while i < chars.count {
        out.append(try nibble(chars[i]) << 4 | nibble(chars[i + 1]))
        i += 2
    }
    return out
}
