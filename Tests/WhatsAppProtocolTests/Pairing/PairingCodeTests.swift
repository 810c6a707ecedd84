import TestRandom
import Testing
import WhatsAppProtocol

@Suite struct PairingCodeTests {
    @Test func vectorCodeAndDisplay() throws {
        let vector = try PairingCodeVector.load()
        let code = try PairingCode(randomBytes: vector.codeBytes)
        #expect(code.characters == vector.code)
        #expect(code.display == vector.display)
        #expect(code.passwordBytes == Array(vector.code.utf8))
    }

    @Test func parsesBothFormsBack() throws {
        let vector = try PairingCodeVector.load()
        let expected = try PairingCode(randomBytes: vector.codeBytes)
        #expect(try PairingCode(parsing: vector.display) == expected)
        #expect(try PairingCode(parsing: vector.code) == expected)
        #expect(try PairingCode(parsing: vector.display.lowercased()) == expected)
    }

    @Test(arguments: [
        ("", PairingCodeError.Code.invalidCodeLength),
        ("BTBE23J", .invalidCodeLength),
        ("BTBE23JFX", .invalidCodeCharacter),  // 9 characters but no dash at index 4
        ("BTBE-23J", .invalidCodeCharacter),  // 8 bytes, one of them a dash
        ("BTB-E23JF", .invalidCodeCharacter),
        ("BTBE--23JF", .invalidCodeLength),
        ("BTBE23J0", .invalidCodeCharacter),
        ("BTBE23JI", .invalidCodeCharacter),
        ("BTBE23JO", .invalidCodeCharacter),
        ("BTBE23JU", .invalidCodeCharacter),
        ("BTBE 23J", .invalidCodeCharacter),
        ("BTBE23JÉ", .invalidCodeCharacter),  // É is two UTF-8 bytes
    ])
    func rejectsMalformedCodes(text: String, expected: PairingCodeError.Code) {
        #expect(throws: PairingCodeError(expected)) { try PairingCode(parsing: text) }
    }

    @Test(arguments: [0, 4, 6])
    func rejectsWrongRandomLength(count: Int) {
        #expect(throws: PairingCodeError(.invalidRandomLength)) {
            try PairingCode(randomBytes: [UInt8](repeating: 1, count: count))
        }
    }

    @Test func extremes() throws {
        #expect(try PairingCode(randomBytes: [0, 0, 0, 0, 0]).display == "1111-1111")
        #expect(try PairingCode(randomBytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).display == "ZZZZ-ZZZZ")
    }

    /// Decoding each character by its alphabet index must give back the 40 input bits, MSB first.
    @Test func randomCodesDecodeToTheirBits() throws {
        var random = PairingRandom(seed: 0xC0DE)
        let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTVWXYZ".utf8)
        for _ in 0..<500 {
            let bytes = random.bytes(5)
            let code = try PairingCode(randomBytes: bytes)
            var bits: UInt64 = 0
            for char in code.characters.utf8 {
                let index = try #require(alphabet.firstIndex(of: char))
                bits = bits << 5 | UInt64(index)
            }
            let expected = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(bits == expected)
            #expect(try PairingCode(parsing: code.display) == code)
        }
    }
}
