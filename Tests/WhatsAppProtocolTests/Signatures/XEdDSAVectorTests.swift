import Testing
import WhatsAppProtocol

/// `xeddsa.json` was made with libsignal's own curve code (python-axolotl-curve25519).
struct XEdDSAVectorTests {
    struct Case: CustomTestStringConvertible {
        var index: Int
        var privateKey: [UInt8]
        var publicKey: [UInt8]
        var message: [UInt8]
        var random: [UInt8]
        var signature: [UInt8]
        var signBit: UInt8
        var valid: Bool
        var why: String
        var testDescription: String { "#\(index) \(valid ? "valid" : why)" }
    }

    static func cases() throws -> [Case] {
        let root = try #require(try Vectors.json("xeddsa.json") as? [String: Any])
        let vectors = try #require(root["vectors"] as? [[String: Any]])
        return try vectors.enumerated().map { index, entry in
            func bytes(_ key: String) throws -> [UInt8] { try unhex(try #require(entry[key] as? String)) }
            return Case(
                index: index, privateKey: try bytes("private"), publicKey: try bytes("public"),
                message: try bytes("message"), random: try bytes("random64"), signature: try bytes("signature"),
                signBit: UInt8(try #require(entry["sign_bit"] as? Int)), valid: try #require(entry["valid"] as? Bool),
                why: entry["why"] as? String ?? "")
        }
    }

    @Test func vectorFileHasBothVerdictsAndBothSignBits() throws {
        let cases = try Self.cases()
        #expect(cases.contains { $0.valid } && cases.contains { !$0.valid })
        #expect(Set(cases.filter(\.valid).map(\.signBit)) == [0, 1])
    }

    @Test func everyCaseGivesTheExpectedVerdict() throws {
        for item in try Self.cases() {
            #expect(
                XEdDSA.verify(item.signature, of: item.message, publicKey: item.publicKey) == item.valid,
                "\(item.testDescription)")
        }
    }

    @Test func signingWithTheVectorRandomnessReproducesTheSignature() throws {
        for item in try Self.cases() where item.valid {
            let signature = try XEdDSA.sign(item.message, privateKey: item.privateKey, random: item.random)
            #expect(hex(signature) == hex(item.signature), "\(item.testDescription)")
            #expect(signature[63] >> 7 == item.signBit)
            #expect(try KeyPair(privateKey: item.privateKey).publicKey == item.publicKey)
        }
    }
}
