import Foundation
import Testing

/// The `client_payload` line of each whatsmeow transcript: what whatsmeow sent as Noise message 3.
struct TranscriptPayload: Sendable, CustomTestStringConvertible {
    /// Transcript file name without extension, e.g. `qr-conn1`.
    var name: String
    /// The serialized ClientPayload.
    var raw: [UInt8]
    /// The same ClientPayload in protobuf text format, as whatsmeow printed it.
    var text: String
    /// Serialized HandshakeMessage carrying the ClientHello (message 1).
    var clientHello: [UInt8]
    /// Serialized HandshakeMessage carrying the ClientFinish (message 3).
    var clientFinish: [UInt8]

    /// `*-conn1` transcripts register a new device; `*-conn2` log in with the paired identity.
    var isRegistration: Bool { name.hasSuffix("conn1") }

    var testDescription: String { name }

    static let names = ["qr-conn1", "qr-conn2", "code-conn1", "code-conn2"]

    static func all() throws -> [TranscriptPayload] {
        try names.map(load)
    }

    static func load(_ name: String) throws -> TranscriptPayload {
        let lines = try Vectors.jsonLines("whatsmeow-transcripts/\(name).jsonl")
        guard let line = lines.first(where: { $0["dir"] as? String == "client_payload" }),
            let raw = line["raw_hex"] as? String, let text = line["text"] as? String,
            let hello = line["client_hello_hex"] as? String, let finish = line["client_finish_hex"] as? String
        else { throw VectorError(message: "no complete client_payload line in \(name)") }
        return TranscriptPayload(
            name: name, raw: try unhex(raw), text: text, clientHello: try unhex(hello), clientFinish: try unhex(finish))
    }
}
