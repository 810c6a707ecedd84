import TestRandom
import Testing
import WhatsAppProtocol

@Suite struct PairingQRTests {
    // RFC 4648 standard base64 of 32 zero bytes and of 32 0xFF bytes: known answers, and the second one
    // shows the standard alphabet ('/' rather than URL-safe '_').
    static let zeros = [UInt8](repeating: 0, count: 32)
    static let zerosBase64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    static let ones = [UInt8](repeating: 0xFF, count: 32)
    static let onesBase64 = "//////////////////////////////////////////8="
    /// A ref as the test server in the whatsmeow transcripts sends it.
    static let ref = "2@REF_ONE_for_test"

    static func sample() throws -> PairingQR {
        try PairingQR(
            ref: ref, noisePublicKey: zeros, identityPublicKey: ones, advSecret: (0..<32).map { UInt8($0) })
    }

    @Test func deepLinkHasTheExactLayout() throws {
        let text = try Self.sample().deepLink(platform: .chrome)
        let prefix = "https://wa.me/settings/linked_devices#"
        #expect(text.hasPrefix(prefix))
        let fields = text.dropFirst(prefix.count).split(separator: ",", omittingEmptySubsequences: false)
        #expect(fields.count == 5)
        #expect(fields[0] == Self.ref[...])
        #expect(fields[1] == Self.zerosBase64[...])
        #expect(fields[2] == Self.onesBase64[...])
        #expect(fields[3] == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")  // bytes 0...31
        #expect(fields[4] == "1")
        for field in fields[1...3] {
            #expect(field.count == 44)
            #expect(field.last == "=")
            #expect(field.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+/=".contains($0)) })
        }
    }

    @Test func fourFieldFormHasNoPrefixOrPlatform() throws {
        let text = try Self.sample().fourFieldString
        #expect(text == "\(Self.ref),\(Self.zerosBase64),\(Self.onesBase64),AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    }

    @Test func roundTripsEveryForm() throws {
        let qr = try Self.sample()
        for platform in CompanionPlatform.allCases {
            let parsed = try PairingQR.parse(qr.deepLink(platform: platform))
            #expect(parsed.qr == qr)
            #expect(parsed.platformID == platform.id)
            #expect(parsed.isDeepLink)
        }
        let four = try PairingQR.parse(qr.fourFieldString)
        #expect(four.qr == qr)
        #expect(four.platformID == nil)
        #expect(!four.isDeepLink)
        let bareFive = try PairingQR.parse(qr.fourFieldString + ",9")
        #expect(bareFive.qr == qr)
        #expect(bareFive.platformID == "9")
        #expect(!bareFive.isDeepLink)
    }

    @Test func randomQRsRoundTrip() throws {
        var random = PairingRandom(seed: 0x5152)
        for _ in 0..<300 {
            let qr = try PairingQR(
                ref: "2@" + String(decoding: random.bytes(24).map { 0x41 + $0 % 26 }, as: UTF8.self),
                noisePublicKey: random.bytes(32), identityPublicKey: random.bytes(32), advSecret: random.bytes(32))
            #expect(try PairingQR.parse(qr.deepLink(platform: .firefox)).qr == qr)
            #expect(try PairingQR.parse(qr.fourFieldString).qr == qr)
        }
    }

    @Test func replacingTheAdvSecretChangesOnlyTheFourthField() throws {
        let qr = try Self.sample()
        let rotated = try qr.replacingAdvSecret(Self.ones)
        let before = qr.deepLink(platform: .chrome).split(separator: ",")
        let after = rotated.deepLink(platform: .chrome).split(separator: ",")
        #expect(after[3] == Self.onesBase64[...])
        #expect(before[0] == after[0] && before[1] == after[1] && before[2] == after[2] && before[4] == after[4])
        #expect(throws: PairingQRError(.invalidKeyLength)) { try qr.replacingAdvSecret([1, 2, 3]) }
    }

    @Test func buildRefusesBadParts() {
        #expect(throws: PairingQRError(.invalidRef)) {
            try PairingQR(ref: "", noisePublicKey: Self.zeros, identityPublicKey: Self.zeros, advSecret: Self.zeros)
        }
        #expect(throws: PairingQRError(.invalidRef)) {
            try PairingQR(ref: "2@a,b", noisePublicKey: Self.zeros, identityPublicKey: Self.zeros, advSecret: Self.zeros)
        }
        #expect(throws: PairingQRError(.invalidKeyLength)) {
            try PairingQR(
                ref: Self.ref, noisePublicKey: [0x05] + Self.zeros, identityPublicKey: Self.zeros,
                advSecret: Self.zeros)
        }
    }

    static let z = zerosBase64
    @Test(arguments: [
        ("", PairingQRError.Code.wrongFieldCount),
        ("2@x,\(z),\(z)", .wrongFieldCount),
        ("2@x,\(z),\(z),\(z),1,extra", .wrongFieldCount),
        ("https://wa.me/settings/linked_devices#2@x,\(z),\(z),\(z)", .missingPlatformID),
        ("https://wa.me/settings/linked_devices#2@x,\(z),\(z),\(z),1,https://faq.whatsapp.com/r/ld", .wrongFieldCount),
        ("https://wa.me/other#2@x,\(z),\(z),\(z)", .invalidRef),
        (",\(z),\(z),\(z)", .invalidRef),
        ("2@x y,\(z),\(z),\(z)", .invalidRef),
        ("2@x,\(z),\(z),\(z),", .invalidPlatformID),
        ("2@x,\(z),\(z),\(z),1!", .invalidPlatformID),
        ("2@x,\(z),\(z),\(z),é", .invalidPlatformID),
        ("2@x,,\(z),\(z)", .invalidBase64),
        ("2@x,\(String(z.dropLast())),\(z),\(z)", .invalidBase64),  // padding missing
        ("2@x,\(z),____________________________________________,\(z)", .invalidBase64),  // URL-safe alphabet
        ("2@x,\(z),\(z),AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", .invalidBase64),  // non-canonical tail bits
        ("2@x,\(z),\(z), AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", .invalidBase64),
        ("2@x,\(z),\(z),AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", .invalidKeyLength),  // 31 bytes
        ("2@x,\(z),\(z),AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", .invalidKeyLength),  // 36 bytes
    ])
    func parseRefuses(text: String, expected: PairingQRError.Code) {
        #expect(throws: PairingQRError(expected)) { try PairingQR.parse(text) }
    }

    /// Mutated strings either fail with a PairingQRError or parse to something that renders back to the same
    /// text (the parser accepts only canonical input).
    @Test func mutationsNeverParseToSomethingElse() throws {
        var random = PairingRandom(seed: 0xF022)
        let valid = Array(try Self.sample().deepLink(platform: .safari).utf8)
        let alphabet = Array("AZaz09+/=,#@-_ .".utf8)
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: index)
                default: bytes.insert(alphabet.randomElement(using: &random)!, at: index)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let parsed = try PairingQR.parse(text)
                let rendered =
                    parsed.isDeepLink
                    ? PairingQR.deepLinkPrefix + parsed.qr.fourFieldString + "," + (parsed.platformID ?? "")
                    : parsed.qr.fourFieldString + (parsed.platformID.map { "," + $0 } ?? "")
                #expect(rendered == text)
            } catch {
                // Typed throws: only PairingQRError can get here.
                _ = error.code
            }
        }
    }
}
