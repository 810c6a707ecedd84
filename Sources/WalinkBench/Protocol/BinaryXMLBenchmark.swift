import WhatsAppProtocol

/// Binary XML throughput: frames encoded and decoded per second, in MB of frame bytes, over a mix of
/// stanzas shaped like real linking traffic (pair-success, a primary_hello notification, a keepalive
/// ping and a prekey upload).
enum BinaryXMLBenchmark {
    /// How long each measurement runs.
    static let targetSeconds = 0.5

    static func run() -> [BenchmarkLine] {
        let stanzas = sampleStanzas()
        let frames = stanzas.compactMap { try? BinaryXML.encodeFrame($0) }
        let bytesPerRound = frames.reduce(0) { $0 + $1.count }
        var sink = 0

        let encode = throughput(bytesPerRound: bytesPerRound) {
            for stanza in stanzas {
                sink &+= (try? BinaryXML.encodeFrame(stanza))?.count ?? 0
            }
        }
        let decode = throughput(bytesPerRound: bytesPerRound) {
            for frame in frames {
                sink &+= (try? BinaryXML.decodeFrame(frame))?.attributes.count ?? 0
            }
        }
        precondition(sink != 0, "benchmark did no work")
        return [
            BenchmarkLine(name: "binary-xml encode", value: encode, unit: "MB/s"),
            BenchmarkLine(name: "binary-xml decode", value: decode, unit: "MB/s"),
        ]
    }

    /// Runs `round` often enough to take about ``targetSeconds`` and returns MB (10^6 bytes) per second.
    private static func throughput(bytesPerRound: Int, _ round: () -> Void) -> Double {
        var rounds = 1
        var elapsed = Stopwatch.time { round() }
        while elapsed < targetSeconds / 20 {
            rounds *= 2
            elapsed = Stopwatch.time { for _ in 0..<rounds { round() } }
        }
        rounds = max(1, Int(Double(rounds) * targetSeconds / elapsed))
        elapsed = Stopwatch.time { for _ in 0..<rounds { round() } }
        return Double(bytesPerRound * rounds) / elapsed / 1e6
    }

    /// Deterministic filler standing in for keys and signatures.
    private static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    static func sampleStanzas() -> [BinaryNode] {
        let server = BinaryNode.AttributeValue.jid(.serverJID)
        let device = JID(user: "15550001111", device: 5, server: JID.Server.whatsApp)
        let lid = JID(user: "99887766", device: 5, server: JID.Server.lid)

        let pairSuccess = BinaryNode(
            "iq", ["from": server, "type": "set", "id": "ps-1", "xmlns": "md", "t": "1795588715"],
            [
                BinaryNode(
                    "pair-success", [:],
                    [
                        BinaryNode("device-identity", [:], .bytes(bytes(152, seed: 1))),
                        BinaryNode("platform", ["name": "android"]),
                        BinaryNode("device", ["jid": .jid(device), "lid": .jid(lid)]),
                        BinaryNode("biz", ["name": ""]),
                    ])
            ])

        let primaryHello = BinaryNode(
            "notification", ["from": server, "type": "link_code_companion_reg", "id": "n-1", "t": "1795588715"],
            [
                BinaryNode(
                    "link_code_companion_reg", ["stage": "primary_hello"],
                    [
                        BinaryNode("link_code_pairing_wrapped_primary_ephemeral_pub", [:], .bytes(bytes(80, seed: 2))),
                        BinaryNode("primary_identity_pub", [:], .bytes(bytes(32, seed: 3))),
                        BinaryNode("link_code_pairing_ref", [:], .bytes(Array("REF-CODE-1".utf8))),
                    ])
            ])

        let ping = BinaryNode("iq", ["id": "250.39-7", "to": server, "type": "get", "xmlns": "w:p"])

        let prekeys: [BinaryNode] = (1...30).map { id in
            BinaryNode(
                "key", [:],
                [
                    BinaryNode("id", [:], .bytes([0, 0, UInt8(id)])),
                    BinaryNode("value", [:], .bytes(bytes(32, seed: UInt8(id)))),
                ])
        }
        let prekeyUpload = BinaryNode(
            "iq", ["id": "250.39-8", "xmlns": "encrypt", "type": "set", "to": server],
            [
                BinaryNode("registration", [:], .bytes([0x12, 0x34, 0x56, 0x78])),
                BinaryNode("type", [:], .bytes([0x05])),
                BinaryNode("identity", [:], .bytes(bytes(32, seed: 4))),
                BinaryNode("list", [:], .nodes(prekeys)),
                BinaryNode(
                    "skey", [:],
                    [
                        BinaryNode("id", [:], .bytes([0, 0, 1])),
                        BinaryNode("value", [:], .bytes(bytes(32, seed: 5))),
                        BinaryNode("signature", [:], .bytes(bytes(64, seed: 6))),
                    ]),
            ])

        return [pairSuccess, primaryHello, ping, prekeyUpload]
    }
}
