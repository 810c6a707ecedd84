import Crypto
import Testing
import WhatsAppProtocol
import _CryptoExtras

/// The vector's IVs never carry past the low 64 bits, so this checks the other half of §5.4's "the whole
/// 16-byte IV is a 128-bit big-endian counter" against single AES block encryptions.
@Suite struct PairingKeyWrapCounterTests {
    @Test(arguments: [
        [UInt8](repeating: 0xFF, count: 16),  // wraps to all zero
        [UInt8](repeating: 0, count: 8) + [UInt8](repeating: 0xFF, count: 8),  // carries into byte 7
        [UInt8](repeating: 0xFF, count: 12) + [0, 0, 0, 0],  // no carry
    ])
    func counterIsTheWhole128BitIV(iv: [UInt8]) throws {
        let code = try PairingCode(parsing: "ABCD-EFGH")
        let salt = [UInt8](repeating: 7, count: 32)
        let plain = (0..<32).map { UInt8($0) }
        let wrapped = try PairingCodeCrypto.wrapEphemeralKey(plain, code: code, salt: salt, iv: iv)

        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array("ABCDEFGH".utf8), salt: salt, using: .sha256, outputByteCount: 32,
            unsafeUncheckedRounds: 131_072)
        var block0 = iv
        var block1 = increment(iv)
        try AES.permute(&block0, key: key)
        try AES.permute(&block1, key: key)
        let expected = zip(plain, block0 + block1).map { $0 ^ $1 }
        #expect(Array(wrapped[0..<32]) == salt)
        #expect(Array(wrapped[32..<48]) == iv)
        #expect(hex(wrapped[48...]) == hex(expected))
    }

    private func increment(_ counter: [UInt8]) -> [UInt8] {
        var out = counter
        for index in out.indices.reversed() {
            out[index] &+= 1
            if out[index] != 0 { break }
        }
        return out
    }
}
