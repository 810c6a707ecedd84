import TestRandom
import Testing

@testable import WhatsAppProtocol

/// Hostile and random input: the decoder must fail cleanly (a `BinaryXMLError`, never a crash or hang),
/// whatever it accepts must re-encode stably, and random valid nodes must round-trip.
@Suite struct BinaryXMLFuzzTests {
    /// Node bytes (no flags byte) of every vector: the seeds for mutation.
    static func seeds() throws -> [[UInt8]] {
        let cases = try #require(try OrderedJSON.file("wabinary.json").array)
        var seeds = try cases.map { Array(try unhex(try #require($0["encoded_hex"]?.string)).dropFirst()) }
        seeds += try VectorNodes.transcriptFrames().map { Array($0.raw.dropFirst()) }
        return seeds
    }

    /// What every successfully decoded input must satisfy: it encodes, and encoding is a fixed point
    /// (decode ∘ encode changes nothing more after the first pass).
    static func checkAccepted(_ node: BinaryNode, _ input: [UInt8]) {
        do {
            let once = try BinaryXML.encode(node)
            let again = try BinaryXML.encode(try BinaryXML.decode(once))
            #expect(once == again, "input \(hex(input))")
        } catch {
            Issue.record("accepted input \(hex(input)) does not re-encode: \(error)")
        }
    }

    static func fuzzDecode(_ input: [UInt8]) -> Bool {
        do {
            checkAccepted(try BinaryXML.decode(input), input)
            return true
        } catch {
            return false
        }
    }

    @Test func randomBytesNeverCrash() {
        var random = BinaryFuzzRandom(seed: 0xB1_0001)
        var accepted = 0
        for _ in 0..<30_000 {
            var input = (0..<Int.random(in: 0...48, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Half the time start like a node, so the fuzzing gets past the first byte.
            if !input.isEmpty, Bool.random(using: &random) {
                input[0] = 0xf8
                if input.count > 1 { input[1] = UInt8.random(in: 1...9, using: &random) }
            }
            if Self.fuzzDecode(input) { accepted += 1 }
        }
        #expect(accepted > 0)
    }

    @Test func mutatedVectorsNeverCrash() throws {
        let seeds = try Self.seeds()
        var random = BinaryFuzzRandom(seed: 0xB1_0002)
        var accepted = 0
        for _ in 0..<40_000 {
            var input = seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                Self.mutate(&input, using: &random)
            }
            if Self.fuzzDecode(input) { accepted += 1 }
        }
        #expect(accepted > 100)
    }

    @Test func mutatedCompressedFramesNeverCrash() throws {
        var frames = [try unhex(BinaryXMLFrameTests.compressedPing)]
        for seed in try Self.seeds().prefix(12) {
            frames.append([0x02] + BinaryXMLFrameTests.deflate(seed))
        }
        var random = BinaryFuzzRandom(seed: 0xB1_0003)
        for _ in 0..<3_000 {
            var input = frames.randomElement(using: &random)!
            Self.mutate(&input, using: &random)
            if !input.isEmpty { input[0] |= 0x02 }
            if let node = try? BinaryXML.decodeFrame(input, maxInflatedSize: 1 << 16) {
                Self.checkAccepted(node, input)
            }
        }
    }

    static func mutate(_ bytes: inout [UInt8], using random: inout BinaryFuzzRandom) {
        let interesting: [UInt8] = [
            0x00, 0x01, 0x7f, 0x80, 0xec, 0xef, 0xf0, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc,
            0xfd, 0xfe, 0xff,
        ]
        guard !bytes.isEmpty else {
            bytes.append(UInt8.random(in: 0...255, using: &random))
            return
        }
        let position = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<7, using: &random) {
        case 0:
            bytes[position] ^= 1 << UInt8.random(in: 0...7, using: &random)
        case 1:
            bytes.removeSubrange(position...)
        case 2:
            let inserted = (0..<Int.random(in: 1...4, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            bytes.insert(contentsOf: inserted, at: position)
        case 3:
            bytes.swapAt(position, Int.random(in: 0..<bytes.count, using: &random))
        case 4:
            bytes[position] = interesting.randomElement(using: &random)!
        case 5:
            let end = min(bytes.count, position + Int.random(in: 1...8, using: &random))
            bytes.removeSubrange(position..<end)
        default:
            let end = min(bytes.count, position + Int.random(in: 1...16, using: &random))
            bytes.insert(contentsOf: bytes[position..<end], at: end)
        }
    }

    // MARK: - Random valid nodes

    @Test func randomNodesRoundTrip() throws {
        var random = BinaryFuzzRandom(seed: 0xB1_0004)
        for iteration in 0..<3_000 {
            let packing: BinaryXML.StringPacking = iteration % 2 == 0 ? .packed : .raw
            var generator = NodeGenerator(random: random, packing: packing)
            let node = generator.node(depth: 1)
            random = generator.random
            let encoded = try BinaryXML.encodeFrame(node, packing: packing)
            let decoded = try BinaryXML.decodeFrame(encoded)
            #expect(decoded == node, "\(node)")
            if decoded != node { break }
        }
    }

    /// Nodes in the space the codec preserves exactly: non-empty tags, JIDs whose fields all have a
    /// place in their wire form, and string content only where it is written as a token (or, with
    /// `.packed`, a packed string), since other string content reads back as bytes.
    struct NodeGenerator {
        var random: BinaryFuzzRandom
        let packing: BinaryXML.StringPacking

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
        mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

        mutating func token() -> String {
            if chance(50) { return BinaryXMLTokens.singleByte[int(1...235)] }
            return BinaryXMLTokens.doubleByte[int(0...3)][int(0...255)]
        }

        mutating func digits(_ alphabet: String, maxLength: Int) -> String {
            let characters = Array(alphabet)
            return String((0..<int(0...maxLength)).map { _ in characters[int(0...(characters.count - 1))] })
        }

        mutating func string() -> String {
            switch int(0...5) {
            case 0: return token()
            case 1: return digits("0123456789-.", maxLength: 20)
            case 2: return digits("0123456789ABCDEF", maxLength: 20)
            case 3: return digits("0123456789", maxLength: 200)
            case 4: return digits("abcxyz_:@ -", maxLength: 30)
            default:
                let scalars = (0..<int(0...12)).compactMap { _ in Unicode.Scalar(UInt32(int(0...0x1_FFFF))) }
                return String(String.UnicodeScalarView(scalars))
            }
        }

        mutating func tag() -> String {
            let tag = string()
            return tag.isEmpty ? "t" : tag
        }

        mutating func jid() -> JID {
            let user = string()
            switch int(0...7) {
            case 0: return JID(user: user, server: JID.Server.whatsApp)
            case 1: return JID(user: user, device: UInt16(int(1...255)), server: JID.Server.whatsApp)
            case 2:
                let agent = [2...127, 130...255][int(0...1)]
                return JID(user: user, agent: UInt8(int(agent)), device: UInt16(int(0...255)), server: JID.Server.whatsApp)
            case 3: return JID(user: user, device: UInt16(int(0...255)), server: JID.Server.lid)
            case 4: return JID(user: user, device: UInt16(int(0...255)), server: chance(50) ? "hosted" : "hosted.lid")
            case 5: return JID(user: user, device: UInt16(int(0...0xFFFF)), server: JID.Server.messenger)
            case 6:
                return JID(
                    user: user, device: UInt16(int(0...0xFFFF)), integrator: UInt16(int(0...0xFFFF)),
                    server: JID.Server.interop)
            default:
                let server = tag()
                return JID(user: user, server: server)
            }
        }

        mutating func bytes() -> [UInt8] {
            let count = chance(3) ? int(250...300) : chance(1) ? int(65_000...70_000) : int(0...40)
            return (0..<count).map { _ in UInt8(truncatingIfNeeded: int(0...255)) }
        }

        mutating func contentString() -> String {
            guard packing == .packed, chance(50) else { return token() }
            let packed = chance(50) ? digits("0123456789-.", maxLength: 127) : digits("0123456789ABCDEF", maxLength: 127)
            return packed.isEmpty ? token() : packed
        }

        mutating func node(depth: Int) -> BinaryNode {
            var attributes = BinaryNode.Attributes()
            for _ in 0..<int(0...4) {
                let value: BinaryNode.AttributeValue = chance(30) ? .jid(jid()) : .string(string())
                attributes.append(.init(key: string(), value: value))
            }
            let content: BinaryNode.Content
            switch int(0...5) {
            case 0: content = .none
            case 1 where depth < 5: content = .nodes((0..<int(0...4)).map { _ in node(depth: depth + 1) })
            case 2: content = .bytes(bytes())
            case 3: content = .string(contentString())
            case 4: content = .jid(jid())
            default: content = .none
            }
            return BinaryNode(tag(), attributes, content)
        }
    }
}
